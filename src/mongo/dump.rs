//! Exports the configured databases into a spool folder in exactly the layout of
//! `mongodump --out` (`<db>/<stem>.bson` + `<stem>.metadata.json`), with `mongodump` when it is
//! installed, else natively through the driver: raw BSON from the cursor straight to the file
//! (never decoded), collections in parallel, and on a replica set every collection of every
//! database read at one cluster time (snapshot sessions sharing `atClusterTime`).
//!
//! Depends on `mongo::{client, layout, tools}`, `progress`, `fsutil` and `error`.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bson::{doc, Document, Timestamp};
use mongodb::sync::{Client, ClientSession};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::{connect, explain, redact_uri, server_info};
use super::layout::{buckets_collection, data_stem, file_stem, metadata_json, skipped_collection, CollectionInfo};
use super::tools::{dump_args, find_tool, run_tool, ToolConfig};
use crate::error::{Error, Result};
use crate::fsutil::create_private_dir_all;
use crate::progress::{Event, Progress};

/// Documents per cursor batch: keeps the driver's buffers (and so our memory) small and flat
/// however large a collection is; the server otherwise sends batches of up to 16 MiB.
const BATCH_DOCS: u32 = 2000;
/// A progress detail ("hrms.users: 10000 of about 300000 documents") every this many documents.
const DETAIL_EVERY: u64 = 10_000;

/// Where and what to dump.
#[derive(Debug, Clone)]
pub struct MongoSource {
    pub uri: String,
    pub databases: Vec<String>,
    /// Folder of mongodump/mongorestore; None = PATH.
    pub tools_dir: Option<PathBuf>,
    /// Use the tools when found (the default); false forces the native path.
    pub use_tools: bool,
    pub threads: usize,
    /// `<db>.<collection>` receiving one document per run (`hrms.backuplogs`); None = none.
    pub log_collection: Option<String>,
    /// Backed up when they exist (a default that not every site has).
    pub optional: Vec<String>,
    /// Per-company databases: every database on the server whose name matches this glob.
    pub tenant_pattern: Option<String>,
    /// Databases on other servers (the license server's own), in the same archive.
    pub other_servers: Vec<MongoSource>,
}

impl MongoSource {
    /// Required databases only, on one server: what tests and explicit lists ask for.
    pub fn new(uri: impl Into<String>, databases: Vec<String>) -> Self {
        MongoSource {
            uri: uri.into(),
            databases,
            tools_dir: None,
            use_tools: true,
            threads: 0,
            log_collection: None,
            optional: Vec::new(),
            tenant_pattern: None,
            other_servers: Vec::new(),
        }
    }

