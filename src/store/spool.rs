//! The private local folder where a backup's MongoDB dump waits (raw BSON of HR data, and the
//! tools' config file with the database password) until it is packed into the encrypted
//! archive. It is never inside the backup destination, which is where copies leave the
//! machine: it lives in the user's local cache folder (`HRSM_SPOOL_DIR` overrides), mode 0700,
//! one `spool-<id>` folder per run. A run locks `spool-<id>.lock` beside its folder before it
//! creates the folder and until after it removed it, so a folder whose lock file is missing or
//! not held was left by a crashed run, and the next run's cleaning never takes a live one (the
//! lock inside the folder, as it was, left a moment between the folder and its lock).
//!
//! Depends on `fsutil` and `error`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::create_private_dir_all;

/// The lock file of the spool folder `dir`: beside it, `<dir>.lock`.
fn lock_path(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

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
    owner: Option<File>,
}

impl Spool {
    /// Locks `<root>/spool-<id>.lock`, then creates `<root>/spool-<id>` (0700).
    pub fn create(id: &str) -> Result<Self> {
        Self::create_in(&root(), id)
    }

    fn create_in(root: &Path, id: &str) -> Result<Self> {
        create_private_dir_all(root)?;
        let dir = root.join(format!("spool-{id}"));
        let lock = lock_path(&dir);
        let mut open = OpenOptions::new();
        open.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let owner = open.open(&lock).map_err(|e| Error::io("create", &lock, e))?;
        owner.lock().map_err(|e| Error::io("lock", &lock, e))?;
        create_private_dir_all(&dir)?;
        Ok(Spool { dir, owner: Some(owner) })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // The lock goes last (closing the file releases it), then its file.
        drop(self.owner.take());
        let _ = std::fs::remove_file(lock_path(&self.dir));
    }
}

/// Removes the spools of runs that died: folders whose lock file is missing or held by no
/// process. Returns how many.
pub fn clean_leftovers() -> usize {
    clean_leftovers_in(&root())
}

fn clean_leftovers_in(root: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(root) else { return 0 };
    let mut n = 0;
    for dent in rd.flatten() {
        let name = dent.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("spool-") || name.ends_with(".lock") {
            continue;
        }
        let dir = dent.path();
        let lock = lock_path(&dir);
        // A live run made its lock file before its folder and removes it after: no lock
        // file means a run that crashed (or a version that kept its lock inside).
        let held = match File::open(&lock) {
            Ok(f) => f.try_lock().is_err(),
            Err(_) => false,
        };
        if !held && std::fs::remove_dir_all(&dir).is_ok() {
            let _ = std::fs::remove_file(&lock);
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The race of the old layout: a cleaner running between a new run's folder and its lock
    /// took the live folder. Now a folder exists only while its lock is held.
    #[test]
    fn cleaning_never_takes_a_live_spool_and_takes_a_dead_one() {
        let root = tempfile::tempdir().unwrap();
        let live = Spool::create_in(root.path(), "live").unwrap();
        std::fs::write(live.path().join("x.bson"), b"data").unwrap();
        // A crashed run: a folder with a lock file nobody holds, and one without any.
        std::fs::create_dir_all(root.path().join("spool-dead")).unwrap();
        std::fs::write(root.path().join("spool-dead.lock"), b"").unwrap();
        std::fs::create_dir_all(root.path().join("spool-older")).unwrap();
        assert_eq!(clean_leftovers_in(root.path()), 2);
        assert!(live.path().join("x.bson").exists());
        assert!(!root.path().join("spool-dead").exists() && !root.path().join("spool-dead.lock").exists());
        drop(live);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0, "nothing left behind");
    }
}
