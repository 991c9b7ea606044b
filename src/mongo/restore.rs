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
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::InsertManyOptions;
use mongodb::sync::Client;
use serde::Serialize;

use super::client::{connect, explain};
use super::dump::MongoPart;
use super::layout::{parse_metadata, query_unescape, Metadata};
use super::MONGO_PREFIX;
use crate::archive::unpack::EntryInfo;
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};

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
    /// TTL indexes come back paused (their `expireAfterSeconds` at the server's maximum, about
    /// 68 years), so that documents of an old backup are not deleted within a minute; `resume_ttl`
    /// sets them back.
    pub pause_ttl: bool,
}

/// The largest `expireAfterSeconds` a server accepts: a TTL index paused by a restore.
pub const TTL_PAUSED: i64 = i32::MAX as i64;

#[derive(Debug, Clone, Default, Serialize)]
pub struct MongoRestoreReport {
    pub collections: Vec<RestoredCollection>,
    pub views: Vec<String>,
    /// TTL indexes restored paused (`db.collection: index`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ttl_paused: Vec<String>,
    /// What the cleaning of restores that were stopped found (a collection possibly half
    /// restored, a whole copy kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoredCollection {
    pub db: String,
    pub name: String,
    pub documents: u64,
    /// The file stem it came from in the archive (pairs it with the archive's `.bson`).
    #[serde(skip)]
    pub stem: Option<String>,
    /// A time series restored from its buckets: `documents` counts buckets, kept in
    /// `system.buckets.<name>`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub buckets: bool,
}

/// Every database asked for is in the backup, or an error that lists what it holds.
fn check_databases(part: &MongoPart, opts: &MongoRestoreOptions) -> Result<()> {
    for (from, _) in &opts.databases {
        if !part.databases.iter().any(|d| &d.name == from) {
            let have: Vec<&str> = part.databases.iter().map(|d| d.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "database {from:?} is not in this backup; it holds: {}",
                have.join(", ")
            )));
        }
    }
    Ok(())
}

/// One collection a restore would bring back, for a preview before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCollection {
    pub from: String,
    pub to: String,
    pub name: String,
    /// "collection", "view" or "timeseries".
    pub kind: String,
    pub documents: u64,
    /// Whether a collection of that name exists now in the target and will be replaced;
    /// None when the server was not asked.
    pub replaces: Option<bool>,
    /// TTL indexes: documents whose field is past expiry are deleted by the server within a
    /// minute of the restore, unless the restore leaves these indexes out for now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ttl: Vec<super::layout::TtlIndex>,
}

/// What restoring `opts` from the backup `manifest` would bring back, from the manifest (and,
/// with `ask_server`, which target collections exist now). Writes nothing.
pub fn plan_mongo_restore(
    manifest: &crate::archive::manifest::Manifest,
    opts: &MongoRestoreOptions,
    ask_server: bool,
) -> Result<Vec<PlannedCollection>> {
    let part = MongoPart::of(manifest).ok_or_else(|| Error::Usage("this backup holds no MongoDB data".into()))?;
    check_databases(&part, opts)?;
    let client = if ask_server { Some(connect(&opts.uri)?) } else { None };
    let mut planned = Vec::new();
    for db in &part.databases {
        let to = if opts.databases.is_empty() {
            Some(db.name.clone())
        } else {
            opts.databases.iter().find(|(f, _)| f == &db.name).map(|(_, t)| t.clone())
        };
        let Some(to) = to else { continue };
        let existing: Option<Vec<String>> = match &client {
            Some(c) => Some(
                c.database(&to)
                    .list_collection_names()
                    .run()
                    .map_err(|e| explain(&opts.uri, &format!("check database {to}"), e))?,
            ),
            None => None,
        };
        let wanted = |name: &str| opts.collections.as_ref().map(|c| c.iter().any(|n| n == name)).unwrap_or(true);
        for c in db.collections.iter().filter(|c| wanted(&c.name)) {
            planned.push(PlannedCollection {
                from: db.name.clone(),
                to: to.clone(),
                name: c.name.clone(),
                kind: c.kind.clone(),
                documents: c.documents,
                replaces: existing.as_ref().map(|e| e.contains(&c.name)),
                ttl: c.ttl.clone(),
            });
        }
    }
    if planned.is_empty() {
        return Err(Error::Usage("nothing in this backup matches the databases and collections asked for".into()));
    }
    Ok(planned)
}

/// Documents per insert: bounded by count and by bytes (whichever comes first). Larger
/// batches mean fewer round trips; the byte bound keeps memory flat (threads x 2 batches).
const BATCH_DOCS: usize = 10_000;
const BATCH_BYTES: usize = 1 << 20;

/// One collection being restored.
struct Staged {
    target_db: String,
    name: String,
    /// The archive's file stem of its `.metadata.json`: its `.bson` has the same one.
    stem: Option<String>,
    /// Filled under its own name (it did not exist): nothing to swap; dropped on failure.
    direct: bool,
    staging: String,
    /// A time series whose archive holds its measurements (`<stem>.bson`, as this program's
    /// native export kept them before it kept buckets): they go into `staging` itself, which
    /// buckets them.
    measurements: bool,
    metadata: Metadata,
    expected: Option<u64>,
    inserted: u64,
    /// Its indexes are left to its filler (built right after its documents), not to
    /// `build_indexes`.
    indexed: bool,
}

