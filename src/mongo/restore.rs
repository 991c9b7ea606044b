//! Native restore of the `mongo/` part of an archive (or of a mongodump folder) through the
//! driver. Safe by default:
//! - every collection is filled into a staging collection (`__hrsm_restore_<tag>.<name>`)
//!   created with the backup's options, in parallel unordered batches, then its indexes are
//!   built;
//! - only when the whole archive authenticated to its final chunk and every count matches the
//!   manifest is each staging collection swapped in with `renameCollection ... dropTarget`;
//! - on any failure before that, the staging collections are dropped and the live ones were
//!   never touched.
//!
//! Depends on `mongo::{client, layout}`, `unpack`, `progress` and `error`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use bson::{doc, Bson, Document, RawDocumentBuf};
use crossbeam_channel::bounded;
use mongodb::options::InsertManyOptions;
use mongodb::sync::Client;
use serde::Serialize;

use super::client::{connect, explain};
use super::dump::MongoPart;
use super::layout::{parse_metadata, path_unescape, Metadata};
use super::MONGO_PREFIX;
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};
use crate::unpack::{read_archive, read_manifest};

#[derive(Debug, Clone)]
pub struct MongoRestoreOptions {
    pub uri: String,
    /// Databases of the backup to restore, each with the name to restore it under.
    /// Empty: every database of the backup under its own name.
    pub databases: Vec<(String, String)>,
    /// Only these collections (by name); None = all.
    pub collections: Option<Vec<String>>,
    pub threads: usize,
    /// `<db>.<collection>` receiving one document per run; None = none.
    pub log_collection: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MongoRestoreReport {
    pub collections: Vec<RestoredCollection>,
    pub views: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoredCollection {
    pub db: String,
    pub name: String,
    pub documents: u64,
}

const BATCH_DOCS: usize = 1000;
const BATCH_BYTES: usize = 4 << 20;

/// One collection being restored.
struct Staged {
    target_db: String,
    name: String,
    staging: String,
    metadata: Metadata,
    expected: Option<u64>,
    inserted: u64,
}

pub fn restore_mongo(
    archive: &Path,
    key: &MasterKey,
    opts: &MongoRestoreOptions,
    progress: &dyn Progress,
) -> Result<MongoRestoreReport> {
    let _lock = crate::lock::DestinationLock::for_archive(archive, "a restore")?;
    let result = restore_mongo_unlocked(archive, key, opts, progress);
    if let Err(e) = &result {
        if e.is_integrity() {
            crate::verify::record_finding(archive, crate::verify::Finding::Damaged(e));
        }
    }
    result
}

/// `restore_mongo` for a caller that holds the backup folder's lock (the test restore).
pub(super) fn restore_mongo_unlocked(
    archive: &Path,
    key: &MasterKey,
    opts: &MongoRestoreOptions,
    progress: &dyn Progress,
) -> Result<MongoRestoreReport> {
    let started = chrono::Utc::now();
    let clock = std::time::Instant::now();
    let result = restore_mongo_inner(archive, key, opts, progress);
    let (status, error, documents) = match &result {
        Ok(r) => ("ok", None, r.collections.iter().map(|c| c.documents).sum()),
        Err(e) => ("failed", Some(e.to_string()), 0),
    };
    let databases = match &result {
        Ok(r) => {
            let mut d: Vec<String> = r.collections.iter().map(|c| c.db.clone()).collect();
            d.dedup();
            d
        }
        Err(_) => opts.databases.iter().map(|(_, to)| to.clone()).collect(),
    };
    let rec = crate::runlog::RunRecord {
        kind: "restore",
        backup_id: crate::catalog::Catalog::id_of(archive).unwrap_or_default(),
        status,
        started,
        finished: chrono::Utc::now(),
        duration_ms: clock.elapsed().as_millis() as u64,
        size: std::fs::metadata(archive).map(|m| m.len()).unwrap_or(0),
        files: 0,
        documents,
        databases,
        error,
        host: crate::job::host_name(),
        app_version: crate::job::APP_VERSION.into(),
    };
    let log = opts.log_collection.clone().map(|namespace| crate::runlog::MongoLog { uri: opts.uri.clone(), namespace });
    let dir = archive.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for w in crate::runlog::record(dir, log.as_ref(), &rec) {
        progress.event(Event::Warning(w));
    }
    result
}

fn restore_mongo_inner(
    archive: &Path,
    key: &MasterKey,
    opts: &MongoRestoreOptions,
    progress: &dyn Progress,
) -> Result<MongoRestoreReport> {
    let manifest = read_manifest(archive, key)?;
    let part: MongoPart = match &manifest.mongo {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| Error::Corrupt {
            path: archive.to_path_buf(),
            reason: format!("the manifest's mongo part is invalid: {e}"),
        })?,
        None => return Err(Error::Usage("this backup holds no MongoDB data".into())),
    };
    let mapping: HashMap<String, String> = if opts.databases.is_empty() {
        part.databases.iter().map(|d| (d.name.clone(), d.name.clone())).collect()
    } else {
        for (from, _) in &opts.databases {
            if !part.databases.iter().any(|d| &d.name == from) {
                let have: Vec<&str> = part.databases.iter().map(|d| d.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "database {from:?} is not in this backup; it holds: {}",
                    have.join(", ")
                )));
            }
        }
        opts.databases.iter().cloned().collect()
    };
    let expected: HashMap<(String, String), u64> = part
        .databases
        .iter()
        .flat_map(|d| d.collections.iter().map(move |c| ((d.name.clone(), c.stem.clone()), c.documents)))
        .collect();
    let client = connect(&opts.uri)?;
    let tag = format!("{:04x}", rand::random::<u16>());
    let mut restore = Restore {
        client: &client,
        uri: &opts.uri,
        tag,
        staged: Vec::new(),
        views: Vec::new(),
        threads: opts.threads.max(1),
    };
    let result = (|| -> Result<()> {
        progress.event(Event::Phase("restoring"));
        progress.event(Event::Total(part.total_bytes()));
        let selected = |db: &str, name: &str| {
            mapping.contains_key(db) && opts.collections.as_ref().map(|c| c.iter().any(|n| n == name)).unwrap_or(true)
        };
        let (_, mut promised) = read_archive(
            archive,
            key,
            |m| crate::verify::mongo_files(m).map_err(|reason| Error::Corrupt { path: archive.to_path_buf(), reason }),
            |promised, info, content| {
                match crate::rules::area(&info.path) {
                    crate::rules::Area::Mongo => {}
                    crate::rules::Area::Files => return Ok(()), // restored by the file restore
                    _ => return Err(Error::UnsafeEntry { path: info.path.clone(), reason: crate::restore::OUTSIDE }),
                }
                let Some(rel) = info.path.strip_prefix(MONGO_PREFIX) else { return Ok(()) };
                // Same checks as verify: promised by the manifest, of its size, and (below,
                // as it streams) of its SHA-256; a size that lies stops before a byte is read.
                let Some((size, sha)) = promised.remove(rel) else {
                    return Err(Error::Corrupt {
                        path: archive.to_path_buf(),
                        reason: format!("entry {:?} is not in the manifest (or appears twice)", info.path),
                    });
                };
                if info.size != size {
                    return Err(crate::restore::size_lie(archive, &info.path, info.size, Some(size)));
                }
                let mut hashed = crate::digest::HashingReader::new(content);
                let content: &mut dyn Read = &mut hashed;
                let Some((db, file)) = rel.split_once('/') else { return Ok(()) };
                if let Some(stem) = file.strip_suffix(".metadata.json") {
                    let mut text = String::new();
                    content.read_to_string(&mut text).map_err(|e| Error::io("read archive entry", &info.path, e))?;
                    let meta = parse_metadata(&text).map_err(|reason| Error::Corrupt {
                        path: archive.to_path_buf(),
                        reason: format!("{}: {reason}", info.path),
                    })?;
                    let name = meta
                        .collection_name
                        .clone()
                        .or_else(|| path_unescape(stem))
                        .unwrap_or_else(|| stem.to_string());
                    if selected(db, &name) {
                        let target_db = mapping[db].clone();
                        let exp = expected.get(&(db.to_string(), stem.to_string())).copied();
                        restore.begin(target_db, name, meta, exp)?;
                    }
                } else if let Some(stem) = file.strip_suffix(".bson") {
                    let name_guess = path_unescape(stem).unwrap_or_else(|| stem.to_string());
                    if let Some(i) = restore.find(&mapping, db, stem, &name_guess) {
                        restore.fill(i, content, progress)?;
                    }
                }
                let (got_size, got_sha) =
                    hashed.finish().map_err(|e| Error::io("read archive entry", &info.path, e))?;
                if got_size != size || got_sha != sha {
                    return Err(Error::Corrupt {
                        path: archive.to_path_buf(),
                        reason: format!("{} does not match the manifest (size or SHA-256 differ)", info.path),
                    });
                }
                Ok(())
            },
        )?;
        if let Some(missing) = promised.keys().min() {
            return Err(Error::Corrupt {
                path: archive.to_path_buf(),
                reason: format!(
                    "{} manifest entries are missing from the archive, e.g. {MONGO_PREFIX}{missing}",
                    promised.len()
                ),
            });
        }
        promised.clear();
        restore.check_counts()?;
        restore.build_indexes()?;
        Ok(())
    })();
    if let Err(e) = result {
        restore.drop_staging();
        return Err(e);
    }
    restore.swap_in()
}

