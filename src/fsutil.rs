//! File-system helpers with the safety rules of the design: private modes (files 0600,
//! folders 0700) and atomic writes (temp name in the same folder, fsync, rename, fsync of the
//! folder), so a crash never leaves a half-written file under a final name.
//!
//! Depends on `error` only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Creates `dir` and missing parents; folders created here get mode 0700.
pub fn create_private_dir_all(dir: &Path) -> Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io("create folder", dir, e))
}

/// Opens a new file that must not exist yet, mode 0600.
pub fn create_private_file(path: &Path) -> Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| Error::io("create", path, e))
}

/// Flushes a folder's entries (a rename is durable only after this).
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("sync folder", dir, e))
}

/// A file written under a temporary name and renamed into place by `commit`. Dropped without
/// commit, it removes the temporary file.
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl AtomicFile {
    /// `dest`'s temp name is `.<file name>.tmp` in the same folder.
    pub fn create(dest: &Path) -> Result<Self> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dest.with_file_name(format!(".{name}.tmp"));
        // A leftover from a crash is ours to replace: nothing lists a temp name as a backup.
        let _ = fs::remove_file(&tmp);
        let file = create_private_file(&tmp)?;
        Ok(AtomicFile { file: Some(file), tmp, dest: dest.to_path_buf() })
    }

    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    pub fn file(&mut self) -> &mut File {
        // Only `commit` takes the file, and it consumes self.
        self.file.as_mut().unwrap_or_else(|| unreachable!("file is present until commit"))
    }

    /// fsync, rename to the final name, fsync the folder.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().unwrap_or_else(|| unreachable!("file is present until commit"));
        file.sync_all().map_err(|e| Error::io("write", &self.tmp, e))?;
        drop(file);
        crate::fault::point("before-rename");
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io("rename into place", &self.dest, e))?;
        crate::fault::point("after-rename");
        if let Some(dir) = self.dest.parent() {
            sync_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?;
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

/// Writes `bytes` to `dest` atomically, mode 0600.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes).map_err(|e| Error::io("write", dest, e))?;
    f.commit()
}
