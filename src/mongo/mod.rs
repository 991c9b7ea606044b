//! MongoDB: export into and restore from the `mongo/` part of an archive, in the layout
//! `mongodump --out` writes, through the Database Tools when present or natively through the
//! official driver. See ../shared/reference/mongodump-format.md.
//!
//! Depends on the crate's lower layers (error, progress, fsutil) only; the job wires it in.

pub mod client;
pub mod dump;
pub mod foreign;
pub mod layout;
pub mod restore;
pub mod tools;

pub use dump::{
    dump, scan_bson, scan_bson_reader, CollectionPart, DatabasePart, FilePart, MongoPart, MongoSource, ScanError,
};
pub use foreign::{restore_dump_archive, restore_dump_dir};
pub use restore::{plan_mongo_restore, MongoRestoreOptions, MongoRestoreReport, PlannedCollection, RestoredCollection};
// The test restore is an operation (`ops::testrestore`); kept here for its callers.
pub use crate::ops::restore::restore_mongo;
pub use crate::ops::testrestore::{test_restore, TestRestoreReport, SCRATCH_SUFFIX};

/// Tar prefix of the MongoDB part.
pub const MONGO_PREFIX: &str = "mongo/";
