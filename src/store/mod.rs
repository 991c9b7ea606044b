//! What the engine keeps between runs: the catalog of restore points, the folder lock, the run
//! log (local file and HR-SM's `backuplogs`), the key stores (key file, OS keychain) and the
//! private dump spool.
//!
//! Depends on `archive`, `config`, `fsutil`, `mongo::client` (the run log's document) and the
//! base modules.

pub mod backuplog;
pub mod catalog;
pub mod growing;
#[cfg(feature = "keychain")]
pub mod keychain;
pub mod keys;
pub mod lock;
pub mod runlog;
pub mod spool;
