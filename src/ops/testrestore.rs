//! The test restore: proves a backup can really come back. In one read of the archive, the
//! MongoDB part is checked against the manifest and restored into scratch databases
//! (`<db>__verify<run>`, names reserved for it), with an order-independent digest of every document
//! taken as it streams; then each collection is read back from the server and its count and
//! digest compared. The scratch databases are dropped whatever happened.
//!
//! Depends on `ops::restore`, `mongo::{client, layout}`, `store::{lock, catalog, runlog}`.

use std::collections::HashMap;
use std::path::Path;

use bson::{doc, RawDocumentBuf};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::archive::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::mongo::client::{connect, explain};
use crate::mongo::layout::file_stem;
use crate::mongo::restore::MongoRestoreOptions;
use crate::ops::restore::{restore_locked, RestoreRequest};
use crate::progress::Progress;

/// Suffix of the scratch databases, followed by the run's start time (8 hex digits of Unix
/// seconds): `hrms__verify6a1f03c2`. Two test restores on one server (two workstations, the
/// app and the command line) each use and drop only their own.
pub const SCRATCH_SUFFIX: &str = "__verify";

/// A scratch database whose run began this long ago is a leftover of a run that died.
const SCRATCH_STALE_SECS: i64 = 24 * 3600;

/// This run's suffix.
fn run_suffix(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("{SCRATCH_SUFFIX}{:08x}", now.timestamp().max(0) as u32)
}

