//! One backup run, start to finish: scan the sources, write the archive (manifest first)
//! under a temp name, commit it, record it in the catalog, verify it. A failed run removes its
//! temp file and leaves a catalog entry that says why.
//!
//! Depends on everything below it: sources, pack, payload, catalog, verify.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;

use crate::archive::crypto::MasterKey;
use crate::archive::manifest::{EntryType, Manifest, MANIFEST_PATH};
use crate::archive::pack::Packer;
use crate::archive::payload::{PayloadOptions, PayloadWriter, SecureRng};
use crate::config::SourceConfig;
use crate::digest::HashingWriter;
use crate::error::{Error, Result};
use crate::files::sources::{collect, Item};
use crate::fsutil::AtomicFile;
use crate::mongo::{MongoPart, MongoSource, MONGO_PREFIX};
use crate::ops::verify::check_archive;
use crate::policy::retention::RetentionPolicy;
use crate::progress::{Event, Progress};
use crate::store::catalog::{new_id, Catalog, CatalogEntry, Status};
use crate::store::lock::DestinationLock;
use crate::store::runlog::{self, Component, MongoLog, RunRecord, Trigger};

#[derive(Debug, Clone)]
pub struct BackupOptions {
    pub destination: PathBuf,
    pub sources: Vec<SourceConfig>,
    /// The MongoDB part; None backs up files only.
    pub mongo: Option<MongoSource>,
    pub payload: PayloadOptions,
    pub verify: bool,
    /// Applied after each good backup; None keeps everything.
    pub retention: Option<RetentionPolicy>,
    /// The schedule or the admin (HR-SM's log tells them apart).
    pub trigger: Trigger,
}

#[derive(Debug, Clone)]
pub struct BackupOutcome {
    pub entry: CatalogEntry,
    pub archive: PathBuf,
    pub manifest: Manifest,
    /// Backups that retention removed after this one.
    pub removed: Vec<String>,
}

impl BackupOptions {
    /// What a config asks for; `mongo_uri` replaces the config's URI (one that carries a
    /// password, from the keychain or the environment).
    pub fn from_config(cfg: &crate::config::Config, mongo_uri: Option<String>) -> Self {
        Self::from_config_with(cfg, mongo_uri, None)
    }

    /// As `from_config`, with the license server's URI (with its password) as well.
    pub fn from_config_with(
        cfg: &crate::config::Config,
        mongo_uri: Option<String>,
        license_uri: Option<String>,
    ) -> Self {
        BackupOptions {
            destination: cfg.destination.clone(),
            sources: cfg.file_sources(),
            mongo: cfg.mongodb.enabled.then(|| {
                mongo_source(
                    &cfg.mongodb,
                    mongo_uri.unwrap_or_else(|| cfg.mongodb.uri.clone()),
                    license_uri.or_else(|| cfg.mongodb.license_uri.clone()),
                    cfg.threads,
                )
            }),
            payload: PayloadOptions { level: cfg.compression_level, threads: cfg.threads, ..Default::default() },
            verify: cfg.verify_after_backup,
            retention: Some(RetentionPolicy::from(&cfg.retention)),
            trigger: Trigger::Manual,
        }
    }
}

/// The license database of the old defaults, backed up when it exists on the main server.
pub const DEFAULT_LICENSE_DB: &str = "hrsm-licenses";

