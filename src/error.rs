//! The engine's error type. Every variant says what went wrong with which path or item and,
//! where there is one, what the admin can do about it. Secrets never enter an error.
//!
//! Depends on nothing else in the crate except the container's error.

use std::io;
use std::path::{Path, PathBuf};

use crate::archive::container::ContainerError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} {}: {}", path.display(), describe_io(source))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{}: {source}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: ContainerError,
    },

    #[error("{}: the archive's contents are invalid: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    #[error("configuration: {0}")]
    Config(String),

    #[error("encryption key: {0}")]
    Key(String),

    #[error("source '{source_name}': {message}")]
    Source { source_name: String, message: String },

    #[error("{path} changed while it was being backed up ({what}); run the backup again")]
    ChangedDuringBackup { path: String, what: &'static str },

    #[error("refusing archive entry {path:?}: {reason}; nothing was written to the restore target")]
    UnsafeEntry { path: String, reason: &'static str },

    #[error("{count} item(s) already exist in {}, e.g. {examples}; {}", target.display(), if *replaceable {
        "restore into an empty folder, or choose to replace existing files"
    } else {
        "some are folders or links where the backup has something else, which a restore never replaces; move them away or restore into an empty folder"
    })]
    RestoreConflict {
        target: PathBuf,
        count: usize,
        examples: String,
        /// True when replacing existing files (overwrite) would resolve every conflict.
        replaceable: bool,
    },

    #[error("{} has {free_mib} MiB free but the restore needs {need_mib} MiB; free space or choose another folder", path.display())]
    NoSpace { path: PathBuf, free_mib: u64, need_mib: u64 },

    #[error("there is no good backup in {}; make one first", dir.display())]
    NoGoodBackup { dir: PathBuf },

    #[error("{0}")]
    Usage(String),

    #[error("{0}")]
    Mongo(String),

    #[error("cancelled; nothing of this run was kept")]
    Cancelled,

    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },

    #[error("{} is busy: {holder} is running; wait for it to finish (a crashed run releases the lock by itself)", dir.display())]
    Busy { dir: PathBuf, holder: String },

    #[error("off-site copy {destination}: {message}")]
    Offsite { destination: String, message: String },

    /// A destination that is not there now (a folder on a disk not plugged in): the copy
    /// waits for it; not a failure.
    #[error("off-site copy {destination} waits: {reason}")]
    OffsiteWaiting { destination: String, reason: String },

    #[error("backups are disabled (BACKUPS_ENABLED={0}); unset it or set it to true to back up")]
    Disabled(String),
}

impl Error {
    /// True when the error is a finding about the archive itself (damaged, tampered with,
    /// truncated, holding what no restore may create), not about the key, the reader's
    /// machine or the way it was asked: only such findings are recorded in the catalog.
    pub fn is_integrity(&self) -> bool {
        match self {
            Error::Archive { source, .. } => !matches!(
                source,
                ContainerError::WrongKey { .. } | ContainerError::Unsupported { .. } | ContainerError::Io(_)
            ),
            Error::Corrupt { .. } | Error::UnsafeEntry { .. } => true,
            _ => false,
        }
    }

    /// Wraps an io error with the action and the path it concerned.
    pub fn io(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io { action, path: path.as_ref().to_path_buf(), source }
    }
}

/// "permission denied" rather than "Permission denied (os error 13)", and a hint for the cases
/// an admin meets most.
pub fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let base = match e.kind() {
        K::StorageFull => return "no space left on the device; free space or choose another destination".into(),
        K::QuotaExceeded => return "disk quota exceeded; free space or choose another destination".into(),
        K::PermissionDenied => return "permission denied".into(),
        K::NotFound => return "no such file or directory".into(),
        K::ReadOnlyFilesystem => return "read-only file system".into(),
        _ => e.to_string(),
    };
    match base.find(" (os error") {
        Some(i) => base[..i].to_lowercase(),
        None => base,
    }
}
