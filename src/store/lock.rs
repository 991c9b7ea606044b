//! One operation at a time per backup folder, across processes: backup, prune, verify and
//! restore (the desktop app, its scheduler and the CLI alike) take an exclusive lock on
//! `<destination>/.lock` through the standard library's file locks (`flock` on Unix,
//! `LockFileEx` on Windows). The system releases it when the holder exits or crashes, so a dead
//! run never blocks the next one and there is no stale-lock guessing. Who holds it is written
//! to `.lock.holder` beside it (a locked file cannot be read on Windows).
//!
//! Depends on `meta`, `fsutil` and `error`.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const LOCK_NAME: &str = ".lock";
const HOLDER_NAME: &str = ".lock.holder";

/// Held while it lives; dropping it (or the process dying) releases the lock.
pub struct DestinationLock {
    _file: File,
    path: PathBuf,
}

impl DestinationLock {
    /// Takes the lock of `dir` for `what` ("a backup", "a prune"...) or says who holds it.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self> {
        let path = dir.join(LOCK_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        // A lock just released can still look held for a moment: a process of ours that forks
        // (to start a tool) shares the open lock file with its child until the child's exec
        // closes it. A short, bounded retry tells that apart from a run that really holds it.
        let mut tries = 0;
        let locked = loop {
            match file.try_lock() {
                Err(std::fs::TryLockError::WouldBlock) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other,
            }
        };
        match locked {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(dir.join(HOLDER_NAME)).unwrap_or_default();
                let holder = holder.trim();
                return Err(Error::Busy {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() { "another process".into() } else { holder.to_string() },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        let note = format!(
            "{what} by pid {} on {} since {}",
            std::process::id(),
            crate::meta::host_name(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        // Only informative: a holder note that cannot be written does not stop the operation.
        let _ = crate::fsutil::write_atomic(&dir.join(HOLDER_NAME), note.as_bytes());
        Ok(DestinationLock { _file: file, path })
    }

    /// The lock of the folder that holds `archive`. An archive on read-only media (where no
    /// lock file can be made, and nothing can prune it either) is read without one.
    pub fn for_archive(archive: &Path, what: &str) -> Result<Option<Self>> {
        let dir = archive.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match Self::acquire(dir, what) {
            Ok(l) => Ok(Some(l)),
            Err(Error::Io { source, .. })
                if matches!(source.kind(), ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_told_who_runs() {
        let dir = tempfile::tempdir().unwrap();
        let first = DestinationLock::acquire(dir.path(), "a backup").unwrap();
        let err = DestinationLock::acquire(dir.path(), "a prune").err().unwrap().to_string();
        assert!(err.contains("a backup by pid") && err.contains("is busy"), "{err}");
        drop(first);
        DestinationLock::acquire(dir.path(), "a prune").unwrap();
    }
}