impl Staged {
    /// Where its documents go: `staging`, or for a time series kept as buckets the buckets
    /// behind it (`system.buckets.<staging>`), which take the backup's buckets as they are.
    fn data(&self) -> String {
        if self.metadata.kind == "timeseries" && !self.measurements {
            super::layout::buckets_collection(&self.staging)
        } else {
            self.staging.clone()
        }
    }
}

/// The MongoDB side of a restore, fed the archive's entries one by one by `ops::restore` (in
/// the same read as the file side). Every `mongo/` entry is checked as verify checks it (in
/// the manifest, of its size, of its SHA-256 as it streams); the selected collections are
/// filled into staging collections, and swapped in only by `swap_in`, after the whole archive
/// authenticated, every count matched and every index was built.
pub(crate) struct MongoSink<'a> {
    archive: PathBuf,
    /// Taken by `swap_in`; while it is here, dropping the sink drops the staging collections.
    restore: Option<Restore<'a>>,
    mapping: HashMap<String, String>,
    expected: HashMap<(String, String), u64>,
    collections: Option<Vec<String>>,
    /// `mongo/` files the manifest promises and not yet seen: path -> (size, SHA-256).
    promised: HashMap<String, (u64, String)>,
    total_bytes: u64,
}

impl<'a> MongoSink<'a> {
    /// From the manifest, before any other entry is read; writes nothing yet.
    pub(crate) fn prepare(
        archive: &Path,
        manifest: &crate::archive::manifest::Manifest,
        opts: &'a MongoRestoreOptions,
        client: &'a Client,
        scratch_suffix: Option<&str>,
    ) -> Result<Self> {
        let part: MongoPart = match &manifest.mongo {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| Error::Corrupt {
                path: archive.to_path_buf(),
                reason: format!("the manifest's mongo part is invalid: {e}"),
            })?,
            None => return Err(Error::Usage("this backup holds no MongoDB data".into())),
        };
        let mapping: HashMap<String, String> = if let Some(suffix) = scratch_suffix {
            part.databases.iter().map(|d| (d.name.clone(), format!("{}{suffix}", d.name))).collect()
        } else if opts.databases.is_empty() {
            part.databases.iter().map(|d| (d.name.clone(), d.name.clone())).collect()
        } else {
            check_databases(&part, opts)?;
            opts.databases.iter().cloned().collect()
        };
        let expected = part
            .databases
            .iter()
            .flat_map(|d| d.collections.iter().map(move |c| ((d.name.clone(), c.stem.clone()), c.documents)))
            .collect();
        Ok(MongoSink {
            archive: archive.to_path_buf(),
            restore: Some(Restore { pause_ttl: opts.pause_ttl, ..Restore::new(client, &opts.uri, opts.threads) }),
            mapping,
            expected,
            collections: opts.collections.clone(),
            promised: part.files_map(),
            total_bytes: part.total_bytes(),
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// One entry of the `mongo/` area. `observe(db, stem, document)` sees every document of a
    /// restored collection as it streams (the test restore digests them there).
    pub(crate) fn entry(
        &mut self,
        info: &EntryInfo,
        content: &mut dyn Read,
        progress: &dyn Progress,
        observe: &mut dyn FnMut(&str, &str, &[u8]),
    ) -> Result<()> {
        let archive = self.archive.clone();
        let Some(rel) = info.path.strip_prefix(MONGO_PREFIX) else { return Ok(()) };
        let Some((size, sha)) = self.promised.remove(rel) else {
            return Err(Error::Corrupt {
                path: archive,
                reason: format!("entry {:?} is not in the manifest (or appears twice)", info.path),
            });
        };
        if info.size != size {
            return Err(crate::archive::rules::size_lie(&archive, &info.path, info.size, Some(size)));
        }
        let mut hashed = crate::digest::HashingReader::new(content);
        let content: &mut dyn Read = &mut hashed;
        if let Some((db, file)) = rel.split_once('/') {
            if let Some(stem) = file.strip_suffix(".metadata.json") {
                let mut text = String::new();
                content.read_to_string(&mut text).map_err(|e| Error::io("read archive entry", &info.path, e))?;
                let meta = parse_metadata(&text).map_err(|reason| Error::Corrupt {
                    path: archive.clone(),
                    reason: format!("{}: {reason}", info.path),
                })?;
                let name =
                    meta.collection_name.clone().or_else(|| query_unescape(stem)).unwrap_or_else(|| stem.to_string());
                let wanted = self.collections.as_ref().map(|c| c.iter().any(|n| n == &name)).unwrap_or(true);
                if let (true, Some(target_db), Some(r)) = (wanted, self.mapping.get(db).cloned(), self.restore.as_mut())
                {
                    let exp = self.expected.get(&(db.to_string(), stem.to_string())).copied();
                    r.begin(target_db, name, meta, exp, Some(stem.to_string()))?;
                }
            } else if let Some(stem) = file.strip_suffix(".bson") {
                let name_guess = query_unescape(stem).unwrap_or_else(|| stem.to_string());
                if let Some(r) = self.restore.as_mut() {
                    if let Some(i) = r.find(&self.mapping, db, stem, &name_guess) {
                        // Observed under its collection's stem (a time series' buckets file
                        // has its own). A time series' file under its own stem holds
                        // measurements (archives of before buckets were kept).
                        let own = r.staged[i].stem.clone().unwrap_or_else(|| stem.to_string());
                        if own == stem {
                            r.set_measurements(i);
                        }
                        r.fill_observed(i, content, progress, &mut |doc: &[u8]| observe(db, &own, doc), true)?;
                    }
                }
            }
        }
        let (got_size, got_sha) = hashed.finish().map_err(|e| Error::io("read archive entry", &info.path, e))?;
        if got_size != size || got_sha != sha {
            return Err(Error::Corrupt {
                path: archive,
                reason: format!("{} does not match the manifest (size or SHA-256 differ)", info.path),
            });
        }
        Ok(())
    }

    /// After the whole archive authenticated: nothing promised is missing, every count
    /// matches, every index is built. Nothing live has been touched yet.
    pub(crate) fn ready(&mut self) -> Result<()> {
        let clock = std::time::Instant::now();
        let result = self.ready_inner();
        tracing::info!("restore: counts checked and indexes built in {:.2} s", clock.elapsed().as_secs_f64());
        result
    }

    fn ready_inner(&mut self) -> Result<()> {
        if let Some(missing) = self.promised.keys().min() {
            return Err(Error::Corrupt {
                path: self.archive.clone(),
                reason: format!(
                    "{} manifest entries are missing from the archive, e.g. {MONGO_PREFIX}{missing}",
                    self.promised.len()
                ),
            });
        }
        match &mut self.restore {
            Some(r) => {
                r.check_counts()?;
                r.build_indexes()
            }
            None => Ok(()),
        }
    }

    /// Swaps every staging collection in (`renameCollection ... dropTarget`) and makes views.
    pub(crate) fn swap_in(mut self) -> Result<MongoRestoreReport> {
        let clock = std::time::Instant::now();
        let result = match self.restore.take() {
            Some(r) => r.swap_in(),
            None => Ok(MongoRestoreReport::default()),
        };
        tracing::info!("restore: staging collections swapped in in {:.2} s", clock.elapsed().as_secs_f64());
        result
    }
}

impl Drop for MongoSink<'_> {
    /// A restore that ended before `swap_in` (an error, a cancel, a damaged archive) leaves no
    /// staging collection behind, and never touched a live one.
    fn drop(&mut self) {
        if let Some(r) = &mut self.restore {
            r.drop_staging();
        }
    }
}

pub(crate) struct Restore<'a> {
    client: &'a Client,
    uri: &'a str,
    tag: String,
    staged: Vec<Staged>,
    views: Vec<(String, String, Metadata)>,
    threads: usize,
    /// The collections each target database had when the restore began.
    existing: HashMap<String, Vec<String>>,
    /// Where documents wait for their filler (made on the first collection).
    spool: Option<crate::store::spool::Spool>,
    /// Filler threads, oldest first: (staged index, its count or error).
    fillers: std::collections::VecDeque<(usize, std::thread::JoinHandle<Result<u64>>)>,
    /// Tells the fillers to stop (an error elsewhere, a cancel, a failed restore).
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Spool files made so far (their names).
    spooled: u64,
    /// Restore TTL indexes paused (`MongoRestoreOptions::pause_ttl`).
    pub(super) pause_ttl: bool,
    ttl_paused: Vec<String>,
    /// What this restore created on the server, written down for a restore after a kill
    /// (made with the first collection).
    journal: Option<super::journal::Journal>,
    /// What an admin should know from the cleaning of stopped restores (the report's).
    warnings: Vec<String>,
}

