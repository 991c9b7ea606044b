//! File sources: collecting what to back up from the configured folders, and restoring the
//! `files/` part of an archive into a folder (staged, checked, then moved into place).
//!
//! Depends on `archive`, `config`, `fsutil` and the base modules.

pub mod restore;
pub mod sources;
