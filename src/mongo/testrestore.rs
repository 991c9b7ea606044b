//! The test restore: proves a backup can really come back. The MongoDB part of an archive is
//! restored into scratch databases (`<db>__verify`), each collection's document count and an
//! order-independent content digest are compared with the archive, and the scratch databases
//! are dropped whatever happened.
//!
//! Depends on `mongo::{restore, client}`, `unpack`, `runlog`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use bson::{doc, RawDocumentBuf};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::client::{connect, explain};
use super::dump::MongoPart;
use super::restore::{restore_mongo_unlocked, MongoRestoreOptions};
use super::MONGO_PREFIX;
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::unpack::{read_archive, read_manifest};

/// Suffix of the scratch databases.
pub const SCRATCH_SUFFIX: &str = "__verify";

#[derive(Debug, Clone, Serialize)]
pub struct TestRestoreReport {
    pub collections: Vec<CheckedCollection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedCollection {
    pub db: String,
    pub name: String,
    pub documents: u64,
}

/// Sum of the SHA-256 of every document, lane-wise modulo 2^64: equal for the same documents
/// in any order, which is what a restore preserves (natural order is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Multiset([u64; 4], u64);

impl Multiset {
    fn add(&mut self, doc: &[u8]) {
        let h = Sha256::digest(doc);
        for (i, lane) in self.0.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[i * 8..i * 8 + 8]);
            *lane = lane.wrapping_add(u64::from_le_bytes(b));
        }
        self.1 += 1;
    }
}

/// Runs the test restore and logs it (kind `test-restore`) to the backup folder's run log and,
/// when `log` names a collection, to MongoDB.
pub fn test_restore(
    archive: &Path,
    key: &MasterKey,
    uri: &str,
    threads: usize,
    log: Option<&crate::runlog::MongoLog>,
    progress: &dyn Progress,
) -> Result<TestRestoreReport> {
    let _lock = crate::lock::DestinationLock::for_archive(archive, "a test restore")?;
    let started = chrono::Utc::now();
    let clock = std::time::Instant::now();
    let result = test_restore_inner(archive, key, uri, threads, progress);
    record_test(archive, &result);
    if let Err(e) = &result {
        if e.is_integrity() {
            crate::verify::record_finding(archive, crate::verify::Finding::Damaged(e));
        }
    }
    let rec = crate::runlog::RunRecord {
        kind: "test-restore",
        backup_id: crate::catalog::Catalog::id_of(archive).unwrap_or_default(),
        status: if result.is_ok() { "ok" } else { "failed" },
        started,
        finished: chrono::Utc::now(),
        duration_ms: clock.elapsed().as_millis() as u64,
        size: std::fs::metadata(archive).map(|m| m.len()).unwrap_or(0),
        files: 0,
        documents: result.as_ref().map(|r| r.collections.iter().map(|c| c.documents).sum()).unwrap_or(0),
        databases: Vec::new(),
        error: result.as_ref().err().map(|e| e.to_string()),
        host: crate::job::host_name(),
        app_version: crate::job::APP_VERSION.into(),
    };
    let dir = archive.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for w in crate::runlog::record(dir, log, &rec) {
        progress.event(crate::progress::Event::Warning(w));
    }
    result
}

/// Records a test restore's outcome in the archive's catalog entry (under the lock).
fn record_test(archive: &Path, result: &Result<TestRestoreReport>) {
    let Some(id) = crate::catalog::Catalog::id_of(archive) else { return };
    let dir = archive.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(catalog) = crate::catalog::Catalog::existing(dir) else { return };
    if let Ok(Some(mut e)) = catalog.get(&id) {
        e.restore_tested_at = Some(chrono::Utc::now());
        e.restore_test_error = result.as_ref().err().map(|err| err.to_string());
        if let Err(err) = catalog.put(&e) {
            eprintln!("hrsm-backup: warning: could not update the catalog: {err}");
        }
    }
}

fn test_restore_inner(
    archive: &Path,
    key: &MasterKey,
    uri: &str,
    threads: usize,
    progress: &dyn Progress,
) -> Result<TestRestoreReport> {
    let manifest = read_manifest(archive, key)?;
    let part = MongoPart::of(&manifest)
        .ok_or_else(|| Error::Usage("this backup holds no MongoDB data to test-restore".into()))?;
    // 1. What the archive holds, per database and file stem.
    let (_, expected) = read_archive(
        archive,
        key,
        |_| Ok(HashMap::<(String, String), Multiset>::new()),
        |acc, info, content| {
            let Some(rel) = info.path.strip_prefix(MONGO_PREFIX) else { return Ok(()) };
            let Some((db, file)) = rel.split_once('/') else { return Ok(()) };
            let Some(stem) = file.strip_suffix(".bson") else { return Ok(()) };
            let set = acc.entry((db.to_string(), stem.to_string())).or_default();
            digest_stream(content, set)
                .map_err(|e| Error::Corrupt { path: archive.to_path_buf(), reason: format!("{}: {e}", info.path) })
        },
    )?;
    let client = connect(uri)?;
    let scratch: Vec<(String, String)> =
        part.databases.iter().map(|d| (d.name.clone(), format!("{}{SCRATCH_SUFFIX}", d.name))).collect();
    let drop_scratch = || {
        for (_, s) in &scratch {
            let _ = client.database(s).drop().run();
        }
    };
    drop_scratch();
    let result = (|| -> Result<TestRestoreReport> {
        // 2. Restore into the scratch databases (counts are checked against the manifest there).
        let opts = MongoRestoreOptions {
            uri: uri.to_string(),
            databases: scratch.clone(),
            collections: None,
            threads,
            log_collection: None,
        };
        restore_mongo_unlocked(archive, key, &opts, progress)?;
        // 3. Read back and compare.
        let mut checked = Vec::new();
        for db in &part.databases {
            let target = format!("{}{SCRATCH_SUFFIX}", db.name);
            for c in db.collections.iter().filter(|c| c.kind != "view") {
                let want = expected.get(&(db.name.clone(), c.stem.clone())).copied().unwrap_or_default();
                let mut got = Multiset::default();
                let coll = client.database(&target).collection::<RawDocumentBuf>(&c.name);
                let mut cursor =
                    coll.find(doc! {}).run().map_err(|e| explain(uri, "read back a test-restored collection", e))?;
                while cursor.advance().map_err(|e| explain(uri, "read back a test-restored collection", e))? {
                    got.add(cursor.current().as_bytes());
                }
                if got != want {
                    return Err(Error::Mongo(format!(
                        "test restore of {}.{} does not match the backup: {} documents came back, the archive holds {}{}",
                        db.name,
                        c.name,
                        got.1,
                        want.1,
                        if got.1 == want.1 { " (same count, different content)" } else { "" }
                    )));
                }
                checked.push(CheckedCollection { db: db.name.clone(), name: c.name.clone(), documents: got.1 });
            }
        }
        Ok(TestRestoreReport { collections: checked })
    })();
    drop_scratch();
    result
}

fn digest_stream(r: &mut dyn Read, set: &mut Multiset) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let n = r.read(&mut len[got..])?;
            if n == 0 {
                if got == 0 {
                    return Ok(());
                }
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "ends inside a document"));
            }
            got += n;
        }
        let n = u32::from_le_bytes(len) as usize;
        if n < 5 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid document length"));
        }
        let mut doc = vec![0u8; n];
        doc[..4].copy_from_slice(&len);
        r.read_exact(&mut doc[4..])?;
        set.add(&doc);
    }
}