pub(super) struct Restore<'a> {
    client: &'a Client,
    uri: &'a str,
    tag: String,
    staged: Vec<Staged>,
    views: Vec<(String, String, Metadata)>,
    threads: usize,
}

impl<'a> Restore<'a> {
    pub(super) fn new(client: &'a Client, uri: &'a str, threads: usize) -> Self {
        Restore {
            client,
            uri,
            tag: format!("{:04x}", rand::random::<u16>()),
            staged: Vec::new(),
            views: Vec::new(),
            threads: threads.max(1),
        }
    }

    pub(super) fn begin(
        &mut self,
        target_db: String,
        name: String,
        metadata: Metadata,
        expected: Option<u64>,
    ) -> Result<()> {
        let ns_len = target_db.len() + 1 + name.len();
        if ns_len > 255 {
            return Err(Error::Mongo(format!(
                "cannot restore {name} into database {target_db}: the namespace would be {ns_len} bytes, over MongoDB's limit of 255; choose a shorter database name"
            )));
        }
        if metadata.kind == "view" {
            self.views.push((target_db, name, metadata));
            return Ok(());
        }
        // Short and independent of the name: a long collection name plus a prefix could pass
        // the server's 255-byte namespace limit.
        let staging = format!("__hrsm_restore_{}_{}", self.tag, self.staged.len());
        let db = self.client.database(&target_db);
        let _ = db.collection::<Document>(&staging).drop().run();
        let mut create = doc! {"create": &staging};
        for (k, v) in metadata.options.iter() {
            create.insert(k.clone(), v.clone());
        }
        db.run_command(create)
            .run()
            .map_err(|e| explain(self.uri, &format!("create {target_db}.{name} (staging)"), e))?;
        self.staged.push(Staged { target_db, name, staging, metadata, expected, inserted: 0 });
        Ok(())
    }

