//! `import-legacy`: one backup of HR-SM's old backup service becomes one of our archives in
//! the destination, which then lists (at its original date), verifies and restores like any
//! other. The old file is decrypted, checked and converted in a private spool (`legacy`)
//! before anything is written to the destination; the archive is then written, recorded and
//! verified through the same path as a backup (`backup::pack_archive`, `backup::finish`),
//! under the destination's lock. An old file imported once is found again by its SHA-256
//! (the manifest's and catalog's `origin`): a second import makes no second copy.
//!
//! Depends on `legacy`, `files::sources`, `store` (catalog, lock, spool) and `ops::backup`.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::crypto::MasterKey;
use crate::archive::manifest::{Manifest, Origin};
use crate::archive::payload::{PayloadOptions, SecureRng};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::files::sources::{collect, Item};
use crate::legacy::{KeyRing, LegacyBackup};
use crate::mongo::MongoPart;
use crate::progress::{Event, Progress};
use crate::store::catalog::{new_id, Catalog, CatalogEntry, Status};
use crate::store::lock::DestinationLock;

/// `Origin::kind` of an import from the old backup service.
pub const LEGACY: &str = "legacy";

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Our backup folder (the configured destination).
    pub destination: PathBuf,
    pub payload: PayloadOptions,
    /// Read the written archive back (as `verify_after_backup` does for backups).
    pub verify: bool,
    /// Decrypt, check and convert, but write nothing to the destination.
    pub dry_run: bool,
}

/// What became of one old backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ImportResult {
    Imported {
        id: String,
    },
    AlreadyImported {
        id: String,
    },
    /// `--dry-run`: it opened, checked and converted; nothing was written.
    WouldImport,
    Failed {
        error: String,
        /// No key at hand opens it: the front end says how to give one.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        needs_key: bool,
    },
}

/// The report on one old backup.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    /// The old file, relative to its `backups/` folder.
    pub file: String,
    pub old_id: String,
    /// `daily`, `weekly`, `monthly`; the Backups page's folder for its files.
    #[serde(rename = "type")]
    pub kind: String,
    /// Which old system wrote it (`service`, or the Backups page's `page_archive`,
    /// `page_json`, `page_files`).
    pub format: crate::legacy::Format,
    /// When the old service made it.
    pub made: DateTime<Utc>,
    /// Where the key that opened it was found (never the key).
    pub key_origin: Option<String>,
    /// How that key was used (the old service's cipher variant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<&'static str>,
    /// What it held: "database hrms: 12 collections, 3400 documents", "uploads: 120 files".
    pub held: Vec<String>,
    pub losses: Vec<String>,
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub result: ImportResult,
    /// The archive written (or found), when there is one.
    pub archive: Option<PathBuf>,
}

impl ImportOutcome {
    pub fn failed(&self) -> bool {
        matches!(self.result, ImportResult::Failed { .. })
    }
}

/// The good entry that holds an import of the old file with SHA-256 `sha`, if there is one.
fn already_imported(catalog: &Catalog, sha: &str) -> Result<Option<CatalogEntry>> {
    Ok(catalog
        .list()?
        .entries
        .into_iter()
        .find(|e| e.is_imported() && e.origin.as_ref().map(|o| o.sha256 == sha).unwrap_or(false)))
}

/// Imports one old backup. Never fails as a whole: a failure is the outcome's result, so the
/// caller goes on with the next one. `key` (our master key) may be None for a dry run only.
pub fn import_legacy(
    backup: &LegacyBackup,
    keys: &KeyRing,
    opts: &ImportOptions,
    key: Option<&MasterKey>,
    progress: &dyn Progress,
    rng: Box<dyn SecureRng>,
) -> ImportOutcome {
    let mut out = ImportOutcome {
        file: backup.name.clone(),
        old_id: backup.id.clone(),
        kind: backup.kind.clone(),
        format: backup.format,
        made: backup.made,
        key_origin: None,
        cipher: None,
        held: Vec::new(),
        losses: Vec::new(),
        warnings: Vec::new(),
        result: ImportResult::WouldImport,
        archive: None,
    };
    if let Err(e) = run(backup, keys, opts, key, progress, rng, &mut out) {
        out.result = ImportResult::Failed {
            needs_key: matches!(&e, Error::Key(m) if m.starts_with(crate::legacy::convert::NO_KEY_OPENS)),
            error: e.to_string(),
        };
        out.archive = None;
    }
    out
}

