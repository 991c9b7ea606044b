//! MongoDB: export into and restore from the `mongo/` part of an archive, in the layout
//! `mongodump --out` writes, through the Database Tools when present or natively through the
//! official driver. The layout follows the Database Tools' source (`layout`).
//!
//! Depends on `archive`, `store` (the run log) and the layers below; the operations (`ops`)
//! drive it. `client`, `layout` and `tools` sit lower, beside `config` (scripts/check-layers).

pub mod client;
pub mod dump;
pub mod foreign;
mod journal;
pub mod jsonexport;
pub mod layout;
pub mod restore;
pub mod tools;

pub use dump::{
    dump, scan_bson, scan_bson_reader, CollectionPart, DatabasePart, FilePart, MongoPart, MongoSource, ScanError,
};
pub use foreign::{archive_to_dump_dir, restore_dump_archive, restore_dump_dir, ConvertedArchive, DumpArchive};
pub use jsonexport::{json_export_to_dump_dir, json_export_to_dump_dir_flat, JsonExport};
pub use layout::TtlIndex;
pub use restore::{
    plan_mongo_restore, resume_ttl, MongoRestoreOptions, MongoRestoreReport, PlannedCollection, RestoredCollection,
    TTL_PAUSED,
};

/// Tar prefix of the MongoDB part.
pub const MONGO_PREFIX: &str = "mongo/";