impl<'a> Restore<'a> {
    pub(super) fn new(client: &'a Client, uri: &'a str, threads: usize) -> Self {
        // What a restore killed on this server left (staging collections, half-filled new
        // ones) goes first.
        let cleaned = super::journal::clean_dead(&journal_server(uri), |db, coll| {
            client.database(db).collection::<Document>(coll).drop().run().is_ok()
        });
        for gone in &cleaned.dropped {
            tracing::warn!("removed {gone}, left by a restore that was stopped");
        }
        for w in &cleaned.warnings {
            tracing::warn!("{w}");
        }
        Restore {
            client,
            uri,
            tag: format!("{:016x}", rand::random::<u64>()),
            staged: Vec::new(),
            views: Vec::new(),
            threads: threads.max(1),
            existing: HashMap::new(),
            spool: None,
            fillers: Default::default(),
            stop: Default::default(),
            spooled: 0,
            pause_ttl: false,
            ttl_paused: Vec::new(),
            journal: None,
            warnings: cleaned.warnings,
        }
    }

    /// The collections `db` had before this restore touched it (asked once per database).
    fn existing(&mut self, db: &str) -> Result<&Vec<String>> {
        if !self.existing.contains_key(db) {
            let names = self
                .client
                .database(db)
                .list_collection_names()
                .run()
                .map_err(|e| explain(self.uri, &format!("list the collections of {db}"), e))?;
            self.existing.insert(db.to_string(), names);
        }
        Ok(&self.existing[db])
    }