fn run(
    backup: &LegacyBackup,
    keys: &KeyRing,
    opts: &ImportOptions,
    key: Option<&MasterKey>,
    progress: &dyn Progress,
    mut rng: Box<dyn SecureRng>,
    out: &mut ImportOutcome,
) -> Result<()> {
    progress.event(Event::Phase("reading"));
    let sha = backup.fingerprint()?;
    if opts.destination.is_dir() {
        if let Some(e) = already_imported(&Catalog::existing(&opts.destination)?, &sha)? {
            report_existing(&e, opts, out);
            return Ok(());
        }
    }
    let key = match (key, opts.dry_run) {
        (Some(k), _) => Some(k),
        (None, true) => None,
        (None, false) => return Err(Error::Usage("importing needs our master key to encrypt the new archive".into())),
    };
    // Everything is decrypted, checked and converted here, in a private folder outside the
    // destination; it goes away with this guard however the import ends.
    crate::store::spool::clean_leftovers();
    let spool = crate::store::spool::Spool::create(&format!("import-{:08x}", rng.next_u32()))?;
    let converted = crate::legacy::convert(backup, keys, spool.path(), progress)?;
    out.key_origin = Some(converted.key_origin.clone());
    out.cipher = converted.variant.map(|v| v.describe());
    out.losses = converted.losses.clone();
    progress.event(Event::Phase("scanning"));
    let mut warnings = converted.warnings.clone();
    let mut summaries = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    for s in &converted.sources {
        if let Some(mut c) = collect(&SourceConfig::folder(&s.name, &s.dir), &mut warnings, progress)? {
            c.summary.path = s.shown.clone();
            summaries.push(c.summary);
            items.extend(c.items);
        }
    }
    out.warnings = warnings.clone();
    out.held = held(converted.mongo.as_ref(), &summaries);
    let Some(key) = key.filter(|_| !opts.dry_run) else {
        out.result = ImportResult::WouldImport;
        return Ok(());
    };

    let catalog = Catalog::open(&opts.destination)?;
    let _lock = DestinationLock::acquire(&opts.destination, "an import of an old backup")?;
    catalog.clean_leftovers()?;
    crate::ops::prune::finish_interrupted(&catalog)?;
    catalog.recover_interrupted()?;
    // Again under the lock: another import of the same file may have finished meanwhile.
    if let Some(e) = already_imported(&catalog, &sha)? {
        report_existing(&e, opts, out);
        return Ok(());
    }
    let mut id = new_id(backup.made, (rng.next_u32() & 0xffff) as u16);
    while catalog.get(&id)?.is_some() || catalog.archive_path(&id).exists() {
        id = new_id(backup.made, (rng.next_u32() & 0xffff) as u16);
    }
    let origin = Origin {
        kind: LEGACY.into(),
        file: backup.name.clone(),
        sha256: sha,
        made: backup.made,
        backup_type: Some(backup.kind.clone()),
        key_origin: converted.key_origin.clone(),
        losses: converted.losses.clone(),
    };
    let manifest = Manifest {
        sources: summaries,
        entries: items.iter().map(|i| i.entry.clone()).collect(),
        mongo: converted.mongo.as_ref().map(|m| serde_json::to_value(m).unwrap_or_default()),
        warnings,
        origin: Some(origin.clone()),
        ..Manifest::new(id.clone(), key.id().to_string(), backup.made)
    };
    let clock = Instant::now();
    let mut entry = CatalogEntry {
        key_id: Some(key.id().to_string()),
        sources: manifest.sources.iter().map(|s| s.name.clone()).collect(),
        databases: converted
            .mongo
            .as_ref()
            .map(|m| m.databases.iter().map(|d| d.name.clone()).collect())
            .unwrap_or_default(),
        origin: Some(origin),
        ..CatalogEntry::new(id.clone(), Status::Running, backup.made)
    };
    // Recorded as running first, like a backup: a crash before the end is found by the next
    // run holding the lock, which removes what it left.
    catalog.put(&entry)?;
    let spooled = converted.mongo.as_ref().map(|m| (m, converted.mongo_dir.as_path()));
    let written =
        crate::ops::backup::pack_archive(&catalog, &id, key, &opts.payload, rng, &manifest, spooled, &items, progress)
            .map(|(path, sha256)| (path, manifest, sha256));
    let (archive, _) = crate::ops::backup::finish(written, &mut entry, opts.verify, key, progress, &catalog, clock)?;
    out.archive = Some(archive);
    out.result = ImportResult::Imported { id };
    Ok(())
}

fn report_existing(e: &CatalogEntry, opts: &ImportOptions, out: &mut ImportOutcome) {
    if let Some(o) = &e.origin {
        out.key_origin = Some(o.key_origin.clone());
        out.losses = o.losses.clone();
    }
    out.held = e
        .databases
        .iter()
        .map(|d| format!("database {d}"))
        .chain(e.sources.iter().map(|s| format!("files {s}")))
        .collect();
    out.archive = e.archive.as_ref().map(|a| opts.destination.join(a));
    out.result = ImportResult::AlreadyImported { id: e.id.clone() };
}

/// One line per database and file source.
fn held(mongo: Option<&MongoPart>, sources: &[crate::archive::manifest::SourceSummary]) -> Vec<String> {
    let mut out = Vec::new();
    for db in mongo.map(|m| m.databases.as_slice()).unwrap_or_default() {
        let docs: u64 = db.collections.iter().map(|c| c.documents).sum();
        out.push(format!("database {}: {} collections, {docs} documents", db.name, db.collections.len()));
    }
    for s in sources {
        out.push(format!("files {}: {} files, {} bytes", s.name, s.files, s.bytes));
    }
    out
}
