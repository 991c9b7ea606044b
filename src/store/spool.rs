//! The private local folder where a backup's MongoDB dump waits (raw BSON of HR data, and the
//! tools' config file with the database password) until it is packed into the encrypted
//! archive. It is never inside the backup destination, which is where copies leave the
//! machine: it lives in the user's local cache folder (`HRSM_SPOOL_DIR` overrides), mode 0700,
//! one `spool-<id>` folder per run. A run holds the lock of its folder while it lives; a folder
//! whose lock nobody holds was left by a crashed run and is removed by the next backup.
//!
//! Depends on `fsutil` and `error`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::create_private_dir_all;

const LOCK: &str = ".owner";

/// Where spools live: `HRSM_SPOOL_DIR`, else `<local cache>/hrsm-backup/spool`
/// (`~/.cache` on Linux, `%LOCALAPPDATA%` on Windows, `~/Library/Caches` on macOS).
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("HRSM_SPOOL_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("hrsm-backup").join("spool")
}

/// One run's spool folder; removed when dropped, however the run ends.
pub struct Spool {
    dir: PathBuf,
    _owner: File,
}

impl Spool {
    /// Creates `<root>/spool-<id>` (0700) and takes its lock.
    pub fn create(id: &str) -> Result<Self> {
        let root = root();
        create_private_dir_all(&root)?;
        let dir = root.join(format!("spool-{id}"));
        create_private_dir_all(&dir)?;
        let lock_path = dir.join(LOCK);
        let owner = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io("create", &lock_path, e))?;
        owner.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        Ok(Spool { dir, _owner: owner })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the spools of runs that died (no process holds their lock). Returns how many.
pub fn clean_leftovers() -> usize {
    let root = root();
    let Ok(rd) = std::fs::read_dir(&root) else { return 0 };
    let mut n = 0;
    for dent in rd.flatten() {
        let name = dent.file_name();
        if !name.to_string_lossy().starts_with("spool-") {
            continue;
        }
        let dir = dent.path();
        let free = match File::open(dir.join(LOCK)) {
            Ok(f) => f.try_lock().is_ok(), // held until dropped at the end of this block
            Err(_) => true,                // never got as far as its lock
        };
        if free && std::fs::remove_dir_all(&dir).is_ok() {
            n += 1;
        }
    }
    n
}
