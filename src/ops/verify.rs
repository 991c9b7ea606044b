//! Verification: reads an archive end to end (every chunk MAC, gzip, tar) and checks every
//! file against the manifest's size and SHA-256, that nothing is missing and nothing extra.
//!
//! Depends on `unpack`, `manifest`, `progress` and `error`.

use std::collections::HashMap;
use std::path::Path;

use chrono::Utc;

use crate::archive::crypto::MasterKey;
use crate::archive::manifest::{Entry, EntryType, Manifest};
use crate::archive::rules::{self, Area};
use crate::archive::unpack::{read_archive, Kind};
use crate::digest::hash_stream;
use crate::error::{Error, Result};
use crate::mongo::{MongoPart, MONGO_PREFIX};
use crate::progress::{Event, Progress};
use crate::store::catalog::{Catalog, CatalogEntry, Status};
use crate::store::lock::DestinationLock;

#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub manifest: Manifest,
    pub files: u64,
    pub bytes: u64,
    pub chunks: u64,
    pub entries: u64,
}

/// Verifies an archive under its folder's lock and records the finding in its catalog entry:
/// verified and good after a success, failed after an integrity error. A wrong key or an
/// unreadable disk says nothing about the archive and changes nothing.
pub fn verify_archive(path: &Path, key: &MasterKey, progress: &dyn Progress) -> Result<VerifyReport> {
    let _lock = DestinationLock::for_archive(path, "a verification")?;
    let result = check_archive(path, key, progress);
    match &result {
        Ok(r) => record_finding(path, Finding::Good(&r.manifest)),
        Err(e) if e.is_integrity() => record_finding(path, Finding::Damaged(e)),
        Err(_) => {}
    }
    result
}