/// What to dump, as HR-SM sites really are: an explicit `databases` list wins; otherwise the
/// main database named in the URI, the license database (named in the license server's URI,
/// dumped from that server when it is another one; else `hrsm-licenses` if it exists) and the
/// per-company databases found by the tenant pattern.
fn mongo_source(
    m: &crate::config::MongoConfig,
    uri: String,
    license_uri: Option<String>,
    threads: usize,
) -> MongoSource {
    use crate::uri::{database_of_uri, server_of_uri};
    let main_db = m.main_database(&uri);
    let log_collection = m.log_namespace(&uri);
    let tools_dir = m.tools_path.clone();
    let mut src = MongoSource {
        threads,
        log_collection,
        tools_dir: tools_dir.clone(),
        ..MongoSource::new(uri.clone(), vec![main_db])
    };
    if !m.databases.is_empty() {
        src.databases = m.databases.clone();
        return src;
    }
    src.tenant_pattern = Some(m.tenant_databases.clone()).filter(|p| !p.is_empty());
    match license_uri {
        None => src.optional.push(DEFAULT_LICENSE_DB.into()),
        Some(l) => {
            let db = database_of_uri(&l).unwrap_or(DEFAULT_LICENSE_DB.into());
            if server_of_uri(&l) == server_of_uri(&uri) {
                src.databases.push(db);
            } else {
                src.other_servers.push(MongoSource { threads, tools_dir, ..MongoSource::new(l, vec![db]) });
            }
        }
    }
    src
}

/// Runs one backup. On failure the error is returned and a `failed` catalog entry written.
pub fn run_backup(
    opts: &BackupOptions,
    key: &MasterKey,
    progress: &dyn Progress,
    rng: Box<dyn SecureRng>,
) -> Result<BackupOutcome> {
    let (catalog, lock) = open_locked(&opts.destination)?;
    run_locked(opts, key, progress, rng, catalog, lock)
}

/// The backup folder's catalog, and its lock held for a backup.
fn open_locked(destination: &std::path::Path) -> Result<(Catalog, DestinationLock)> {
    Ok((Catalog::open(destination)?, DestinationLock::acquire(destination, "a backup")?))
}

/// What `run_backup_if_due` did.
#[derive(Debug)]
pub enum IfDue {
    Ran(Box<BackupOutcome>),
    /// Nothing was due (a `Wait` or `GaveUp` decision); nothing was written.
    NotDue(crate::policy::schedule::SlotDecision),
}

/// As `run_backup`, for a start that backs up only when the daily schedule says a run is due
/// (`backup --if-due`). The decision is made holding the folder's lock, from its history then:
/// a run that ends just before (the app's own schedule) is counted, so one slot is not backed
/// up twice.
pub fn run_backup_if_due(
    opts: &BackupOptions,
    schedule: &crate::policy::schedule::Schedule,
    key: &MasterKey,
    progress: &dyn Progress,
    rng: Box<dyn SecureRng>,
) -> Result<IfDue> {
    use crate::policy::schedule::{decide_from_history, SlotDecision};
    let (catalog, lock) = open_locked(&opts.destination)?;
    crate::fault::pause("if-due-locked");
    match decide_from_history(schedule, &past_runs(&catalog)?, Utc::now()) {
        SlotDecision::Run { .. } => Ok(IfDue::Ran(Box::new(run_locked(opts, key, progress, rng, catalog, lock)?))),
        other => Ok(IfDue::NotDue(other)),
    }
}

fn run_locked(
    opts: &BackupOptions,
    key: &MasterKey,
    progress: &dyn Progress,
    mut rng: Box<dyn SecureRng>,
    catalog: Catalog,
    _lock: DestinationLock,
) -> Result<BackupOutcome> {
    // Only now, holding the lock, is every temp file a crashed run's leftover, and every
    // prune marker a removal that a crash interrupted.
    catalog.clean_leftovers()?;
    crate::ops::prune::finish_interrupted(&catalog)?;
    catalog.recover_interrupted()?;
    let started = Utc::now();
    let clock = Instant::now();
    let id = new_id(started, (rng.next_u32() & 0xffff) as u16);
    let mut entry = CatalogEntry {
        key_id: Some(key.id().to_string()),
        sources: opts.sources.iter().map(|s| s.name.clone()).collect(),
        databases: opts.mongo.as_ref().map(|m| m.databases.clone()).unwrap_or_default(),
        trigger: Some(opts.trigger),
        ..CatalogEntry::new(id.clone(), Status::Running, started)
    };
    // Shows the run in the history while it runs; if the process dies, the next run finds a
    // `running` entry while holding the lock and records it as interrupted.
    catalog.put(&entry)?;
    let result = write_archive(opts, key, progress, rng, &catalog, &id, started);
    let outcome = finish(result, &mut entry, opts.verify, key, progress, &catalog, clock);
    log_run(&catalog, opts, &entry, outcome.as_ref().ok(), progress);
    let (archive, manifest) = outcome?;
    let removed = match &opts.retention {
        Some(policy) => apply_retention(&catalog, policy, progress),
        None => Vec::new(),
    };
    Ok(BackupOutcome { entry, archive, manifest, removed })
}

