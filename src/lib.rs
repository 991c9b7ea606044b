//! HR-SM Backup engine: encrypted, compressed, verified restore points of an on-prem HR-SM
//! installation, as a library. The CLI (`src/main.rs`) and the desktop shell (`src-tauri/`) are
//! thin front ends over it; the engine knows nothing of either.
//!
//! ```
//! use hrsm_backup::{run_backup, verify_archive, BackupOptions, Catalog, MasterKey, NoProgress,
//!                   PayloadOptions, SourceConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tmp = std::env::temp_dir().join(format!("hrsm-doc-{}", std::process::id()));
//! std::fs::create_dir_all(tmp.join("uploads"))?;
//! std::fs::write(tmp.join("uploads/contract.pdf"), b"%PDF-1.7 ...")?;
//! let key = MasterKey::generate(&mut rand::rngs::OsRng);
//! let opts = BackupOptions {
//!     destination: tmp.join("backups"),
//!     sources: vec![SourceConfig::folder("uploads", tmp.join("uploads"))],
//!     mongo: None,
//!     payload: PayloadOptions::default(),
//!     verify: true,
//!     retention: None,
//!     trigger: Default::default(),
//! };
//! let done = run_backup(&opts, &key, &NoProgress, Box::new(rand::rngs::OsRng))?;
//! assert!(done.entry.verified);
//! assert_eq!(Catalog::existing(&opts.destination)?.list()?.entries.len(), 1);
//! verify_archive(&done.archive, &key, &NoProgress)?;
//! # std::fs::remove_dir_all(&tmp)?;
//! # Ok(()) }
//! ```
//!
//! Layers (bottom up; each uses only itself and those beneath, checked by scripts/check-layers,
//! drawn in docs/ARCHITECTURE.md): base (`progress`, `digest`, `meta`, `fault`, `uri`) ->
//! archive format (`error`, `archive/`) -> platform (`config`, `fsutil`, `site/`, `mongo::{client,
//! layout, tools}`) -> stores (`store/`) -> sources and policy (`files/`, `mongo/`, `policy/`)
//! -> operations (`ops/`, `demo`). `legacy/` (the old backup service's files, read) sits with the
//! sources.

mod archive;
mod config;
mod demo;
mod digest;
mod error;
mod fault;
#[doc(hidden)]
pub use fault::ENABLED as FAULT_INJECTION;
mod files;
mod fsutil;
mod legacy;
mod meta;
pub mod mongo;
mod offsite;
mod ops;
mod policy;
mod progress;
mod remote;
mod site;
mod store;
mod uri;

pub use archive::container::{open_all, ContainerError, ContainerReader, ContainerWriter, HeaderInfo};
pub use archive::crypto::{KeyId, MasterKey};
pub use archive::manifest::{Entry, EntryType, Manifest, Origin, SourceSummary};
pub use archive::payload::{PayloadOptions, SecureRng};
pub use archive::unpack::{archive_opens, read_manifest};
pub use config::{parse_enabled, Config, EnvOverrides, OnUnreadable, SourceConfig};
pub use demo::{point_sample_installation_at, seed_sample_databases, seed_sample_installation};
pub use error::{Error, Result};
pub use files::restore::{FileRestoreOptions, RestorePlan, RestoreReport, SourceDestination};
pub use fsutil::{write_atomic, AtomicFile};
pub use legacy::{scan as legacy_scan, Format as LegacyFormat, KeyRing, LegacyBackup, LegacyScan};
pub use offsite::{CheckMode, OffsiteConfig, OffsiteKind};
pub use ops::backup::{run_backup, run_backup_if_due, schedule_decision, BackupOptions, BackupOutcome, IfDue};
pub use ops::import::{import_legacy, ImportOptions, ImportOutcome, ImportResult};
pub use ops::offsite::{
    check_remote, copy_all, copy_to, fetch as fetch_from_offsite, forget as forget_offsite, open_destination,
    pending_copies, remote_entries, rename as rename_offsite, CopyReport,
};
pub use ops::prune::{prune, prune_destination};
pub use ops::restore::{
    plan_restore, restore, restore_files, restore_mongo, split_by_server, RestoreOutcome, RestorePreview,
    RestoreRequest,
};
pub use ops::testrestore::{test_restore, TestRestoreReport, SCRATCH_SUFFIX};
pub use ops::verify::{verify_archive, VerifyReport};
pub use policy::retention::{plan as retention_plan, Decision, RetentionPolicy, IMPORTED_REASON};
pub use policy::schedule::{
    decide as decide_schedule, decide_from_history, due, overdue, record_attempt, PastRun, RunState, Schedule,
    SlotDecision, MAX_TRIES_PER_SLOT, OVERDUE_AFTER_HOURS,
};
pub use progress::{Event, NoProgress, Progress};
pub use remote::credentials::keychain_user as offsite_keychain_user;
pub use remote::state::{load as load_copy_state, CopyRecord, CopyState, CopyStatus};
pub use remote::{Credentials, Fetched, Remote, RemoteObject, Uploaded};
pub use site::apply::apply_discovery;
pub use site::discover::{discover, mask_uri, DiscoveredDatabase, Discovery, Found, Setting, SettingId};
pub use site::envfile::read_env_file;
pub use site::jsconfig::{read_ecosystem, PmApp, PmConfig};
pub use store::catalog::{Catalog, CatalogEntry, Listing, Status};
#[cfg(feature = "keychain")]
pub use store::keychain::{assert_private_test_session, Keychain, TEST_SERVICE};
pub use store::keys::{
    key_file_from, load_or_create, parse_key_text, recovery_text, resolve_key, KeyFile, KeyStore, SecretText, ENV_KEY,
};
pub use store::lock::DestinationLock;
pub use store::runlog::{Component, MongoLog, RunRecord, Trigger, LOCAL_LOG};
pub use store::spool::clean_leftovers as clean_spool_leftovers;