    pub(super) fn begin(
        &mut self,
        target_db: String,
        name: String,
        metadata: Metadata,
        expected: Option<u64>,
        stem: Option<String>,
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
        // A collection that does not exist in the target is filled under its own name: if the
        // restore fails, dropping it puts the target back as it was (without it), so the
        // staging guarantee holds without a rename (which copies every document on some
        // servers). One that exists is filled beside it and swapped in at the end.
        let db = self.client.database(&target_db);
        let exists = self.existing(&target_db)?.iter().any(|n| n == &name);
        // Short and independent of the name: a long collection name plus a prefix could pass
        // the server's 255-byte namespace limit.
        let staging = if exists { format!("__hrsm_restore_{}_{}", self.tag, self.staged.len()) } else { name.clone() };
        if exists {
            let _ = db.collection::<Document>(&staging).drop().run();
        }
        journal(&mut self.journal, &self.tag, self.uri)?.created(
            &target_db,
            &staging,
            !exists,
            metadata.kind == "timeseries",
        )?;
        db.run_command(create_command(&staging, &metadata, self.pause_ttl))
            .run()
            .map_err(|e| explain(self.uri, &format!("create {target_db}.{name} (staging)"), e))?;
        let timeseries = metadata.kind == "timeseries";
        if timeseries && self.pause_ttl && metadata.options.contains_key("expireAfterSeconds") {
            self.ttl_paused.push(format!("{target_db}.{name}: {}", super::layout::TIMESERIES_TTL));
        }
        self.staged.push(Staged {
            target_db,
            name,
            stem,
            staging,
            measurements: false,
            direct: !exists,
            metadata,
            expected,
            inserted: 0,
            indexed: false,
        });
        Ok(())
    }

    /// Collection `i` is a time series whose file holds its measurements, not its buckets.
    pub(super) fn set_measurements(&mut self, i: usize) {
        if self.staged[i].metadata.kind == "timeseries" {
            self.staged[i].measurements = true;
        }
    }

    pub(super) fn find(
        &self,
        mapping: &HashMap<String, String>,
        db: &str,
        stem: &str,
        name_guess: &str,
    ) -> Option<usize> {
        let target = mapping.get(db)?;
        // The stem its metadata came under first (exact, whatever escaping wrote the archive),
        // then the name.
        // A time series' file is its buckets' (or, in archives of before, its own stem's).
        let same_stem = |s: &Staged| {
            !stem.is_empty()
                && s.stem
                    .as_deref()
                    .is_some_and(|st| st == stem || super::layout::data_stem(&s.metadata.kind, &s.name, st) == stem)
        };
        self.staged
            .iter()
            .position(|s| &s.target_db == target && same_stem(s))
            .or_else(|| self.staged.iter().position(|s| &s.target_db == target && s.name == name_guess))
    }

    /// Streams a `.bson` entry into the staging collection with parallel unordered batches.
    /// `whole`: the entry holds all of the collection's documents (not one segment of a
    /// mongodump archive), so its indexes are built as soon as it is filled.
    pub(super) fn fill(
        &mut self,
        i: usize,
        content: &mut dyn Read,
        progress: &dyn Progress,
        whole: bool,
    ) -> Result<()> {
        self.fill_observed(i, content, progress, &mut |_| {}, whole)
    }