/// Records the written archive (or the failure) in the catalog and verifies it.
pub(crate) fn finish(
    result: Result<(PathBuf, Manifest, String)>,
    entry: &mut CatalogEntry,
    verify: bool,
    key: &MasterKey,
    progress: &dyn Progress,
    catalog: &Catalog,
    clock: Instant,
) -> Result<(PathBuf, Manifest)> {
    // Every write of the entry carries the time so far: the last one the whole run's.
    let stamp = |entry: &mut CatalogEntry| {
        entry.finished = Utc::now();
        entry.duration_ms = clock.elapsed().as_millis() as u64;
    };
    stamp(entry);
    let (archive, manifest, sha256) = match result {
        Ok(ok) => ok,
        Err(e) => {
            entry.status = if matches!(e, Error::Cancelled) { Status::Cancelled } else { Status::Failed };
            entry.error = Some(e.to_string());
            // The run already failed; failing to record it must not hide the first error.
            let _ = catalog.put(entry);
            return Err(e);
        }
    };
    entry.archive = archive.file_name().map(|n| n.to_string_lossy().into_owned());
    entry.size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    entry.sha256 = Some(sha256);
    entry.files = manifest.file_count();
    entry.bytes = manifest.file_bytes();
    entry.warnings = manifest.warnings.len() as u64;
    if let Some(part) = MongoPart::of(&manifest) {
        entry.documents = part.total_documents();
        // What was found on the servers (tenants, optional databases), not only what was asked.
        entry.databases = part.databases.iter().map(|d| d.name.clone()).collect();
    }
    crate::fault::point("before-catalog-entry");
    // Still `running` until verified: a crash before that point discards the archive.
    catalog.put(entry)?;
    crate::fault::point("before-verify");
    if verify {
        if let Err(e) = check_archive(&archive, key, progress) {
            entry.status = Status::Failed;
            entry.error = Some(format!("verification after writing failed: {e}"));
            stamp(entry);
            let _ = catalog.put(entry);
            return Err(e);
        }
        entry.verified = true;
        entry.verified_at = Some(Utc::now());
    }
    entry.status = Status::Ok;
    stamp(entry);
    catalog.put(entry)?;
    Ok((archive, manifest))
}

/// Retention after a good backup. Its failure is a warning: the new backup is safe either way.
fn apply_retention(catalog: &Catalog, policy: &RetentionPolicy, progress: &dyn Progress) -> Vec<String> {
    crate::fault::point("before-retention");
    let result = catalog.list().and_then(|l| {
        let decisions = crate::policy::retention::plan(policy, &l.entries, Utc::now());
        crate::ops::prune::prune(catalog, &decisions)
    });
    match result {
        Ok(removed) => removed,
        Err(e) => {
            progress.event(Event::Warning(format!("retention could not remove old backups: {e}")));
            Vec::new()
        }
    }
}

