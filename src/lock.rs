//! One backup (or prune, or restore from the folder) at a time per destination, across
//! processes: the desktop app, its scheduler and the CLI all take an `flock` on
//! `<destination>/.lock`. The kernel releases it when the holder exits or crashes, so a dead
//! run never blocks the next one, and there is no stale-lock guessing.
//!
//! Depends on `fsutil` and `error`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const LOCK_NAME: &str = ".lock";

/// Held while it lives; dropping it (or the process dying) releases the lock.
pub struct DestinationLock {
    _file: File,
    path: PathBuf,
}

impl DestinationLock {
    /// Takes the lock of `dir` for `what` ("backup", "prune"...) or says who holds it.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self> {
        let path = dir.join(LOCK_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        // SAFETY: a valid open descriptor; flock has no memory effects.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::Busy {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() { "another process".into() } else { holder.to_string() },
                });
            }
            return Err(Error::io("lock", &path, err));
        }
        let note = format!(
            "{what} by pid {} on {} since {}",
            std::process::id(),
            crate::job::host_name(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        let written =
            file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(note.as_bytes()));
        written.map_err(|e| Error::io("write lock file", &path, e))?;
        Ok(DestinationLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