    pub(super) fn find(
        &self,
        mapping: &HashMap<String, String>,
        db: &str,
        stem: &str,
        name_guess: &str,
    ) -> Option<usize> {
        let target = mapping.get(db)?;
        let stem_name = |s: &Staged| super::layout::file_stem(&s.name);
        self.staged.iter().position(|s| &s.target_db == target && (s.name == name_guess || stem_name(s) == stem))
    }

    /// Streams a `.bson` entry into the staging collection with parallel unordered batches.
    pub(super) fn fill(&mut self, i: usize, content: &mut dyn Read, progress: &dyn Progress) -> Result<()> {
        let coll =
            self.client.database(&self.staged[i].target_db).collection::<RawDocumentBuf>(&self.staged[i].staging);
        let label = format!("{}.{}", self.staged[i].target_db, self.staged[i].name);
        let (tx, rx) = bounded::<Vec<RawDocumentBuf>>(self.threads);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let inserted = Mutex::new(0u64);
        let uri = self.uri;
        let read_result = std::thread::scope(|s| -> Result<()> {
            for _ in 0..self.threads {
                let rx = rx.clone();
                let coll = coll.clone();
                let (first_error, inserted, label) = (&first_error, &inserted, &label);
                s.spawn(move || {
                    let opts = InsertManyOptions::builder().ordered(false).bypass_document_validation(true).build();
                    for batch in rx {
                        let n = batch.len() as u64;
                        match coll.insert_many(batch).with_options(opts.clone()).run() {
                            Ok(_) => {
                                if let Ok(mut c) = inserted.lock() {
                                    *c += n;
                                }
                            }
                            Err(e) => {
                                if let Ok(mut g) = first_error.lock() {
                                    g.get_or_insert_with(|| explain(uri, &format!("insert into {label}"), e));
                                }
                            }
                        }
                    }
                });
            }
            drop(rx);
            let mut batch = Vec::with_capacity(BATCH_DOCS);
            let mut batch_bytes = 0;
            loop {
                let mut len = [0u8; 4];
                if !read_exact_or_eof(content, &mut len).map_err(|e| Error::io("read archive entry for", &label, e))? {
                    break;
                }
                let n = u32::from_le_bytes(len) as usize;
                if !(5..=48 << 20).contains(&n) {
                    return Err(Error::Mongo(format!("{label}: invalid BSON document length {n} in the backup")));
                }
                let mut bytes = vec![0u8; n];
                bytes[..4].copy_from_slice(&len);
                content.read_exact(&mut bytes[4..]).map_err(|e| Error::io("read archive entry for", &label, e))?;
                let raw = RawDocumentBuf::from_bytes(bytes)
                    .map_err(|e| Error::Mongo(format!("{label}: invalid BSON document in the backup: {e}")))?;
                progress.event(Event::Advance(n as u64));
                batch_bytes += n;
                batch.push(raw);
                if batch.len() >= BATCH_DOCS || batch_bytes >= BATCH_BYTES {
                    if tx.send(std::mem::take(&mut batch)).is_err() {
                        break;
                    }
                    batch_bytes = 0;
                }
                if first_error.lock().map(|g| g.is_some()).unwrap_or(true) {
                    break;
                }
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            drop(tx);
            Ok(())
        });
        read_result?;
        if let Some(e) = first_error.into_inner().ok().flatten() {
            return Err(e);
        }
        self.staged[i].inserted += inserted.into_inner().unwrap_or(0);
        Ok(())
    }

    pub(super) fn check_counts(&self) -> Result<()> {
        for s in &self.staged {
            if let Some(exp) = s.expected {
                if exp != s.inserted {
                    return Err(Error::Mongo(format!(
                        "{}.{}: restored {} documents but the backup's manifest says {exp}; nothing was replaced",
                        s.target_db, s.name, s.inserted
                    )));
                }
            }
        }
        Ok(())
    }

    /// Creates each view once under a scratch name and drops it: a definition the server
    /// refuses fails the restore here, before anything live is replaced.
    fn check_views(&self) -> Result<()> {
        for (i, (db, name, meta)) in self.views.iter().enumerate() {
            let scratch = format!("__hrsm_restore_{}_view{i}", self.tag);
            let database = self.client.database(db);
            let mut create = doc! {"create": &scratch};
            for (k, v) in meta.options.iter() {
                create.insert(k.clone(), v.clone());
            }
            let created = database.run_command(create).run();
            let _ = database.collection::<Document>(&scratch).drop().run();
            created.map_err(|e| explain(self.uri, &format!("create the view {db}.{name}"), e))?;
        }
        Ok(())
    }

    /// Builds the staged collections' indexes (and checks the views); the last step before
    /// anything live is replaced.
    pub(super) fn build_indexes(&self) -> Result<()> {
        self.check_views()?;
        for s in &self.staged {
            let specs: Vec<Document> = s
                .metadata
                .indexes
                .iter()
                .filter(|ix| ix.get_str("name").map(|n| n != "_id_").unwrap_or(true))
                .map(sanitize_index)
                .collect();
            if specs.is_empty() {
                continue;
            }
            let cmd = doc! {"createIndexes": &s.staging, "indexes": specs.into_iter().map(Bson::Document).collect::<Vec<_>>()};
            self.client
                .database(&s.target_db)
                .run_command(cmd)
                .run()
                .map_err(|e| explain(self.uri, &format!("build the indexes of {}.{}", s.target_db, s.name), e))?;
        }
        Ok(())
    }

    pub(super) fn drop_staging(&self) {
        for s in &self.staged {
            let _ = self.client.database(&s.target_db).collection::<Document>(&s.staging).drop().run();
        }
    }

    /// The point of no return: each staging collection replaces its live one atomically.
    pub(super) fn swap_in(self) -> Result<MongoRestoreReport> {
        let admin = self.client.database("admin");
        let mut report = MongoRestoreReport::default();
        for (n, s) in self.staged.iter().enumerate() {
            let cmd = doc! {"renameCollection": format!("{}.{}", s.target_db, s.staging), "to": format!("{}.{}", s.target_db, s.name), "dropTarget": true};
            if let Err(e) = admin.run_command(cmd).run() {
                for rest in &self.staged[n..] {
                    let _ = self.client.database(&rest.target_db).collection::<Document>(&rest.staging).drop().run();
                }
                let done: Vec<String> = report.collections.iter().map(|c| format!("{}.{}", c.db, c.name)).collect();
                return Err(Error::Mongo(format!(
                    "{} while swapping in {}.{}; already replaced: [{}]; the others are unchanged",
                    explain(self.uri, "rename the staging collection", e),
                    s.target_db,
                    s.name,
                    done.join(", ")
                )));
            }
            report.collections.push(RestoredCollection {
                db: s.target_db.clone(),
                name: s.name.clone(),
                documents: s.inserted,
            });
        }
        for (db, name, meta) in &self.views {
            let database = self.client.database(db);
            let _ = database.collection::<Document>(name).drop().run();
            let mut create = doc! {"create": name};
            for (k, v) in meta.options.iter() {
                create.insert(k.clone(), v.clone());
            }
            database
                .run_command(create)
                .run()
                .map_err(|e| explain(self.uri, &format!("create the view {db}.{name}"), e))?;
            report.views.push(format!("{db}.{name}"));
        }
        Ok(report)
    }
}

/// Fills `buf` completely, or returns false at a clean end of input.
fn read_exact_or_eof(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the BSON data ends inside a document",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Index specs as old tools wrote them (`v: 1`, keys like `true`, `""` or `0`, options like
/// `safe`) are refused by current servers; turn them into what they meant, as mongorestore's
/// `--convertLegacyIndexes` does. Valid specs pass through unchanged.
pub(super) fn sanitize_index(ix: &Document) -> Document {
    let mut out = Document::new();
    for (k, v) in ix {
        match k.as_str() {
            "ns" | "safe" | "dropDups" => {}
            "key" => {
                let mut key = Document::new();
                if let Bson::Document(d) = v {
                    for (f, val) in d {
                        key.insert(f.clone(), legacy_key_value(val));
                    }
                }
                out.insert("key", key);
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn legacy_key_value(v: &Bson) -> Bson {
    match v {
        Bson::Int32(n) if *n != 0 => v.clone(),
        Bson::Int64(n) if *n != 0 => v.clone(),
        Bson::Double(n) if *n != 0.0 && n.is_finite() => v.clone(),
        Bson::Decimal128(d) => {
            let text = d.to_string();
            match text.parse::<f64>() {
                Ok(n) if n < 0.0 => Bson::Int32(-1),
                _ => Bson::Int32(1),
            }
        }
        Bson::String(s) if !s.is_empty() => v.clone(),
        _ => Bson::Int32(1),
    }
}