/// One line in the local log, one document in MongoDB; problems become warnings.
fn log_run(
    catalog: &Catalog,
    opts: &BackupOptions,
    entry: &CatalogEntry,
    written: Option<&(PathBuf, Manifest)>,
    progress: &dyn Progress,
) {
    let mut rec = RunRecord::new("backup", entry.id.clone(), entry.status == Status::Ok, entry.started);
    if entry.status == Status::Cancelled {
        rec.status = "cancelled";
    }
    rec.finished = entry.finished;
    rec.duration_ms = entry.duration_ms;
    rec.size = entry.size;
    rec.files = entry.files;
    rec.documents = entry.documents;
    rec.databases = entry.databases.clone();
    rec.error = entry.error.clone();
    rec.trigger = opts.trigger;
    rec.warnings = entry.warnings;
    rec.verified_at = entry.verified_at;
    if let Some((archive, manifest)) = written.filter(|_| entry.status == Status::Ok) {
        rec.archive = Some(archive.display().to_string());
        rec.archive_sha256 = entry.sha256.clone();
        rec.components = components(manifest);
    }
    let mongo_log = opts
        .mongo
        .as_ref()
        .and_then(|m| m.log_collection.clone().map(|namespace| MongoLog { uri: m.uri.clone(), namespace }));
    for w in runlog::record(catalog.dir(), mongo_log.as_ref(), &rec) {
        progress.event(Event::Warning(w));
    }
}

/// HR-SM's component list: each database, each file source (configuration and key folders
/// named as HR-SM names them).
fn components(manifest: &Manifest) -> Vec<Component> {
    let mut out = Vec::new();
    if let Some(part) = MongoPart::of(manifest) {
        for db in &part.databases {
            out.push(Component {
                kind: "mongodb",
                name: db.name.clone(),
                path: part.uri.clone(),
                size: db.files.iter().map(|f| f.size).sum(),
            });
        }
    }
    for s in &manifest.sources {
        let kind = match s.name.as_str() {
            n if n.contains("key") => "encrypted-keys",
            n if n.contains("config") || n.contains("env") => "configuration",
            _ => "files",
        };
        out.push(Component { kind, name: s.name.clone(), path: s.path.clone(), size: s.bytes });
    }
    out
}

fn write_archive(
    opts: &BackupOptions,
    key: &MasterKey,
    progress: &dyn Progress,
    rng: Box<dyn SecureRng>,
    catalog: &Catalog,
    id: &str,
    started: chrono::DateTime<Utc>,
) -> Result<(PathBuf, Manifest, String)> {
    if opts.sources.is_empty() && opts.mongo.is_none() {
        return Err(Error::Config(
            "nothing to back up: no file sources and no MongoDB databases are configured".into(),
        ));
    }
    // MongoDB first: the dump is spooled (its sizes and SHA-256s go into the manifest, which
    // is the archive's first entry), in a private local folder that is never the destination
    // and goes away with this guard (or, after a crash, at the next run).
    let spool = match &opts.mongo {
        Some(_) => {
            crate::store::spool::clean_leftovers();
            Some(crate::store::spool::Spool::create(id)?)
        }
        None => None,
    };
    let mongo = match (&opts.mongo, &spool) {
        (Some(m), Some(spool)) => Some(crate::mongo::dump(m, spool.path(), progress)?),
        _ => None,
    };
    crate::fault::point("after-dump");
    progress.event(Event::Phase("scanning"));
    let mut warnings = Vec::new();
    let mut summaries = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    for src in &opts.sources {
        if let Some(c) = collect(src, &mut warnings, progress)? {
            summaries.push(c.summary);
            items.extend(c.items);
        }
    }
    if summaries.is_empty() && mongo.is_none() {
        return Err(Error::Config("nothing to back up: every configured source is missing".into()));
    }
    let manifest = Manifest {
        finished: Utc::now(),
        sources: summaries,
        entries: items.iter().map(|i| i.entry.clone()).collect(),
        mongo: mongo.as_ref().map(|m| serde_json::to_value(m).unwrap_or_default()),
        warnings,
        ..Manifest::new(id, key.id().to_string(), started)
    };
    let spooled = match (&mongo, &spool) {
        (Some(m), Some(spool)) => Some((m, spool.path())),
        _ => None,
    };
    let (dest, sha256) = pack_archive(catalog, id, key, &opts.payload, rng, &manifest, spooled, &items, progress)?;
    Ok((dest, manifest, sha256))
}

