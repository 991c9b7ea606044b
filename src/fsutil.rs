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
/// commit, it removes the temporary file. The temporary name is unique
/// (`.<file name>.<random>.tmp`, made by `tempfile` with mode 0600), so two writers of the
/// same file never write into or remove each other's temporary file; the last commit wins
/// whole.
pub struct AtomicFile {
    file: Option<tempfile::NamedTempFile>,
    dest: PathBuf,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<Self> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io("create", dest, e))?;
        Ok(AtomicFile { file: Some(file), dest: dest.to_path_buf() })
    }

    pub fn tmp_path(&self) -> &Path {
        self.file.as_ref().map(|f| f.path()).unwrap_or(&self.dest)
    }

    pub fn file(&mut self) -> &mut File {
        // Only `commit` takes the file, and it consumes self.
        self.file.as_mut().unwrap_or_else(|| unreachable!("file is present until commit")).as_file_mut()
    }

    /// fsync, rename to the final name, fsync the folder.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().unwrap_or_else(|| unreachable!("file is present until commit"));
        file.as_file().sync_all().map_err(|e| Error::io("write", file.path(), e))?;
        crate::fault::point("before-rename");
        file.persist(&self.dest).map_err(|e| Error::io("rename into place", &self.dest, e.error))?;
        crate::fault::point("after-rename");
        if let Some(dir) = self.dest.parent() {
            sync_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with one fixed temp name, concurrent writers removed or renamed each
    /// other's temp file ("cannot rename into place") and could publish a mix.
    #[test]
    fn concurrent_writers_never_clobber_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("state.json");
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                let dest = dest.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        write_atomic(&dest, &vec![b'a' + t; 4096]).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = fs::read(&dest).unwrap();
        assert_eq!(got.len(), 4096);
        assert!(got.iter().all(|b| *b == got[0]), "a mix of two writers");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|d| d.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "temp files left: {left:?}");
    }
}