    /// `fill`, showing each document to `observe` as it goes by. The documents are checked
    /// and written to a private local spool file as the archive streams (fast); a filler
    /// thread inserts them from that file as they arrive (`store::growing`) and carries on
    /// while the archive reader moves to the next collection. The server takes inserts into
    /// different collections in parallel but not into one (measured on the test server: two
    /// collections at once 1.5x, four streams into one no faster), so up to `threads`
    /// collections fill at once. A whole collection's indexes are built by its filler right
    /// after its documents, while the other collections still fill. Memory stays flat (one
    /// batch per filler).
    pub(super) fn fill_observed(
        &mut self,
        i: usize,
        content: &mut dyn Read,
        progress: &dyn Progress,
        observe: &mut dyn FnMut(&[u8]),
        whole: bool,
    ) -> Result<()> {
        let label = match self.staged[i].metadata.kind.as_str() {
            "timeseries" => {
                format!("the buckets of the time series {}.{}", self.staged[i].target_db, self.staged[i].name)
            }
            _ => format!("{}.{}", self.staged[i].target_db, self.staged[i].name),
        };
        if self.spool.is_none() {
            self.spool = Some(crate::store::spool::Spool::create(&format!("restore-{}", self.tag))?);
        }
        let Some(spool) = &self.spool else { unreachable!("the spool was made on the line above") };
        // One file per call: a mongodump archive gives a collection in several segments.
        self.spooled += 1;
        let path = spool.path().join(format!("{i}-{}.bson", self.spooled));
        self.wait_for_a_slot(progress)?;
        let (mut out, input) = crate::store::growing::create(&path, self.stop.clone())?;
        let indexes = if whole && !self.staged[i].indexed {
            let mut paused = Vec::new();
            let specs = self.index_specs(&self.staged[i], &mut paused);
            self.ttl_paused.extend(paused);
            self.staged[i].indexed = true;
            Some(specs)
        } else {
            None
        };
        let s = &self.staged[i];
        let db = self.client.database(&s.target_db);
        let coll = db.collection::<RawDocumentBuf>(&s.data());
        let (staging, name) = (s.staging.clone(), format!("{}.{}", s.target_db, s.name));
        let (stop, uri, filler_path, filler_label) =
            (self.stop.clone(), self.uri.to_string(), path.clone(), label.clone());
        // Two connections per collection: measured to help (1.6x with four into one), while
        // the collections themselves fill side by side.
        let workers = self.threads.div_ceil(2).clamp(1, 2);
        let handle = std::thread::spawn(move || {
            let n = insert_file(&coll, input, &filler_path, &filler_label, &uri, &stop, workers)?;
            // Stopped (a cancel, another collection failed): no index build to wait for.
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            if let Some(specs) = indexes {
                build_indexes_of(&db, &staging, specs, &name, &uri)?;
            }
            Ok(n)
        });
        self.fillers.push_back((i, handle));
        let werr = |e: std::io::Error| Error::io("write", &path, e);
        // Documents are read a few hundred bytes at a time; unbuffered, each read went down to
        // the gzip decoder, which then inflated and checksummed a few bytes per call (a
        // quarter of a restore's own CPU time, measured with perf).
        let mut content = std::io::BufReader::with_capacity(256 << 10, content);
        let content = &mut content;
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
            bson::RawDocument::from_bytes(&bytes)
                .map_err(|e| Error::Mongo(format!("{label}: invalid BSON document in the backup: {e}")))?;
            observe(&bytes);
            out.write_all(&bytes).map_err(werr)?;
            progress.event(Event::Advance(n as u64));
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
        }
        out.finish().map_err(werr)?;
        if self.staged.len() > 1 {
            crate::fault::point("restore-mid-fill");
        }
        Ok(())
    }

    /// Waits until fewer than `threads` fillers run, taking the count (or error) of each that
    /// ended, whichever ended first; a cancel ends the wait.
    fn wait_for_a_slot(&mut self, progress: &dyn Progress) -> Result<()> {
        while self.fillers.len() >= self.threads {
            match self.fillers.iter().position(|(_, h)| h.is_finished()) {
                Some(at) => {
                    // Moved to the front, then joined as the oldest.
                    if let Some(done) = self.fillers.remove(at) {
                        self.fillers.push_front(done);
                    }
                    self.join_oldest()?;
                }
                None if progress.cancelled() => return Err(Error::Cancelled),
                None => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        Ok(())
    }

    /// Waits for the oldest filler and takes its count (or its error, which stops the rest).
    fn join_oldest(&mut self) -> Result<()> {
        let Some((i, handle)) = self.fillers.pop_front() else { return Ok(()) };
        let result = handle.join().unwrap_or_else(|_| {
            Err(Error::Mongo("an insert worker stopped unexpectedly; nothing was replaced".into()))
        });
        match result {
            Ok(n) => {
                self.staged[i].inserted += n;
                Ok(())
            }
            Err(e) => {
                self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Waits for every filler; the first error, after all of them stopped.
    pub(super) fn finish_fills(&mut self) -> Result<()> {
        let mut first = None;
        while !self.fillers.is_empty() {
            if let Err(e) = self.join_oldest() {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) fn check_counts(&mut self) -> Result<()> {
        self.finish_fills()?;
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
    fn check_views(&mut self) -> Result<()> {
        for (i, (db, name, meta)) in self.views.iter().enumerate() {
            let scratch = format!("__hrsm_restore_{}_view{i}", self.tag);
            journal(&mut self.journal, &self.tag, self.uri)?.created(db, &scratch, false, false)?;
            let database = self.client.database(db);
            let created = database.run_command(create_command(&scratch, meta, false)).run();
            let _ = database.collection::<Document>(&scratch).drop().run();
            created.map_err(|e| explain(self.uri, &format!("create the view {db}.{name}"), e))?;
        }
        Ok(())
    }

    /// Builds the indexes of the staged collections whose fillers did not (and checks the
    /// views); the last step before anything live is replaced.
    pub(super) fn build_indexes(&mut self) -> Result<()> {
        self.check_views()?;
        let mut paused = Vec::new();
        for s in self.staged.iter().filter(|s| !s.indexed) {
            let specs = self.index_specs(s, &mut paused);
            let label = format!("{}.{}", s.target_db, s.name);
            build_indexes_of(&self.client.database(&s.target_db), &s.staging, specs, &label, self.uri)?;
        }
        self.ttl_paused.extend(paused);
        Ok(())
    }

    /// The indexes to build on `s`: the backup's, less those the server makes itself, TTL ones
    /// paused when asked (each named in `paused`).
    fn index_specs(&self, s: &Staged, paused: &mut Vec<String>) -> Vec<Document> {
        s.metadata
            .indexes
            .iter()
            .filter(|ix| !builds_itself(ix, &s.metadata.options))
            .map(|ix| {
                let mut spec = sanitize_index(ix);
                if self.pause_ttl && spec.contains_key("expireAfterSeconds") {
                    spec.insert("expireAfterSeconds", TTL_PAUSED);
                    paused.push(format!("{}.{}: {}", s.target_db, s.name, spec.get_str("name").unwrap_or("?")));
                }
                spec
            })
            .collect()
    }

    pub(super) fn drop_staging(&mut self) {
        // Fillers first: an insert still running would create the collection again.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.finish_fills();
        for s in &self.staged {
            let _ = self.client.database(&s.target_db).collection::<Document>(&s.staging).drop().run();
        }
        if let Some(j) = self.journal.take() {
            j.finish();
        }
    }

    /// The point of no return: each staging collection replaces its live one atomically.
    pub(super) fn swap_in(mut self) -> Result<MongoRestoreReport> {
        // Every filler is done before anything is renamed (a no-op after `check_counts`), and
        // the journal says the swap begins; if either fails, nothing live was touched yet.
        let ready = self.finish_fills().and_then(|()| match self.journal.as_mut() {
            Some(j) => j.swapping(),
            None => Ok(()),
        });
        if let Err(e) = ready {
            self.drop_staging();
            return Err(Error::Mongo(format!("{e}; nothing was replaced")));
        }
        crate::fault::point("restore-before-swap");
        let mut report = MongoRestoreReport {
            ttl_paused: std::mem::take(&mut self.ttl_paused),
            warnings: std::mem::take(&mut self.warnings),
            ..Default::default()
        };
        let mut journal = self.journal.take();
        let result = self.swap_all(&mut report, &mut journal);
        if let Some(j) = journal {
            j.finish();
        }
        result.map(|()| report)
    }

    fn swap_all(&self, report: &mut MongoRestoreReport, journal: &mut Option<super::journal::Journal>) -> Result<()> {
        let admin = self.client.database("admin");
        for (n, s) in self.staged.iter().enumerate() {
            let cmd = doc! {"renameCollection": format!("{}.{}", s.target_db, s.staging), "to": format!("{}.{}", s.target_db, s.name), "dropTarget": true};
            let swapped = if s.direct {
                // Already in place under its own name.
                Ok(())
            } else if s.metadata.kind == "timeseries" {
                self.replace_timeseries(s, journal)
            } else {
                admin
                    .run_command(cmd)
                    .run()
                    .map(|_| ())
                    .map_err(|e| (explain(self.uri, "rename the staging collection", e), false))
            };
            if let Err((e, live_gone)) = swapped {
                // The rest, staged or new, go: their targets stay as they were. A time series
                // whose live one is already gone keeps its staging copy: the only whole one.
                let keep = if live_gone { n + 1 } else { n };
                for rest in &self.staged[keep..] {
                    let _ = self.client.database(&rest.target_db).collection::<Document>(&rest.staging).drop().run();
                }
                let done: Vec<String> = report.collections.iter().map(|c| format!("{}.{}", c.db, c.name)).collect();
                return Err(Error::Mongo(format!(
                    "{e} while swapping in {}.{}; already replaced: [{}]; the others are unchanged",
                    s.target_db,
                    s.name,
                    done.join(", ")
                )));
            }
            report.collections.push(RestoredCollection {
                db: s.target_db.clone(),
                name: s.name.clone(),
                documents: s.inserted,
                stem: s.stem.clone(),
                buckets: s.metadata.kind == "timeseries" && !s.measurements,
            });
        }
        for (db, name, meta) in &self.views {
            let database = self.client.database(db);
            let _ = database.collection::<Document>(name).drop().run();
            database
                .run_command(create_command(name, meta, false))
                .run()
                .map_err(|e| explain(self.uri, &format!("create the view {db}.{name}"), e))?;
            report.views.push(format!("{db}.{name}"));
        }
        Ok(())
    }
}

impl Restore<'_> {
    /// A time series cannot be renamed (MongoDB refuses it), so the staged one cannot simply
    /// take the live one's place: the live one is dropped and made again with the backup's
    /// options, and the staged buckets, already checked, counted and indexed, are copied into
    /// it on the server's side of the connection, raw; then its indexes are built and the
    /// staging copy goes. A failure on the way says that the staging copy still holds
    /// everything.
    /// Errs with whether the live one was already dropped.
    fn replace_timeseries(
        &self,
        s: &Staged,
        journal: &mut Option<super::journal::Journal>,
    ) -> std::result::Result<(), (Error, bool)> {
        if let Some(j) = journal.as_mut() {
            j.replacing(&s.target_db, &s.staging, &s.name).map_err(|e| (e, false))?;
        }
        let db = self.client.database(&s.target_db);
        let keep = |e: Error| {
            (
                Error::Mongo(format!(
                    "{e}; the live {0} was removed, and the restored data is complete in {1}.{2}: \
                     restore again, or copy it from {1}.{2}",
                    s.name, s.target_db, s.staging
                )),
                true,
            )
        };
        db.collection::<Document>(&s.name)
            .drop()
            .run()
            .map_err(|e| (explain(self.uri, "drop the live time series", e), false))?;
        db.run_command(create_command(&s.name, &s.metadata, self.pause_ttl))
            .run()
            .map_err(|e| keep(explain(self.uri, &format!("create {}.{}", s.target_db, s.name), e)))?;
        // Buckets as they are; measurements (an archive of before buckets were kept) through
        // the time series itself, which buckets them again.
        let (from, to) =
            (s.data(), if s.measurements { s.name.clone() } else { super::layout::buckets_collection(&s.name) });
        let (from, to) = (db.collection::<RawDocumentBuf>(&from), db.collection::<RawDocumentBuf>(&to));
        let opts = InsertManyOptions::builder().ordered(false).bypass_document_validation(true).build();
        let mut cursor = from.find(doc! {}).run().map_err(|e| keep(explain(self.uri, "read the staged buckets", e)))?;
        let (mut batch, mut bytes) = (Vec::new(), 0usize);
        loop {
            let next = cursor.next().transpose().map_err(|e| keep(explain(self.uri, "read the staged buckets", e)))?;
            let flush = next.is_none() || batch.len() >= BATCH_DOCS || bytes >= BATCH_BYTES;
            if flush && !batch.is_empty() {
                to.insert_many(std::mem::take(&mut batch))
                    .with_options(opts.clone())
                    .run()
                    .map_err(|e| keep(explain(self.uri, "copy the buckets", e)))?;
                bytes = 0;
            }
            let Some(doc) = next else { break };
            bytes += doc.as_bytes().len();
            batch.push(doc);
        }
        let specs: Vec<Bson> = self.index_specs(s, &mut Vec::new()).into_iter().map(Bson::Document).collect();
        if !specs.is_empty() {
            db.run_command(doc! {"createIndexes": &s.name, "indexes": specs})
                .run()
                .map_err(|e| keep(explain(self.uri, &format!("build the indexes of {}.{}", s.target_db, s.name), e)))?;
        }
        let _ = db.collection::<Document>(&s.staging).drop().run();
        Ok(())
    }
}

/// The server as journals name it: its hosts only (no user, password, database or options).
fn journal_server(uri: &str) -> String {
    crate::uri::server_of_uri(uri).unwrap_or_else(|| super::client::redact_uri(uri))
}

/// The restore's journal, made with the first collection it creates.
fn journal<'j>(
    slot: &'j mut Option<super::journal::Journal>,
    tag: &str,
    uri: &str,
) -> Result<&'j mut super::journal::Journal> {
    if slot.is_none() {
        *slot = Some(super::journal::Journal::create(tag, &journal_server(uri))?);
    }
    slot.as_mut().ok_or_else(|| Error::Mongo("the restore journal could not be made".into()))
}

/// `create` for a collection named `name` with the backup's options. A time series' derived
/// `bucketMaxSpanSeconds` is left out when its `granularity` is there (the server derives the
/// same value from it; some servers refuse the pair without `bucketRoundingSeconds`); with
/// `pause_ttl`, its own expiry is paused like a TTL index.
fn create_command(name: &str, metadata: &Metadata, pause_ttl: bool) -> Document {
    let mut create = doc! {"create": name};
    for (k, v) in metadata.options.iter() {
        let mut v = v.clone();
        if pause_ttl && k == "expireAfterSeconds" && metadata.kind == "timeseries" {
            v = Bson::Int64(TTL_PAUSED);
        }
        if let (true, Bson::Document(ts)) = (k == "timeseries", &mut v) {
            if ts.contains_key("granularity") && !ts.contains_key("bucketRoundingSeconds") {
                ts.remove("bucketMaxSpanSeconds");
            }
        }
        create.insert(k.clone(), v);
    }
    create
}

/// A filler: inserts the documents of a spool file (`path`, read through `input` as it is
/// written) into `coll` in unordered batches (bounded by count and bytes) over `workers`
/// connections, then removes the file. Returns how many went in.
fn insert_file(
    coll: &mongodb::sync::Collection<RawDocumentBuf>,
    input: crate::store::growing::GrowingReader,
    path: &Path,
    label: &str,
    uri: &str,
    stop: &std::sync::atomic::AtomicBool,
    workers: usize,
) -> Result<u64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let clock = std::time::Instant::now();
    let mut input = std::io::BufReader::with_capacity(256 << 10, input);
    let inserted = AtomicU64::new(0);
    let first_error: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let failed = || first_error.lock().map(|g| g.is_some()).unwrap_or(true);
    let read = std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<RawDocumentBuf>>(1);
        for _ in 0..workers.max(1) {
            let (rx, inserted, first_error) = (rx.clone(), &inserted, &first_error);
            s.spawn(move || {
                let opts = InsertManyOptions::builder().ordered(false).bypass_document_validation(true).build();
                for batch in rx {
                    let n = batch.len() as u64;
                    match coll.insert_many(batch).with_options(opts.clone()).run() {
                        Ok(_) => {
                            inserted.fetch_add(n, Ordering::Relaxed);
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
        let (mut batch, mut batch_bytes) = (Vec::with_capacity(1024), 0usize);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            if failed() {
                break;
            }
            let mut len = [0u8; 4];
            if !read_exact_or_eof(&mut input, &mut len).map_err(|e| Error::io("read", path, e))? {
                break;
            }
            let n = u32::from_le_bytes(len) as usize;
            let mut bytes = vec![0u8; n];
            bytes[..4].copy_from_slice(&len);
            input.read_exact(&mut bytes[4..]).map_err(|e| Error::io("read", path, e))?;
            let raw = RawDocumentBuf::from_bytes(bytes).map_err(|e| Error::Mongo(format!("{label}: {e}")))?;
            batch_bytes += n;
            batch.push(raw);
            if batch.len() >= BATCH_DOCS || batch_bytes >= BATCH_BYTES {
                if tx.send(std::mem::take(&mut batch)).is_err() {
                    break;
                }
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        Ok(())
    });
    let _ = std::fs::remove_file(path);
    read?;
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let inserted = inserted.into_inner();
    tracing::info!("restore: {label} filled ({inserted} documents) in {:.2} s", clock.elapsed().as_secs_f64());
    Ok(inserted)
}

/// Indexes the server makes itself when the collection is created: `_id_`, and the clustered
/// index of a clustered collection (it comes back through the `clusteredIndex` option of
/// `create`; building it again fails with "The field 'unique' is not valid for an _id index
/// specification", code 197).
fn builds_itself(ix: &Document, options: &Document) -> bool {
    let name = ix.get_str("name").unwrap_or("");
    let clustered_name = options.get_document("clusteredIndex").ok().and_then(|c| c.get_str("name").ok());
    name == "_id_" || ix.get_bool("clustered").unwrap_or(false) || Some(name) == clustered_name
}

/// Builds `specs` on `collection` (none: nothing to do).
fn build_indexes_of(
    db: &mongodb::sync::Database,
    collection: &str,
    specs: Vec<Document>,
    label: &str,
    uri: &str,
) -> Result<()> {
    if specs.is_empty() {
        return Ok(());
    }
    let clock = std::time::Instant::now();
    let cmd = doc! {"createIndexes": collection, "indexes": specs.into_iter().map(Bson::Document).collect::<Vec<_>>()};
    db.run_command(cmd).run().map_err(|e| explain(uri, &format!("build the indexes of {label}"), e))?;
    tracing::info!("restore: indexes of {label} built in {:.2} s", clock.elapsed().as_secs_f64());
    Ok(())
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

/// Sets the TTL indexes a restore paused (`pause_ttl`) back to their values in the backup's
/// manifest; `databases` maps the backup's names to the restored ones (empty: same names).
/// An index no longer paused (changed since) is left as it is. Returns what was resumed.
/// The `expireAfterSeconds` option time series `db.name` has now, if any.
fn timeseries_expiry(client: &Client, db: &str, name: &str) -> Option<i64> {
    let mut cursor =
        client.database(db).run_cursor_command(doc! {"listCollections": 1, "filter": {"name": name}}).run().ok()?;
    if !cursor.advance().ok()? {
        return None;
    }
    let d: Document = cursor.deserialize_current().ok()?;
    super::layout::bson_seconds(d.get_document("options").ok()?.get("expireAfterSeconds")?)
}

pub fn resume_ttl(
    uri: &str,
    manifest: &crate::archive::manifest::Manifest,
    databases: &[(String, String)],
) -> Result<Vec<String>> {
    let part = MongoPart::of(manifest).ok_or_else(|| Error::Usage("this backup holds no MongoDB data".into()))?;
    let client = connect(uri)?;
    let mut resumed = Vec::new();
    let mut held_paused = Vec::new();
    for db in &part.databases {
        let to = if databases.is_empty() {
            db.name.clone()
        } else {
            match databases.iter().find(|(f, _)| f == &db.name) {
                Some((_, t)) => t.clone(),
                None => continue,
            }
        };
        for c in db.collections.iter().filter(|c| !c.ttl.is_empty()) {
            let coll = client.database(&to).collection::<Document>(&c.name);
            let now: Vec<mongodb::IndexModel> = match coll.list_indexes().run() {
                Ok(cursor) => cursor.filter_map(|ix| ix.ok()).collect(),
                Err(_) => continue, // not restored here
            };
            for t in &c.ttl {
                // This backup was made while the rule was paused: it does not know the rule's
                // value; the backup that was restored does.
                if t.seconds == TTL_PAUSED {
                    held_paused.push(format!("{to}.{}: {}", c.name, t.index));
                    continue;
                }
                let own = c.kind == "timeseries" && t.index == super::layout::TIMESERIES_TTL;
                let paused = if own {
                    // A time series' own expiry is a collection option, not an index.
                    timeseries_expiry(&client, &to, &c.name) == Some(TTL_PAUSED)
                } else {
                    now.iter().filter_map(|ix| ix.options.as_ref()).any(|o| {
                        o.name.as_deref() == Some(t.index.as_str())
                            && o.expire_after == Some(std::time::Duration::from_secs(TTL_PAUSED as u64))
                    })
                };
                if !paused {
                    continue;
                }
                let cmd = if own {
                    doc! {"collMod": &c.name, "expireAfterSeconds": t.seconds}
                } else {
                    doc! {"collMod": &c.name, "index": {"name": &t.index, "expireAfterSeconds": t.seconds}}
                };
                client
                    .database(&to)
                    .run_command(cmd)
                    .run()
                    .map_err(|e| explain(uri, &format!("resume the TTL index {} of {to}.{}", t.index, c.name), e))?;
                resumed.push(format!("{to}.{}: {}", c.name, t.index));
            }
        }
    }
    if resumed.is_empty() && !held_paused.is_empty() {
        return Err(Error::Usage(format!(
            "this backup was made while the expiry rules of {} were paused, so it cannot tell their value; turn them back on with the backup that was restored",
            held_paused.join(", ")
        )));
    }
    Ok(resumed)
}