/// Whether `name` is a scratch database a run left behind: one of a run that began over a day
/// ago, or of the old scheme (`<db>__verify`, one per server).
fn is_stale_scratch(name: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    if name.ends_with(SCRATCH_SUFFIX) {
        return true;
    }
    let Some(at) = name.rfind(SCRATCH_SUFFIX) else { return false };
    let tail = &name[at + SCRATCH_SUFFIX.len()..];
    match (tail.len(), u32::from_str_radix(tail, 16)) {
        (8, Ok(started)) => now.timestamp() - i64::from(started) > SCRATCH_STALE_SECS,
        _ => false,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TestRestoreReport {
    pub collections: Vec<CheckedCollection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedCollection {
    pub db: String,
    pub name: String,
    pub documents: u64,
    /// A time series compared bucket for bucket: `documents` counts buckets.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub buckets: bool,
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
    log: Option<&crate::store::runlog::MongoLog>,
    progress: &dyn Progress,
) -> Result<TestRestoreReport> {
    let _lock = crate::store::lock::DestinationLock::for_archive(archive, "a test restore")?;
    let started = chrono::Utc::now();
    let clock = std::time::Instant::now();
    let result = test_restore_inner(archive, key, uri, threads, progress);
    record_test(archive, &result);
    if let Err(e) = &result {
        if e.is_integrity() {
            crate::ops::verify::record_finding(archive, crate::ops::verify::Finding::Damaged(e));
        }
    }
    let backup_id = crate::store::catalog::Catalog::id_of(archive).unwrap_or_default();
    let mut rec = crate::store::runlog::RunRecord::new("test-restore", backup_id, result.is_ok(), started);
    rec.duration_ms = clock.elapsed().as_millis() as u64;
    rec.size = std::fs::metadata(archive).map(|m| m.len()).unwrap_or(0);
    rec.documents = result.as_ref().map(|r| r.collections.iter().map(|c| c.documents).sum()).unwrap_or(0);
    rec.error = result.as_ref().err().map(|e| e.to_string());
    let dir = archive.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for w in crate::store::runlog::record(dir, log, &rec) {
        progress.event(crate::progress::Event::Warning(w));
    }
    result
}

/// Records a test restore's outcome in the archive's catalog entry (under the lock).
fn record_test(archive: &Path, result: &Result<TestRestoreReport>) {
    let Some(id) = crate::store::catalog::Catalog::id_of(archive) else { return };
    let dir = archive.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(catalog) = crate::store::catalog::Catalog::existing(dir) else { return };
    if let Ok(Some(mut e)) = catalog.get(&id) {
        e.restore_tested_at = Some(chrono::Utc::now());
        e.restore_test_error = result.as_ref().err().map(|err| err.to_string());
        if let Err(err) = catalog.put(&e) {
            tracing::warn!("could not record the test restore of {} in the catalog: {err}", archive.display());
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
    let client = connect(uri)?;
    let now = chrono::Utc::now();
    let suffix = run_suffix(now);
    // Scratch names are the test restore's own: those of runs that died go first; another
    // run's live ones stay.
    if let Ok(names) = client.list_database_names().run() {
        for n in names.iter().filter(|n| is_stale_scratch(n, now)) {
            let _ = client.database(n).drop().run();
        }
    }
    let drop_scratch = || {
        if let Ok(names) = client.list_database_names().run() {
            for n in names.iter().filter(|n| n.ends_with(&suffix)) {
                let _ = client.database(n).drop().run();
            }
        }
    };
    drop_scratch();
    let result = (|| -> Result<TestRestoreReport> {
        // One read of the archive: each entry checked against the manifest (as verify checks
        // it), restored into the scratch databases, and each document digested on the way.
        let opts = MongoRestoreOptions {
            uri: uri.to_string(),
            databases: Vec::new(),
            collections: None,
            threads,
            log_collection: None,
            // Scratch copies compare every document: TTL must not delete any meanwhile.
            pause_ttl: true,
        };
        let req = RestoreRequest { files: None, mongo: Some(opts) };
        let mut expected: HashMap<(String, String), Multiset> = HashMap::new();
        let outcome = restore_locked(archive, key, &req, progress, Some(&suffix), &mut |db, stem, doc| {
            expected.entry((db.to_string(), stem.to_string())).or_default().add(doc)
        })?;
        let report = outcome
            .mongo
            .filter(|r| !r.collections.is_empty() || !r.views.is_empty())
            .ok_or_else(|| Error::Usage("this backup holds no MongoDB data to test-restore".into()))?;
        // Read back from the server and compare.
        let mut checked = Vec::new();
        for c in &report.collections {
            let source_db = c.db.strip_suffix(suffix.as_str()).unwrap_or(&c.db);
            let stem = c.stem.clone().unwrap_or_else(|| file_stem(&c.name));
            let want = expected.get(&(source_db.to_string(), stem)).copied().unwrap_or_default();
            let mut got = Multiset::default();
            // A time series kept as its buckets is compared bucket for bucket.
            let name = if c.buckets { crate::mongo::layout::buckets_collection(&c.name) } else { c.name.clone() };
            let coll = client.database(&c.db).collection::<RawDocumentBuf>(&name);
            let mut cursor =
                coll.find(doc! {}).run().map_err(|e| explain(uri, "read back a test-restored collection", e))?;
            while cursor.advance().map_err(|e| explain(uri, "read back a test-restored collection", e))? {
                got.add(cursor.current().as_bytes());
            }
            if got != want {
                return Err(Error::Mongo(format!(
                    "test restore of {source_db}.{} does not match the backup: {} documents came back, the archive holds {}{}",
                    c.name,
                    got.1,
                    want.1,
                    if got.1 == want.1 { " (same count, different content)" } else { "" }
                )));
            }
            checked.push(CheckedCollection {
                db: source_db.to_string(),
                name: c.name.clone(),
                documents: got.1,
                buckets: c.buckets,
            });
        }
        Ok(TestRestoreReport { collections: checked })
    })();
    drop_scratch();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scratch_databases_of_dead_runs_are_stale() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let own = format!("hrms{}", run_suffix(now));
        assert_eq!(own, "hrms__verify6b49d200");
        assert!(!is_stale_scratch(&own, now), "a live run's");
        let hour_ago = format!("hrms{}", run_suffix(now - chrono::Duration::hours(1)));
        assert!(!is_stale_scratch(&hour_ago, now), "another run, still going");
        let two_days = format!("hrsm_acme{}", run_suffix(now - chrono::Duration::days(2)));
        assert!(is_stale_scratch(&two_days, now));
        assert!(is_stale_scratch("hrms__verify", now), "the old scheme's");
        assert!(!is_stale_scratch("hrms", now));
        assert!(!is_stale_scratch("hrms__verifyxyz", now));
    }
}