    /// The databases to dump from a server that has `existing`: the required ones (each must
    /// exist), the optional ones that exist, and those matching the tenant pattern; in that
    /// order, each once.
    pub fn resolve(&self, existing: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for db in &self.databases {
            if !existing.contains(db) {
                return Err(Error::Mongo(format!(
                    "database '{db}' does not exist on {} (it has: {}); check mongodb.databases (or the database named in the connection string) in the config",
                    redact_uri(&self.uri),
                    existing
                        .iter()
                        .filter(|d| !SYSTEM_DATABASES.contains(&d.as_str()))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            out.push(db.clone());
        }
        out.extend(self.optional.iter().filter(|d| existing.contains(d)).cloned());
        if let Some(p) = self.tenant_pattern.as_deref().filter(|p| !p.is_empty()) {
            let glob = globset::Glob::new(p)
                .map_err(|e| Error::Config(format!("mongodb.tenant_databases: bad pattern {p:?}: {e}")))?
                .compile_matcher();
            let mut tenants: Vec<&String> = existing
                .iter()
                .filter(|d| !SYSTEM_DATABASES.contains(&d.as_str()) && glob.is_match(d.as_str()))
                .collect();
            tenants.sort();
            out.extend(tenants.into_iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|d| seen.insert(d.clone()));
        Ok(out)
    }
}

const SYSTEM_DATABASES: [&str; 3] = ["admin", "local", "config"];

/// The manifest's `mongo` part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MongoPart {
    /// "native" or "mongodump".
    pub method: String,
    /// Why the method was chosen when it was not the preferred one.
    #[serde(default)]
    pub method_note: Option<String>,
    /// The URI without password.
    pub uri: String,
    /// True when all collections were read at one point in time.
    pub consistent: bool,
    pub consistency: String,
    #[serde(default)]
    pub cluster_time: Option<String>,
    pub databases: Vec<DatabasePart>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatabasePart {
    pub name: String,
    /// The server it came from (without password) when it is not the main one (`MongoPart::uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub server_version: String,
    pub collections: Vec<CollectionPart>,
    /// Every file of `mongo/<db>/` with size and SHA-256, for verification.
    pub files: Vec<FilePart>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollectionPart {
    pub name: String,
    /// File name stem in `mongo/<db>/` (mongodump's escaping).
    pub stem: String,
    /// "collection", "view" or "timeseries".
    pub kind: String,
    /// Documents of its `.bson` file: for a time series, its buckets (each holds several
    /// measurements).
    pub documents: u64,
    pub bytes: u64,
    /// SHA-256 of the `.bson` file; None for views.
    pub sha256: Option<String>,
    /// Its TTL indexes (absent in archives written before they were recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ttl: Vec<super::layout::TtlIndex>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FilePart {
    /// Path relative to `mongo/`, e.g. `hrms/users.bson`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl MongoPart {
    /// The mongo part of a manifest, if it has one.
    pub fn of(m: &crate::archive::manifest::Manifest) -> Option<MongoPart> {
        m.mongo.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn total_documents(&self) -> u64 {
        self.databases.iter().flat_map(|d| &d.collections).map(|c| c.documents).sum()
    }
    /// Every `mongo/` file the manifest promises: path under `mongo/` -> (size, SHA-256).
    pub fn files_map(&self) -> std::collections::HashMap<String, (u64, String)> {
        self.databases
            .iter()
            .flat_map(|d| d.files.iter())
            .map(|f| (f.path.clone(), (f.size, f.sha256.clone())))
            .collect()
    }

    pub fn total_bytes(&self) -> u64 {
        self.databases.iter().flat_map(|d| &d.files).map(|f| f.size).sum()
    }
}

/// Dumps every configured database into `spool` and describes what it wrote.
pub fn dump(src: &MongoSource, spool: &Path, progress: &dyn Progress) -> Result<MongoPart> {
    let mut part = dump_server(src, spool, progress)?;
    for other in &src.other_servers {
        let more = dump_server(other, spool, progress)?;
        for db in more.databases {
            if part.databases.iter().any(|d| d.name == db.name) {
                return Err(Error::Config(format!(
                    "database '{}' is on both {} and {}; one backup cannot hold two databases of one name: \
                     list the databases to back up in mongodb.databases",
                    db.name, part.uri, more.uri
                )));
            }
            part.databases.push(DatabasePart { server: Some(more.uri.clone()), ..db });
        }
        if !more.consistent {
            part.consistent = false;
        }
        part.consistency = format!("{}; {}: {}", part.consistency, more.uri, more.consistency);
    }
    Ok(part)
}

/// The databases of one server.
fn dump_server(src: &MongoSource, spool: &Path, progress: &dyn Progress) -> Result<MongoPart> {
    progress.event(Event::Phase("dumping"));
    let client = connect(&src.uri)?;
    let info = server_info(&client, &src.uri)?;
    let existing: Vec<String> =
        client.list_database_names().run().map_err(|e| explain(&src.uri, "list databases", e))?;
    let resolved = MongoSource { databases: src.resolve(&existing)?, ..src.clone() };
    let src = &resolved;
    if src.databases.is_empty() {
        return Err(Error::Mongo(format!("no database to back up on {}", redact_uri(&src.uri))));
    }
    create_private_dir_all(spool)?;
    // The data's size as the server reports it: the progress bar moves while dumping (a
    // server that does not answer dbStats just shows no total).
    let expected: f64 = src
        .databases
        .iter()
        .filter_map(|db| client.database(db).run_command(doc! {"dbStats": 1}).run().ok())
        .filter_map(|stats| match stats.get("dataSize") {
            Some(bson::Bson::Double(f)) => Some(*f),
            Some(bson::Bson::Int32(n)) => Some(*n as f64),
            Some(bson::Bson::Int64(n)) => Some(*n as f64),
            _ => None,
        })
        .sum();
    if expected > 0.0 {
        progress.event(Event::Total(expected as u64));
    }
    let scans = Scans::default();
    let tool = if src.use_tools { find_tool("mongodump", src.tools_dir.as_deref()) } else { None };
    let mut note = None;
    let (method, consistent, consistency, cluster_time) = match tool {
        Some(tool) => match dump_with_tool(&tool, src, spool, progress) {
            Ok(()) => (
                "mongodump",
                false,
                "mongodump --db reads collections one after another: no point-in-time guarantee".to_string(),
                None,
            ),
            Err(ToolFailure::CannotStart(why)) => {
                note = Some(format!("mongodump could not start ({why}); the native export was used"));
                native(&client, src, &info.replica_set, spool, &scans, progress)?
            }
            Err(ToolFailure::Failed(e)) => return Err(e),
        },
        None => {
            if src.use_tools {
                note = Some("mongodump not found; the native export was used".into());
            }
            native(&client, src, &info.replica_set, spool, &scans, progress)?
        }
    };
    let mut databases = Vec::new();
    for db in &src.databases {
        let part = describe_spool(spool, db, &info.version, &scans)?;
        // An expiry rule a restore paused and nobody turned back on: said at every backup
        // until it is (this backup keeps it paused, as it is on the server).
        for c in &part.collections {
            for t in c.ttl.iter().filter(|t| t.seconds == super::restore::TTL_PAUSED) {
                progress.event(Event::Warning(format!(
                    "the expiry rule {} of {db}.{} is paused since a restore: documents there do not expire until it is turned back on",
                    t.index, c.name
                )));
            }
        }
        databases.push(part);
    }
    Ok(MongoPart {
        method: method.into(),
        method_note: note,
        uri: redact_uri(&src.uri),
        consistent,
        consistency,
        cluster_time: cluster_time.map(|t: Timestamp| format!("{}.{}", t.time, t.increment)),
        databases,
    })
}

enum ToolFailure {
    CannotStart(String),
    Failed(Error),
}

fn dump_with_tool(
    tool: &Path,
    src: &MongoSource,
    spool: &Path,
    progress: &dyn Progress,
) -> std::result::Result<(), ToolFailure> {
    let cfg = ToolConfig::create(spool, &src.uri).map_err(ToolFailure::Failed)?;
    for db in &src.databases {
        let args = dump_args(cfg.path(), db, spool);
        let out = run_tool(tool, &args, Duration::from_secs(300), |line| {
            tracing::debug!(target: "mongodump", "{line}");
            if let Some(d) = crate::mongo::tools::dump_detail(line) {
                progress.event(Event::Detail(d));
            }
        });
        match out {
            Err(Error::Io { source, .. }) => return Err(ToolFailure::CannotStart(source.to_string())),
            Err(e) => return Err(ToolFailure::Failed(e)),
            Ok(o) => o.check("mongodump").map_err(ToolFailure::Failed)?,
        }
    }
    Ok(())
}

type Consistency = (&'static str, bool, String, Option<Timestamp>);

/// Snapshot-read failures that mean "the window ran out" or "not supported here".
fn snapshot_unusable(e: &mongodb::error::Error) -> bool {
    let code = match e.kind.as_ref() {
        mongodb::error::ErrorKind::Command(c) => Some(c.code),
        _ => None,
    };
    matches!(code, Some(239 | 246 | 72 | 20)) || e.to_string().to_lowercase().contains("snapshot")
}

fn native(
    client: &Client,
    src: &MongoSource,
    replica_set: &Option<String>,
    spool: &Path,
    scans: &Scans,
    progress: &dyn Progress,
) -> Result<Consistency> {
    let jobs = plan_native(client, src)?;
    if let Some(rs) = replica_set {
        match native_snapshot(client, src, &jobs, spool, scans, progress) {
            Ok(ts) => {
                return Ok((
                    "native",
                    true,
                    format!("all collections read at one cluster time (snapshot read on replica set {rs})"),
                    ts,
                ));
            }
            Err(SnapshotError::Unusable(why)) => {
                let _ = std::fs::remove_dir_all(spool);
                create_private_dir_all(spool)?;
                if let Ok(mut m) = scans.lock() {
                    m.clear();
                }
                run_jobs(client, src, &jobs, spool, scans, progress, None).map_err(|e| e.into_error(&src.uri))?;
                check_not_dropped(client, src, &jobs)?;
                return Ok(("native", false, format!("snapshot read failed ({why}); collections were read one after another without a point-in-time guarantee"), None));
            }
            Err(SnapshotError::Other(e)) => return Err(e),
        }
    }
    run_jobs(client, src, &jobs, spool, scans, progress, None).map_err(|e| e.into_error(&src.uri))?;
    check_not_dropped(client, src, &jobs)?;
    Ok((
        "native",
        false,
        "standalone server: collections were read one after another, with no point-in-time guarantee".into(),
        None,
    ))
}

enum SnapshotError {
    Unusable(String),
    Other(Error),
}

fn native_snapshot(
    client: &Client,
    src: &MongoSource,
    jobs: &[Job],
    spool: &Path,
    scans: &Scans,
    progress: &dyn Progress,
) -> std::result::Result<Option<Timestamp>, SnapshotError> {
    // The first read of a snapshot session fixes its cluster time; every worker's session then
    // reads at that same time.
    let mut first = client
        .start_session()
        .snapshot(true)
        .run()
        .map_err(|e| SnapshotError::Other(explain(&src.uri, "start a session", e)))?;
    let probe = jobs.iter().find(|j| !j.info.is_view());
    let ts = match probe {
        Some(j) => {
            let coll = client.database(&j.db).collection::<Document>(&j.info.name);
            let r = coll.find_one(doc! {}).session(&mut first).run();
            if let Err(e) = r {
                return Err(if snapshot_unusable(&e) {
                    SnapshotError::Unusable(e.to_string())
                } else {
                    SnapshotError::Other(explain(&src.uri, "read", e))
                });
            }
            let inner: &mut mongodb::ClientSession = (&mut first).into();
            inner.snapshot_time()
        }
        None => None,
    };
    match run_jobs(client, src, jobs, spool, scans, progress, ts) {
        Ok(()) => Ok(ts),
        Err(JobError::Driver(e) | JobError::Export(_, e)) if snapshot_unusable(&e) => {
            Err(SnapshotError::Unusable(e.to_string()))
        }
        Err(e) => Err(SnapshotError::Other(e.into_error(&src.uri))),
    }
}

/// One collection or view to export.
#[derive(Debug, Clone)]
struct Job {
    db: String,
    info: CollectionInfo,
}

fn plan_native(client: &Client, src: &MongoSource) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for db in &src.databases {
        let mut infos = list_collections(client, &src.uri, db)?;
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        jobs.extend(infos.into_iter().map(|info| Job { db: db.clone(), info }));
    }
    Ok(jobs)
}

fn list_collections(client: &Client, uri: &str, db: &str) -> Result<Vec<CollectionInfo>> {
    let mut cursor = client
        .database(db)
        .run_cursor_command(doc! {"listCollections": 1})
        .run()
        .map_err(|e| explain(uri, "list collections", e))?;
    let mut out = Vec::new();
    while cursor.advance().map_err(|e| explain(uri, "list collections", e))? {
        let d: Document = cursor.deserialize_current().map_err(|e| explain(uri, "list collections", e))?;
        if let Some(info) = CollectionInfo::from_list_collections(&d) {
            if !skipped_collection(&info.name) {
                out.push(info);
            }
        }
    }
    Ok(out)
}

/// Without a snapshot, a collection dropped while the dump ran would look like an empty one:
/// compare the collection list before and after.
fn check_not_dropped(client: &Client, src: &MongoSource, jobs: &[Job]) -> Result<()> {
    for db in &src.databases {
        let now: Vec<String> = list_collections(client, &src.uri, db)?.into_iter().map(|c| c.name).collect();
        if let Some(gone) = jobs.iter().find(|j| &j.db == db && !now.contains(&j.info.name)) {
            return Err(Error::Mongo(format!(
                "collection {db}.{} was dropped while it was being backed up; the backup would be incomplete: run it again",
                gone.info.name
            )));
        }
    }
    Ok(())
}

enum JobError {
    Driver(mongodb::error::Error),
    /// The driver failed while exporting this namespace (`db.collection`).
    Export(String, mongodb::error::Error),
    Engine(Error),
}

impl JobError {
    fn into_error(self, uri: &str) -> Error {
        match self {
            JobError::Driver(e) => explain(uri, "read a collection", e),
            JobError::Export(ns, e) => explain(uri, &format!("export {ns}"), e),
            JobError::Engine(e) => e,
        }
    }
}

fn run_jobs(
    client: &Client,
    src: &MongoSource,
    jobs: &[Job],
    spool: &Path,
    scans: &Scans,
    progress: &dyn Progress,
    ts: Option<Timestamp>,
) -> std::result::Result<(), JobError> {
    let queue = Mutex::new(jobs.iter().collect::<Vec<_>>());
    let first_error: Mutex<Option<JobError>> = Mutex::new(None);
    let threads = if src.threads == 0 { 2 } else { src.threads }.min(jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut session = match ts {
                    Some(t) => match client.start_session().snapshot(true).snapshot_time(t).run() {
                        Ok(s) => Some(s),
                        Err(e) => {
                            set_first(&first_error, JobError::Driver(e));
                            return;
                        }
                    },
                    None => None,
                };
                loop {
                    if first_error.lock().map(|g| g.is_some()).unwrap_or(true) {
                        return;
                    }
                    let Some(job) = queue.lock().ok().and_then(|mut q| q.pop()) else { return };
                    if let Err(e) = dump_one(client, job, spool, scans, session.as_mut(), progress) {
                        set_first(&first_error, e);
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn set_first(slot: &Mutex<Option<JobError>>, e: JobError) {
    if let Ok(mut g) = slot.lock() {
        if g.is_none() {
            *g = Some(e);
        }
    }
}

fn dump_one(
    client: &Client,
    job: &Job,
    spool: &Path,
    scans: &Scans,
    session: Option<&mut ClientSession>,
    progress: &dyn Progress,
) -> std::result::Result<(), JobError> {
    let ns = format!("{}.{}", job.db, job.info.name);
    let drv = |e| JobError::Export(ns.clone(), e);
    let dir = spool.join(&job.db);
    create_private_dir_all(&dir).map_err(JobError::Engine)?;
    let stem = file_stem(&job.info.name);
    let db = client.database(&job.db);
    let indexes = if job.info.is_view() {
        Vec::new()
    } else {
        let mut cur = db.run_cursor_command(doc! {"listIndexes": &job.info.name}).run().map_err(drv)?;
        let mut v = Vec::new();
        while cur.advance().map_err(drv)? {
            v.push(cur.deserialize_current().map_err(drv)?);
        }
        v
    };
    let meta_path = dir.join(format!("{stem}.metadata.json"));
    write_new(&meta_path, metadata_json(&job.info, &indexes).as_bytes()).map_err(JobError::Engine)?;
    if job.info.is_view() {
        return Ok(());
    }
    let bson_path = dir.join(format!("{}.bson", data_stem(&job.info.kind, &job.info.name, &stem)));
    let file = crate::fsutil::create_private_file(&bson_path).map_err(JobError::Engine)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let werr = |e: std::io::Error| JobError::Engine(Error::io("write", &bson_path, e));
    // A time series is kept as mongodump keeps it: its buckets, byte for byte (what a restore
    // inserts back), not the measurements its view shows.
    let source = if job.info.is_timeseries() { buckets_collection(&job.info.name) } else { job.info.name.clone() };
    let coll = db.collection::<bson::RawDocumentBuf>(&source);
    // Where the export of this collection is, in documents of the count the server expects
    // (its metadata's estimate: free to ask, and a detail only).
    let expected = coll.estimated_document_count().run().ok().filter(|&n| n > 0);
    let say = |n: u64| {
        progress.event(Event::Detail(match expected {
            Some(e) => format!("{ns}: {n} of about {e} document{}", if e == 1 { "" } else { "s" }),
            None => format!("{ns}: {n} documents"),
        }))
    };
    say(0);
    // Size, count and SHA-256 are taken as the file is written: the spool is read once more
    // only to pack it (where the hash is checked again).
    let (mut hash, mut size, mut count) = (Sha256::new(), 0u64, 0u64);
    let mut put = |raw: &[u8]| -> std::result::Result<(), JobError> {
        if progress.cancelled() {
            return Err(JobError::Engine(Error::Cancelled));
        }
        out.write_all(raw).map_err(werr)?;
        hash.update(raw);
        size += raw.len() as u64;
        count += 1;
        progress.event(Event::Advance(raw.len() as u64));
        if count % DETAIL_EVERY == 0 {
            say(count);
        }
        Ok(())
    };
    match session {
        Some(session) => {
            let mut cursor = coll.find(doc! {}).batch_size(BATCH_DOCS).session(&mut *session).run().map_err(drv)?;
            while cursor.advance(session).map_err(drv)? {
                put(cursor.current().as_bytes())?;
            }
        }
        None => {
            let mut cursor = coll.find(doc! {}).batch_size(BATCH_DOCS).run().map_err(drv)?;
            while cursor.advance().map_err(drv)? {
                put(cursor.current().as_bytes())?;
            }
        }
    }
    if count % DETAIL_EVERY != 0 {
        say(count);
    }
    let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    if let Ok(mut m) = scans.lock() {
        m.insert(bson_path.clone(), (size, count, hex::encode(hash.finalize())));
    }
    Ok(())
}

/// What the native export learnt of each `.bson` file as it wrote it: size, documents, SHA-256.
pub(crate) type Scans = Mutex<std::collections::HashMap<PathBuf, (u64, u64, String)>>;

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = crate::fsutil::create_private_file(path)?;
    f.write_all(bytes).map_err(|e| Error::io("write", path, e))
}

/// Size, SHA-256 and number of BSON documents of a `.bson` file; fails if the file does not
/// end on a document boundary.
pub fn scan_bson(path: &Path) -> Result<(u64, u64, String)> {
    let f = File::open(path).map_err(|e| Error::io("read", path, e))?;
    scan_bson_reader(f).map_err(|e| match e {
        ScanError::Io(e) => Error::io("read", path, e),
        ScanError::Format(reason) => Error::Corrupt { path: path.to_path_buf(), reason },
    })
}

/// Why a BSON stream could not be scanned.
#[derive(Debug)]
pub enum ScanError {
    Io(std::io::Error),
    Format(String),
}

/// The same over any reader: walks the document boundaries without decoding documents.
pub fn scan_bson_reader(mut f: impl Read) -> std::result::Result<(u64, u64, String), ScanError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut size, mut count, mut remaining) = (0u64, 0u64, 0u64);
    let mut len_bytes = [0u8; 4];
    let mut len_have = 0usize;
    loop {
        let n = f.read(&mut buf).map_err(ScanError::Io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        let mut i = 0;
        while i < n {
            if remaining > 0 {
                let skip = remaining.min((n - i) as u64);
                remaining -= skip;
                i += skip as usize;
                continue;
            }
            len_bytes[len_have] = buf[i];
            len_have += 1;
            i += 1;
            if len_have == 4 {
                let len = u32::from_le_bytes(len_bytes) as u64;
                if len < 5 {
                    return Err(ScanError::Format(format!(
                        "invalid BSON document length {len} at byte {}",
                        size + i as u64 - 4
                    )));
                }
                remaining = len - 4;
                len_have = 0;
                count += 1;
            }
        }
        size += n as u64;
    }
    if remaining != 0 || len_have != 0 {
        return Err(ScanError::Format("the BSON file ends inside a document (truncated)".into()));
    }
    Ok((size, count, hex::encode(h.finalize())))
}

/// Describes what the spool holds for one database (both methods write the same layout).
pub(crate) fn describe_spool(spool: &Path, db: &str, version: &str, scans: &Scans) -> Result<DatabasePart> {
    let known = |p: &Path| scans.lock().ok().and_then(|m| m.get(p).cloned());
    // A `.bson` file: known from writing it (native), or scanned once (mongodump's).
    let bson_facts = |p: &Path| -> Result<(u64, u64, String)> {
        match known(p) {
            Some(f) => Ok(f),
            None => {
                let f = scan_bson(p)?;
                if let Ok(mut m) = scans.lock() {
                    m.insert(p.to_path_buf(), f.clone());
                }
                Ok(f)
            }
        }
    };
    let dir = spool.join(db);
    let mut files = Vec::new();
    let mut collections = Vec::new();
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("list", &dir, e)),
    };
    names.sort();
    for name in &names {
        let path = dir.join(name);
        let (size, sha) = if name.ends_with(".bson") {
            bson_facts(&path).map(|(s, _, h)| (s, h))?
        } else {
            crate::digest::hash_file(&path).map_err(|e| Error::io("read", &path, e))?
        };
        files.push(FilePart { path: format!("{db}/{name}"), size, sha256: sha });
        if let Some(stem) = name.strip_suffix(".metadata.json") {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            let meta =
                super::layout::parse_metadata(&text).map_err(|reason| Error::Corrupt { path: path.clone(), reason })?;
            let real = meta
                .collection_name
                .clone()
                .or_else(|| super::layout::query_unescape(stem))
                .unwrap_or_else(|| stem.to_string());
            let bson = dir.join(format!("{}.bson", super::layout::data_stem(&meta.kind, &real, stem)));
            let (bytes, documents, sha256) = if bson.exists() {
                let (s, c, h) = bson_facts(&bson)?;
                (s, c, Some(h))
            } else {
                (0, 0, None)
            };
            let ttl = super::layout::ttl_indexes(&meta);
            collections.push(CollectionPart {
                name: real,
                stem: stem.to_string(),
                ttl,
                kind: meta.kind,
                documents,
                bytes,
                sha256,
            });
        }
    }
    Ok(DatabasePart { name: db.to_string(), server: None, server_version: version.to_string(), collections, files })
}