/// Writes the archive of `manifest` under a temp name and commits it: the manifest first, then
/// the spooled MongoDB dump (`mongo` with its spool folder), then `items`, each re-hashed as it
/// streams. Backups and imports (`ops::import`) both write their archives through here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_archive(
    catalog: &Catalog,
    id: &str,
    key: &MasterKey,
    payload_opts: &PayloadOptions,
    rng: Box<dyn SecureRng>,
    manifest: &Manifest,
    mongo: Option<(&MongoPart, &std::path::Path)>,
    items: &[Item],
    progress: &dyn Progress,
) -> Result<(PathBuf, String)> {
    let started = manifest.started;
    progress.event(Event::Phase("archiving"));
    progress.event(Event::Total(manifest.file_bytes() + mongo.map(|(m, _)| m.total_bytes()).unwrap_or(0)));
    let dest = catalog.archive_path(id);
    let mut file = AtomicFile::create(&dest)?;
    let tmp = file.tmp_path().to_path_buf();
    let werr = |e: std::io::Error| Error::io("write", &tmp, e);
    let payload =
        PayloadWriter::new(BufWriter::with_capacity(1 << 20, HashingWriter::new(&mut file)), key, payload_opts, rng)
            .map_err(werr)?;
    let mut packer = Packer::new(payload);
    packer.add_bytes(MANIFEST_PATH, 0o600, started.timestamp(), &manifest.to_json()).map_err(werr)?;
    if let Some((m, spool)) = mongo {
        pack_mongo(&mut packer, m, spool, started.timestamp(), progress).map_err(|e| match e {
            PackError::Source(e) => e,
            PackError::Out(e) => werr(e),
        })?;
    }
    for item in items {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        pack_item(&mut packer, item, progress).map_err(|e| match e {
            PackError::Source(e) => e,
            PackError::Out(e) => werr(e),
        })?;
    }
    crate::fault::point("archive-written-before-commit");
    let payload = packer.finish().map_err(werr)?;
    let (buf, _stats) = payload.finish().map_err(werr)?;
    // The archive's SHA-256 as written (HR-SM's `checksums`, an admin's sha256sum).
    let (_, _, sha256) = buf.into_inner().map_err(|e| werr(e.into_error()))?.into_parts();
    file.commit()?;
    Ok((dest, sha256))
}

/// Adds the spooled dump: per database, other files (a prelude) first, then each collection's
/// metadata before its documents, so a restore can create a collection before filling it.
fn pack_mongo<W: std::io::Write>(
    packer: &mut Packer<W>,
    m: &MongoPart,
    spool: &std::path::Path,
    mtime: i64,
    progress: &dyn Progress,
) -> std::result::Result<(), PackError> {
    for db in &m.databases {
        let mut order: Vec<&crate::mongo::FilePart> =
            db.files.iter().filter(|f| !f.path.ends_with(".bson") && !f.path.ends_with(".metadata.json")).collect();
        for c in &db.collections {
            let data = crate::mongo::layout::data_stem(&c.kind, &c.name, &c.stem);
            for (stem, suffix) in [(c.stem.as_str(), ".metadata.json"), (data.as_str(), ".bson")] {
                let want = format!("{}/{stem}{suffix}", db.name);
                if let Some(f) = db.files.iter().find(|f| f.path == want) {
                    order.push(f);
                }
            }
        }
        for f in order {
            let path = spool.join(&f.path);
            let item = Item {
                entry: crate::archive::manifest::Entry {
                    path: format!("{MONGO_PREFIX}{}", f.path),
                    kind: EntryType::File,
                    mode: 0o600,
                    mtime,
                    size: Some(f.size),
                    sha256: Some(f.sha256.clone()),
                    target: None,
                },
                fs_path: path,
            };
            pack_item(packer, &item, progress)?;
        }
    }
    Ok(())
}

