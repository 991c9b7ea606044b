//! Restore: the files and the databases of one restore point, in one read of the archive.
//! The manifest (the first entry) makes both plans and runs their checks before anything is
//! written; then every entry goes to its side (files into a private staging folder, documents
//! into staging collections), each checked against the manifest; only when the final chunk
//! authenticated, every count matched and every index was built does anything live change:
//! databases' indexes first, then the files move into place, then the collections are swapped
//! in. A failure anywhere before that leaves the target folder and the live collections as they
//! were. Holds the backup folder's lock; records damage it finds in the catalog; logs the run.
//!
//! Depends on `files::restore`, `mongo::restore`, `archive`, `store` and `ops::verify`.

use std::path::Path;

use serde::Serialize;

use crate::archive::crypto::MasterKey;
use crate::archive::rules::{self, Area};
use crate::archive::unpack::{read_archive, read_manifest};
use crate::error::{Error, Result};
use crate::files::restore::{plan_from_manifest, FileRestoreOptions, FileSink, RestorePlan, RestoreReport};
use crate::mongo::client::connect;
use crate::mongo::restore::{
    plan_mongo_restore, MongoRestoreOptions, MongoRestoreReport, MongoSink, PlannedCollection,
};
use crate::progress::{Event, Progress};
use crate::store::lock::DestinationLock;

/// What to bring back: files into a folder, databases into a server, or both.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub files: Option<FileRestoreOptions>,
    pub mongo: Option<MongoRestoreOptions>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreOutcome {
    pub files: Option<RestoreReport>,
    pub mongo: Option<MongoRestoreReport>,
}

/// What a restore would do, before it does anything: the file plan (what goes where, what it
/// replaces, the space it needs) and the collections it would bring back (and, with
/// `ask_server`, which of them exist now and would be replaced). Reads the manifest only.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePreview {
    pub backup_id: String,
    pub files: Option<RestorePlan>,
    pub collections: Vec<PlannedCollection>,
}

pub fn plan_restore(archive: &Path, key: &MasterKey, req: &RestoreRequest, ask_server: bool) -> Result<RestorePreview> {
    if req.files.is_none() && req.mongo.is_none() {
        return Err(Error::Usage("choose files, databases or both to restore".into()));
    }
    let manifest = read_manifest(archive, key)?;
    let files = req.files.as_ref().map(|o| plan_from_manifest(&manifest, o)).transpose()?;
    let collections = match &req.mongo {
        Some(o) => plan_mongo_restore(&manifest, o, ask_server)?,
        None => Vec::new(),
    };
    Ok(RestorePreview { backup_id: manifest.backup_id, files, collections })
}

/// Where each database goes back to: those that came from another server (the license
/// server's own, recorded as `server` in the manifest) go to `other_uri`, the rest to
/// `opts.uri`. One set of options per server, the main server's first (it alone writes the
/// run log). Without `other_uri`, or with no database from elsewhere, `opts` as it is.
pub fn split_by_server(
    manifest: &crate::archive::manifest::Manifest,
    opts: MongoRestoreOptions,
    other_uri: Option<String>,
) -> Vec<MongoRestoreOptions> {
    let Some(other_uri) = other_uri else { return vec![opts] };
    let Some(part) = crate::mongo::MongoPart::of(manifest) else { return vec![opts] };
    let elsewhere: Vec<&str> = part.databases.iter().filter(|d| d.server.is_some()).map(|d| d.name.as_str()).collect();
    if elsewhere.is_empty() {
        return vec![opts];
    }
    let wanted: Vec<(String, String)> = if opts.databases.is_empty() {
        part.databases.iter().map(|d| (d.name.clone(), d.name.clone())).collect()
    } else {
        opts.databases.clone()
    };
    let (there, here): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|(from, _)| elsewhere.contains(&from.as_str()));
    let mut out = Vec::new();
    if !here.is_empty() {
        out.push(MongoRestoreOptions { databases: here, ..opts.clone() });
    }
    if !there.is_empty() {
        out.push(MongoRestoreOptions { uri: other_uri, databases: there, log_collection: None, ..opts });
    }
    out
}

/// Restores what `req` asks for from `archive`, reading it once. See the module doc.
pub fn restore(
    archive: &Path,
    key: &MasterKey,
    req: &RestoreRequest,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    if req.files.is_none() && req.mongo.is_none() {
        return Err(Error::Usage("choose files, databases or both to restore".into()));
    }
    let _lock = DestinationLock::for_archive(archive, "a restore")?;
    let started = chrono::Utc::now();
    let clock = std::time::Instant::now();
    let result = restore_locked(archive, key, req, progress, None, &mut |_, _, _| {});
    if let Err(e) = &result {
        if e.is_integrity() {
            crate::ops::verify::record_finding(archive, crate::ops::verify::Finding::Damaged(e));
        }
    }
    if let Some(m) = &req.mongo {
        log_mongo_restore(archive, m, &result, started, clock, progress);
    }
    result
}