/// What reading a whole archive found out about it.
pub(crate) enum Finding<'a> {
    Good(&'a Manifest),
    Damaged(&'a Error),
}

/// Records the latest finding about `path` in its catalog entry (the catalog always shows the
/// latest finding); an archive without an entry gets one once it verified. Call it holding
/// the folder's lock. Failing to record is a warning on stderr, never a second error.
pub(crate) fn record_finding(path: &Path, finding: Finding<'_>) {
    let Some(id) = Catalog::id_of(path) else { return };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(catalog) = Catalog::existing(dir) else { return };
    let existing = catalog.get(&id).ok().flatten();
    let entry = match (existing, finding) {
        (Some(e), _) if e.status == Status::Running => return, // a run in progress owns it
        (Some(mut e), Finding::Good(_)) => {
            e.verified = true;
            e.verified_at = Some(Utc::now());
            e.status = Status::Ok;
            e.error = None;
            e
        }
        (Some(mut e), Finding::Damaged(err)) => {
            e.verified = false;
            e.status = Status::Failed;
            e.error = Some(format!("the archive failed its check: {err}"));
            e
        }
        (None, Finding::Good(m)) => entry_from_manifest(path, &id, m),
        (None, Finding::Damaged(_)) => return,
    };
    if let Err(e) = catalog.put(&entry) {
        tracing::warn!("could not record the check of {} in the catalog: {e}", path.display());
    }
}

fn entry_from_manifest(path: &Path, id: &str, m: &Manifest) -> CatalogEntry {
    let part = MongoPart::of(m);
    CatalogEntry {
        finished: m.finished,
        archive: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        key_id: Some(m.key_id.clone()),
        verified: true,
        verified_at: Some(Utc::now()),
        files: m.file_count(),
        bytes: m.file_bytes(),
        sources: m.sources.iter().map(|s| s.name.clone()).collect(),
        databases: part.as_ref().map(|p| p.databases.iter().map(|d| d.name.clone()).collect()).unwrap_or_default(),
        documents: part.as_ref().map(|p| p.total_documents()).unwrap_or(0),
        host: m.host.clone(),
        app_version: m.app_version.clone(),
        warnings: m.warnings.len() as u64,
        origin: m.origin.clone(),
        ..CatalogEntry::new(id, Status::Ok, m.started)
    }
}

/// Reads the whole archive and checks it against its manifest, without the lock (the caller
/// holds it: a backup verifying what it just wrote).
pub(crate) fn check_archive(path: &Path, key: &MasterKey, progress: &dyn Progress) -> Result<VerifyReport> {
    progress.event(Event::Phase("verifying"));
    let corrupt = |reason: String| Error::Corrupt { path: path.to_path_buf(), reason };
    let (mut files, mut bytes) = (0u64, 0u64);
    let (summary, (expected, mongo, _)) = read_archive(
        path,
        key,
        |m| {
            progress.event(Event::Total(m.file_bytes()));
            let files = m.entries.iter().map(|e| (e.path.clone(), e.clone())).collect::<HashMap<String, Entry>>();
            let links = m.entries.iter().filter(|e| e.kind == EntryType::Symlink).map(|e| e.path.clone()).collect();
            let mongo = mongo_files(m).map_err(corrupt)?;
            Ok((files, mongo, links))
        },
        |(expected, mongo, links), info, content| {
            match rules::area(&info.path) {
                Area::Files | Area::Mongo => {}
                Area::Manifest | Area::Outside => {
                    return Err(Error::UnsafeEntry { path: info.path.clone(), reason: crate::archive::rules::OUTSIDE })
                }
            }
            if let Some(rel) = info.path.strip_prefix(MONGO_PREFIX) {
                let Some((size, sha)) = mongo.remove(rel) else {
                    return Err(corrupt(format!("entry {:?} is not in the manifest (or appears twice)", info.path)));
                };
                if info.size != size {
                    return Err(crate::archive::rules::size_lie(path, &info.path, info.size, Some(size)));
                }
                let got =
                    hash_stream(content, progress).map_err(|e| corrupt(format!("cannot read {}: {e}", info.path)))?;
                if info.kind != Kind::File || got != (size, sha) {
                    return Err(corrupt(format!("{} does not match the manifest (size or SHA-256 differ)", info.path)));
                }
                bytes += size;
                return Ok(());
            }
            let Some(want) = expected.remove(&info.path) else {
                return Err(corrupt(format!("entry {:?} is not in the manifest (or appears twice)", info.path)));
            };
            match (info.kind, want.kind) {
                (Kind::File, EntryType::File) => {
                    if Some(info.size) != want.size {
                        return Err(crate::archive::rules::size_lie(path, &info.path, info.size, want.size));
                    }
                    let (size, sha) = hash_stream(content, progress)
                        .map_err(|e| corrupt(format!("cannot read {}: {e}", info.path)))?;
                    if Some(size) != want.size || Some(&sha) != want.sha256.as_ref() {
                        return Err(corrupt(format!(
                            "{} does not match the manifest (size or SHA-256 differ)",
                            info.path
                        )));
                    }
                    files += 1;
                    bytes += size;
                }
                (Kind::Dir, EntryType::Dir) => {}
                (Kind::Symlink, EntryType::Symlink) if info.link == want.target => {
                    // What restore would refuse, verify refuses: verified means restorable.
                    let target = want.target.as_deref().unwrap_or("");
                    rules::check_link(&info.path, target, links)
                        .map_err(|reason| Error::UnsafeEntry { path: info.path.clone(), reason })?;
                }
                _ => {
                    return Err(corrupt(format!(
                        "{} has type {:?} but the manifest says {:?}",
                        info.path, info.kind, want.kind
                    )))
                }
            }
            Ok(())
        },
    )?;
    let mongo_missing = mongo.keys().map(|k| format!("{MONGO_PREFIX}{k}"));
    if let Some(missing) = expected.keys().cloned().chain(mongo_missing).min() {
        return Err(corrupt(format!(
            "{} manifest entries are missing from the archive, e.g. {missing}",
            expected.len() + mongo.len()
        )));
    }
    Ok(VerifyReport { manifest: summary.manifest, files, bytes, chunks: summary.chunks, entries: summary.entries })
}

/// The MongoDB files the manifest promises: path under `mongo/` -> (size, SHA-256).
pub fn mongo_files(m: &Manifest) -> std::result::Result<HashMap<String, (u64, String)>, String> {
    let Some(v) = &m.mongo else { return Ok(HashMap::new()) };
    let part: MongoPart =
        serde_json::from_value(v.clone()).map_err(|e| format!("the manifest's mongo part is invalid: {e}"))?;
    Ok(part
        .databases
        .iter()
        .flat_map(|d| d.files.iter())
        .map(|f| (f.path.clone(), (f.size, f.sha256.clone())))
        .collect())
}