enum PackError {
    /// Reading the source failed or it changed: the source's fault.
    Source(Error),
    /// Writing the archive failed: the destination's fault.
    Out(std::io::Error),
}

fn pack_item<W: std::io::Write>(
    packer: &mut Packer<W>,
    item: &Item,
    progress: &dyn Progress,
) -> std::result::Result<(), PackError> {
    let e = &item.entry;
    match e.kind {
        EntryType::Dir => packer.add_dir(&e.path, e.mode, e.mtime).map_err(PackError::Out),
        EntryType::Symlink => {
            packer.add_symlink(&e.path, e.target.as_deref().unwrap_or(""), e.mode, e.mtime).map_err(PackError::Out)
        }
        EntryType::File => {
            let size = e.size.unwrap_or(0);
            let f =
                File::open(&item.fs_path).map_err(|err| PackError::Source(Error::io("read", &item.fs_path, err)))?;
            let shown = item.fs_path.display().to_string();
            let now = f.metadata().map_err(|err| PackError::Source(Error::io("read", &item.fs_path, err)))?;
            if now.len() != size {
                return Err(PackError::Source(Error::ChangedDuringBackup { path: shown, what: "its size changed" }));
            }
            let reader = ReadCounter { inner: f, progress, failed: None };
            let mut reader = reader;
            let streamed = packer.add_stream(&e.path, e.mode, e.mtime, size, &mut reader);
            if let Some(err) = reader.failed.take() {
                return Err(PackError::Source(Error::io("read", &item.fs_path, err)));
            }
            let streamed = streamed.map_err(PackError::Out)?;
            if streamed.size != size {
                return Err(PackError::Source(Error::ChangedDuringBackup { path: shown, what: "it shrank" }));
            }
            if Some(&streamed.sha256) != e.sha256.as_ref() {
                return Err(PackError::Source(Error::ChangedDuringBackup { path: shown, what: "its content changed" }));
            }
            Ok(())
        }
    }
}

/// Reports bytes read and remembers a read error, so it is not mistaken for a write error.
struct ReadCounter<'a> {
    inner: File,
    progress: &'a dyn Progress,
    failed: Option<std::io::Error>,
}

impl std::io::Read for ReadCounter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.progress.event(Event::Advance(n as u64));
                Ok(n)
            }
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(copy)
            }
        }
    }
}

/// What the daily schedule of `cfg` wants now, judged from its backup folder's history alone
/// (`backup --if-due`, started every hour by the Task Scheduler or cron): imported backups,
/// cancelled and interrupted runs do not count. None when the schedule is switched off.
pub fn schedule_decision(
    cfg: &crate::config::Config,
) -> Result<Option<(crate::policy::schedule::Schedule, crate::policy::schedule::SlotDecision)>> {
    use crate::policy::schedule::{decide_from_history, Schedule};
    if !cfg.schedule.enabled {
        return Ok(None);
    }
    let schedule = Schedule::daily(&cfg.schedule.time, &cfg.schedule.timezone)?;
    let history = match Catalog::existing(&cfg.destination) {
        Ok(c) => past_runs(&c)?,
        // No folder yet: no backup yet.
        Err(_) if !cfg.destination.exists() => Vec::new(),
        Err(e) => return Err(e),
    };
    let decision = decide_from_history(&schedule, &history, chrono::Utc::now());
    Ok(Some((schedule, decision)))
}

/// The runs of a folder's history that count for the schedule: imported backups, cancelled and
/// interrupted runs do not.
fn past_runs(catalog: &Catalog) -> Result<Vec<crate::policy::schedule::PastRun>> {
    Ok(catalog
        .list()?
        .entries
        .iter()
        .filter(|e| !e.is_imported() && matches!(e.status, Status::Ok | Status::Failed))
        .map(|e| crate::policy::schedule::PastRun {
            started: e.started,
            ok: e.status == Status::Ok,
            scheduled: e.trigger == Some(crate::store::runlog::Trigger::Scheduled),
        })
        .collect())
}
