//! The operations, and the only place that strings the other layers together: backup, verify,
//! restore (files and databases in one read of the archive), test restore, prune, off-site
//! copies and the import of the old backup service's files. Each takes
//! the backup folder's lock and records what it found in the catalog.
//!
//! Depends on everything below it; nothing below imports it.

pub mod backup;
pub mod import;
pub mod offsite;
pub mod prune;
pub mod restore;
pub mod testrestore;
pub mod verify;