/// The restore without the lock, for a caller that holds it (the test restore): with
/// `scratch_suffix`, every database goes under its name plus the suffix; `observe(db, stem,
/// document)` sees every restored document as it streams.
pub(crate) fn restore_locked(
    archive: &Path,
    key: &MasterKey,
    req: &RestoreRequest,
    progress: &dyn Progress,
    scratch_suffix: Option<&str>,
    observe: &mut dyn FnMut(&str, &str, &[u8]),
) -> Result<RestoreOutcome> {
    let client = match &req.mongo {
        Some(m) => {
            // Documents a restore that died left in its private spool (plaintext HR data) go
            // before this one adds its own.
            crate::store::spool::clean_leftovers();
            Some(connect(&m.uri)?)
        }
        None => None,
    };
    // The sinks are made from the manifest, inside the one read; whichever way the read ends
    // before `swap_in`, dropping them removes their staging (folder and collections).
    let (_, (files, mut mongo)) = read_archive(
        archive,
        key,
        |m| {
            let files = req.files.as_ref().map(|o| FileSink::prepare(archive, m, o)).transpose()?;
            let mongo = match (&req.mongo, &client) {
                (Some(o), Some(c)) => Some(MongoSink::prepare(archive, m, o, c, scratch_suffix)?),
                _ => None,
            };
            progress.event(Event::Phase("restoring"));
            let total =
                files.as_ref().map(FileSink::bytes).unwrap_or(0) + mongo.as_ref().map(MongoSink::bytes).unwrap_or(0);
            progress.event(Event::Total(total));
            Ok((files, mongo))
        },
        |(files, mongo), info, content| {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            match rules::area(&info.path) {
                Area::Files => match files.as_mut() {
                    Some(f) => f.entry(info, content, progress),
                    None => Ok(()),
                },
                Area::Mongo => match mongo.as_mut() {
                    Some(m) => m.entry(info, content, progress, observe),
                    None => Ok(()),
                },
                Area::Manifest | Area::Outside => {
                    Err(Error::UnsafeEntry { path: info.path.clone(), reason: rules::OUTSIDE })
                }
            }
        },
    )?;
    // The whole archive authenticated. Whatever can still fail without touching anything live
    // comes first: the databases' counts and indexes, then the files move into place, then the
    // collections are swapped in.
    if let Some(m) = &mut mongo {
        m.ready()?;
    }
    // The inserts may have outlasted the read: a cancel during them still changes nothing live.
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    let files = files.map(FileSink::finish).transpose()?;
    let mongo = mongo.map(MongoSink::swap_in).transpose()?;
    Ok(RestoreOutcome { files, mongo })
}

/// Restores file sources only (`restore` with files alone).
pub fn restore_files(
    archive: &Path,
    key: &MasterKey,
    opts: &FileRestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let req = RestoreRequest { files: Some(opts.clone()), mongo: None };
    restore(archive, key, &req, progress)?.files.ok_or_else(|| Error::Usage("nothing was restored".into()))
}

/// Restores MongoDB databases only (`restore` with databases alone).
pub fn restore_mongo(
    archive: &Path,
    key: &MasterKey,
    opts: &MongoRestoreOptions,
    progress: &dyn Progress,
) -> Result<MongoRestoreReport> {
    let req = RestoreRequest { files: None, mongo: Some(opts.clone()) };
    restore(archive, key, &req, progress)?.mongo.ok_or_else(|| Error::Usage("nothing was restored".into()))
}

/// One line in the local run log and one document in MongoDB for a database restore.
fn log_mongo_restore(
    archive: &Path,
    opts: &MongoRestoreOptions,
    result: &Result<RestoreOutcome>,
    started: chrono::DateTime<chrono::Utc>,
    clock: std::time::Instant,
    progress: &dyn Progress,
) {
    let report = result.as_ref().ok().and_then(|r| r.mongo.as_ref());
    let error = result.as_ref().err().map(|e| e.to_string());
    let databases = match report {
        Some(r) => {
            let mut d: Vec<String> = r.collections.iter().map(|c| c.db.clone()).collect();
            d.dedup();
            d
        }
        None => opts.databases.iter().map(|(_, to)| to.clone()).collect(),
    };
    let backup_id = crate::store::catalog::Catalog::id_of(archive).unwrap_or_default();
    let mut rec = crate::store::runlog::RunRecord::new("restore", backup_id.clone(), error.is_none(), started);
    rec.duration_ms = clock.elapsed().as_millis() as u64;
    rec.size = std::fs::metadata(archive).map(|m| m.len()).unwrap_or(0);
    rec.documents = report.map(|r| r.collections.iter().map(|c| c.documents).sum()).unwrap_or(0);
    rec.databases = databases;
    rec.error = error;
    // When the restored backup was made, for its HR-SM record if the restore replaced it.
    rec.backup_started = archive
        .parent()
        .and_then(|d| crate::store::catalog::Catalog::existing(d).ok())
        .and_then(|c| c.get(&backup_id).ok().flatten())
        .map(|e| e.started);
    let log = opts
        .log_collection
        .clone()
        .map(|namespace| crate::store::runlog::MongoLog { uri: opts.uri.clone(), namespace });
    let dir = archive.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for w in crate::store::runlog::record(dir, log.as_ref(), &rec) {
        progress.event(Event::Warning(w));
    }
}
