//! Restores what the MongoDB Database Tools wrote: a `mongodump --out` folder (plain or
//! `--gzip`, with or without `prelude.json`, escaped and hashed long names) and a
//! `mongodump --archive` stream (magic, header, namespace prelude, interleaved segments with
//! CRC-64 checks). Both go through the same staged restore as our own archives, so a damaged
//! dump leaves the live databases untouched; the whole prelude of an archive is parsed before
//! anything is written.
//!
//! Depends on `mongo::{restore, layout, client}`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use bson::Document;
use flate2::read::GzDecoder;

use super::client::connect;
use super::layout::{parse_metadata, query_unescape, skipped_collection, Metadata};
use super::restore::{MongoRestoreOptions, MongoRestoreReport, Restore};
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};

fn skipped_db(db: &str) -> bool {
    matches!(db, "admin" | "local" | "config")
}

/// Target name of database `db`, or None when the options leave it out.
fn target_of(opts: &MongoRestoreOptions, db: &str) -> Option<String> {
    if opts.databases.is_empty() {
        (!skipped_db(db)).then(|| db.to_string())
    } else {
        opts.databases.iter().find(|(f, _)| f == db).map(|(_, t)| t.clone())
    }
}

fn wanted(opts: &MongoRestoreOptions, name: &str) -> bool {
    !skipped_collection(name) && opts.collections.as_ref().map(|c| c.iter().any(|n| n == name)).unwrap_or(true)
}

fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>> {
    let f = BufReader::new(File::open(path).map_err(|e| Error::io("read", path, e))?);
    Ok(if path.extension().is_some_and(|e| e == "gz") { Box::new(GzDecoder::new(f)) } else { Box::new(f) })
}

fn read_text(path: &Path) -> Result<String> {
    let mut s = String::new();
    open_maybe_gz(path)?.read_to_string(&mut s).map_err(|e| Error::io("read", path, e))?;
    Ok(s)
}

/// Restores a `mongodump --out` folder.
pub fn restore_dump_dir(dir: &Path, opts: &MongoRestoreOptions, progress: &dyn Progress) -> Result<MongoRestoreReport> {
    for prelude in ["prelude.json", "prelude.json.gz"] {
        let p = dir.join(prelude);
        if p.exists() {
            check_prelude(&p, &read_text(&p)?)?;
        }
    }
    // Plan: every collection of every database folder, metadata parsed before any write.
    let mut plan: Vec<(String, String, Metadata, Option<std::path::PathBuf>)> = Vec::new();
    let mut dbs: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("list", dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    dbs.sort_by_key(|e| e.file_name());
    for db_entry in dbs {
        let db = db_entry.file_name().to_string_lossy().into_owned();
        let Some(target) = target_of(opts, &db) else { continue };
        let mut names: Vec<String> = std::fs::read_dir(db_entry.path())
            .map_err(|e| Error::io("list", db_entry.path(), e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        // Time series of this folder: the stem of their buckets file -> their metadata's stem.
        let mut series: HashMap<String, String> = HashMap::new();
        for name in &names {
            let Some(stem) = name.strip_suffix(".metadata.json").or_else(|| name.strip_suffix(".metadata.json.gz"))
            else {
                continue;
            };
            let p = db_entry.path().join(name);
            let meta = parse_metadata(&read_text(&p)?).map_err(|reason| Error::Corrupt { path: p.clone(), reason })?;
            if meta.kind == "timeseries" {
                let coll =
                    meta.collection_name.clone().or_else(|| query_unescape(stem)).unwrap_or_else(|| stem.to_string());
                series.insert(super::layout::data_stem(&meta.kind, &coll, stem), stem.to_string());
            }
        }
        for name in &names {
            if name == "prelude.json" || name == "prelude.json.gz" {
                check_prelude(&db_entry.path().join(name), &read_text(&db_entry.path().join(name))?)?;
                continue;
            }
            let (stem, gz) = match name.strip_suffix(".bson.gz") {
                Some(s) => (s, true),
                None => match name.strip_suffix(".bson") {
                    Some(s) => (s, false),
                    None => continue,
                },
            };
            // A time series' buckets file pairs with its collection's metadata (by the
            // metadata's name: a long name's files are hashed each on its own).
            let own = series.get(stem).map(String::as_str).unwrap_or(stem);
            let meta_name = if gz { format!("{own}.metadata.json.gz") } else { format!("{own}.metadata.json") };
            let meta_path = db_entry.path().join(&meta_name);
            let meta = if meta_path.exists() {
                parse_metadata(&read_text(&meta_path)?)
                    .map_err(|reason| Error::Corrupt { path: meta_path.clone(), reason })?
            } else {
                Metadata {
                    options: Document::new(),
                    indexes: vec![],
                    uuid: None,
                    collection_name: None,
                    kind: "collection".into(),
                }
            };
            if own != stem && meta.kind != "timeseries" {
                return Err(Error::Corrupt {
                    path: meta_path,
                    reason: format!("{name} holds buckets but {meta_name} is not a time series's"),
                });
            }
            let coll = meta.collection_name.clone().or_else(|| query_unescape(own)).unwrap_or_else(|| own.to_string());
            if wanted(opts, &coll) {
                plan.push((target.clone(), coll, meta, Some(db_entry.path().join(name))));
            }
        }
        // Views: metadata without a .bson file.
        for name in &names {
            let Some(stem) = name.strip_suffix(".metadata.json").or_else(|| name.strip_suffix(".metadata.json.gz"))
            else {
                continue;
            };
            let has_data = |s: &str| names.iter().any(|n| n == &format!("{s}.bson") || n == &format!("{s}.bson.gz"));
            if has_data(stem) || series.values().any(|m| m == stem) {
                continue;
            }
            let p = db_entry.path().join(name);
            let meta = parse_metadata(&read_text(&p)?).map_err(|reason| Error::Corrupt { path: p.clone(), reason })?;
            let coll =
                meta.collection_name.clone().or_else(|| query_unescape(stem)).unwrap_or_else(|| stem.to_string());
            if meta.kind == "view" && wanted(opts, &coll) {
                plan.push((target.clone(), coll, meta, None));
            }
        }
    }
    if plan.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no collection to restore (is it a mongodump --out folder?)",
            dir.display()
        )));
    }
    let client = connect(&opts.uri)?;
    let mut restore = Restore::new(&client, &opts.uri, opts.threads);
    progress.event(Event::Phase("restoring"));
    let result = (|| -> Result<()> {
        for (target, coll, meta, bson) in plan {
            restore.begin(target.clone(), coll.clone(), meta, None, None)?;
            if let Some(path) = bson {
                let i = restore
                    .find(&HashMap::from([(target.clone(), target.clone())]), &target, "", &coll)
                    .ok_or_else(|| Error::Mongo(format!("internal: {coll} was not staged")))?;
                // A time series' file under its own name holds measurements, not buckets.
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if !name.starts_with(super::layout::BUCKETS_PREFIX) {
                    restore.set_measurements(i);
                }
                let mut r = open_maybe_gz(&path)?;
                restore.fill(i, &mut r, progress, true)?;
            }
        }
        restore.finish_fills()?;
        restore.build_indexes()
    })();
    if let Err(e) = result {
        restore.drop_staging();
        return Err(e);
    }
    restore.swap_in()
}

/// mongorestore refuses a prelude without a parseable `ServerVersion`; so do we.
fn check_prelude(path: &Path, text: &str) -> Result<()> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::Corrupt { path: path.to_path_buf(), reason: format!("prelude is not valid JSON: {e}") })?;
    let version = v.get("ServerVersion").and_then(|s| s.as_str()).unwrap_or("");
    let ok = version.split('.').count() >= 2
        && version.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("prelude has no valid ServerVersion ({version:?})"),
        });
    }
    Ok(())
}

const ARCHIVE_MAGIC: u32 = 0x8199_e26d;
const TERMINATOR: u32 = 0xffff_ffff;
const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_XZ);

/// Reads one length-prefixed item: Some(bytes) for a BSON document, None for a terminator.
fn read_item(r: &mut dyn Read, path: &Path) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(|e| bad_archive(path, format!("it ends unexpectedly ({e})")))?;
    let n = u32::from_le_bytes(len);
    if n == TERMINATOR {
        return Ok(None);
    }
    if !(5..=16 * 1024 * 1024 + 16 * 1024).contains(&n) {
        return Err(bad_archive(path, format!("an item has the impossible length {n}")));
    }
    let mut buf = vec![0u8; n as usize];
    buf[..4].copy_from_slice(&len);
    r.read_exact(&mut buf[4..]).map_err(|e| bad_archive(path, format!("it ends inside an item ({e})")))?;
    Ok(Some(buf))
}

fn bad_archive(path: &Path, reason: String) -> Error {
    Error::Corrupt { path: path.to_path_buf(), reason: format!("not a valid mongodump archive: {reason}") }
}

fn as_doc(bytes: &[u8], path: &Path) -> Result<Document> {
    Document::from_reader(bytes).map_err(|e| bad_archive(path, format!("invalid BSON: {e}")))
}

/// One namespace of a `mongodump --archive` prelude.
pub struct ArchiveNamespace {
    pub db: String,
    pub collection: String,
    pub meta: Metadata,
    /// The metadata exactly as mongodump wrote it (the text of a `.metadata.json`).
    pub metadata_text: String,
}

/// A `mongodump --archive` stream being read: the header and the whole namespace prelude are
/// parsed when it opens (before anything is written anywhere), then `next_segment` hands out
/// each data segment in order, checking every namespace's CRC-64 at its end block and that
/// nothing follows the last one.
pub struct DumpArchive {
    r: Box<dyn Read>,
    path: std::path::PathBuf,
    /// The archive's header document (`server_version`, `tool_version`...).
    pub header: Document,
    pub prelude: Vec<ArchiveNamespace>,
    crcs: HashMap<(String, String), crc::Digest<'static, u64>>,
    done: std::collections::HashSet<(String, String)>,
    finished: bool,
}

impl DumpArchive {
    /// Opens a `mongodump --archive` file, gzip-compressed as a whole (`--gzip`) or not.
    pub fn open(path: &Path) -> Result<Self> {
        let mut head = [0u8; 2];
        File::open(path).and_then(|mut f| f.read_exact(&mut head)).map_err(|e| Error::io("read", path, e))?;
        let mut r: Box<dyn Read> = if head == [0x1f, 0x8b] {
            open_maybe_gz_forced(path)?
        } else {
            Box::new(BufReader::new(File::open(path).map_err(|e| Error::io("read", path, e))?))
        };
        let mut magic = [0u8; 4];
        r.read_exact(&mut magic).map_err(|_| bad_archive(path, "it is too short".into()))?;
        if u32::from_le_bytes(magic) != ARCHIVE_MAGIC {
            return Err(bad_archive(path, "bad magic number".into()));
        }
        let header = read_item(&mut *r, path)?.ok_or_else(|| bad_archive(path, "no header".into()))?;
        let header = as_doc(&header, path)?;
        // The whole namespace prelude is parsed before anything is written.
        let mut prelude = Vec::new();
        while let Some(item) = read_item(&mut *r, path)? {
            let d = as_doc(&item, path)?;
            let db = d.get_str("db").map_err(|_| bad_archive(path, "a prelude entry has no db".into()))?.to_string();
            let coll = d
                .get_str("collection")
                .map_err(|_| bad_archive(path, "a prelude entry has no collection".into()))?
                .to_string();
            let text = d.get_str("metadata").unwrap_or("{}");
            // `mongodump --archive --oplog` adds the namespace `.oplog` (no database, no
            // metadata): its entries are read and checked like any other, never restored (a
            // point-in-time replay is mongorestore's --oplogReplay, which we do not do).
            if db.is_empty() && coll == "oplog" {
                let meta = Metadata {
                    options: Document::new(),
                    indexes: Vec::new(),
                    uuid: None,
                    collection_name: None,
                    kind: "oplog".into(),
                };
                prelude.push(ArchiveNamespace { db, collection: coll, meta, metadata_text: String::new() });
                continue;
            }
            let meta = parse_metadata(text).map_err(|reason| Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("error parsing metadata for {db}.{coll}: {reason}"),
            })?;
            prelude.push(ArchiveNamespace { db, collection: coll, meta, metadata_text: text.to_string() });
        }
        Ok(DumpArchive {
            r,
            path: path.to_path_buf(),
            header,
            prelude,
            crcs: HashMap::new(),
            done: Default::default(),
            finished: false,
        })
    }

    /// The prelude's namespace a segment belongs to: a time series' data and end block come
    /// under its buckets' name (`system.buckets.<name>`) while the prelude names `<name>`.
    fn namespace_of(&self, db: &str, coll: &str) -> (String, String) {
        if let Some(name) = coll.strip_prefix(super::layout::BUCKETS_PREFIX) {
            if self.prelude.iter().any(|n| n.db == db && n.collection == name && n.meta.kind == "timeseries") {
                return (db.to_string(), name.to_string());
            }
        }
        (db.to_string(), coll.to_string())
    }

    fn all_done(&self) -> bool {
        self.prelude.iter().all(|n| self.done.contains(&(n.db.clone(), n.collection.clone())))
    }

    /// The next data segment: its namespace (database, collection) and its documents, raw
    /// and concatenated as they are in the stream; None after the last namespace's end.
    pub fn next_segment(&mut self) -> Result<Option<(String, String, Vec<u8>)>> {
        let path = self.path.clone();
        let path = path.as_path();
        loop {
            if self.finished {
                return Ok(None);
            }
            let header = match read_item(&mut *self.r, path) {
                Ok(Some(h)) => h,
                Ok(None) => return Err(bad_archive(path, "an unexpected terminator".into())),
                Err(e) => {
                    // A clean end of the stream after the last segment.
                    let mut probe = [0u8; 1];
                    if self.r.read(&mut probe).unwrap_or(0) == 0 && self.all_done() {
                        self.finished = true;
                        return Ok(None);
                    }
                    return Err(e);
                }
            };
            let h = as_doc(&header, path)?;
            let ns = self.namespace_of(h.get_str("db").unwrap_or(""), h.get_str("collection").unwrap_or(""));
            if self.done.contains(&ns) {
                return Err(bad_archive(path, format!("{}.{} reappears after its end", ns.0, ns.1)));
            }
            if h.get_bool("EOF").unwrap_or(false) {
                let want = h.get_i64("CRC").unwrap_or(0) as u64;
                let got = self.crcs.remove(&ns).map(|d| d.finalize()).unwrap_or(0);
                if want != got {
                    return Err(bad_archive(
                        path,
                        format!("the checksum of {}.{} does not match (data damaged)", ns.0, ns.1),
                    ));
                }
                if read_item(&mut *self.r, path)?.is_some() {
                    return Err(bad_archive(path, "an end-of-collection block is not terminated".into()));
                }
                self.done.insert(ns);
                if self.all_done() {
                    // Every namespace ended: anything more is damage or tampering.
                    let mut probe = [0u8; 1];
                    if self.r.read(&mut probe).unwrap_or(0) != 0 {
                        return Err(bad_archive(path, "it has data after the last collection's end".into()));
                    }
                    self.finished = true;
                    return Ok(None);
                }
                continue;
            }
            let digest = self.crcs.entry(ns.clone()).or_insert_with(|| CRC64.digest());
            let mut segment = Vec::new();
            while let Some(doc) = read_item(&mut *self.r, path)? {
                digest.update(&doc);
                segment.extend_from_slice(&doc);
            }
            return Ok(Some((ns.0, ns.1, segment)));
        }
    }
}

/// Restores a `mongodump --archive` file (optionally gzip-compressed as a whole).
pub fn restore_dump_archive(
    path: &Path,
    opts: &MongoRestoreOptions,
    progress: &dyn Progress,
) -> Result<MongoRestoreReport> {
    let mut archive = DumpArchive::open(path)?;
    let client = connect(&opts.uri)?;
    let mut restore = Restore::new(&client, &opts.uri, opts.threads);
    progress.event(Event::Phase("restoring"));
    let result = (|| -> Result<()> {
        let mut staged: HashMap<(String, String), usize> = HashMap::new();
        for ns in &archive.prelude {
            let (db, coll, meta) = (&ns.db, &ns.collection, &ns.meta);
            if meta.kind == "oplog" {
                continue;
            }
            let Some(target) = target_of(opts, db) else { continue };
            if !wanted(opts, coll) {
                continue;
            }
            restore.begin(target.clone(), coll.clone(), meta.clone(), None, None)?;
            if meta.kind != "view" {
                let i = restore
                    .find(&HashMap::from([(target.clone(), target.clone())]), &target, "", coll)
                    .ok_or_else(|| Error::Mongo(format!("internal: {coll} was not staged")))?;
                staged.insert((db.clone(), coll.clone()), i);
            }
        }
        while let Some((db, coll, segment)) = archive.next_segment()? {
            if let Some(&i) = staged.get(&(db, coll)) {
                restore.fill(i, &mut segment.as_slice(), progress, false)?;
            }
        }
        restore.finish_fills()?;
        restore.build_indexes()
    })();
    if let Err(e) = result {
        restore.drop_staging();
        return Err(e);
    }
    restore.swap_in()
}

/// What `archive_to_dump_dir` wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvertedArchive {
    /// The databases, in the archive's order.
    pub databases: Vec<String>,
    /// The server version the archive's header names ("" when it names none).
    pub server_version: String,
    /// Namespaces left out: the server's own (`admin`, `local`, `config`, `system.*`), as
    /// mongodump leaves them out of a dump of one database.
    pub skipped: Vec<String>,
}

/// Writes a `mongodump --archive` stream out as the folder `mongodump --out` would have
/// written (`<out>/<db>/<stem>.metadata.json` + `<stem>.bson`): every document byte for byte
/// as it is in the archive, each collection's metadata (options, indexes) as mongodump wrote
/// it, views as metadata alone. The oplog namespace of `--oplog` archives is read and checked,
/// not kept, nor are the server's own namespaces. Nothing is written before the whole prelude
/// parsed; `out` is the caller's private folder, which it removes if this fails.
pub fn archive_to_dump_dir(path: &Path, out: &Path, progress: &dyn Progress) -> Result<ConvertedArchive> {
    use std::io::Write;
    let mut archive = DumpArchive::open(path)?;
    let version = ["server_version", "ServerVersion"]
        .iter()
        .find_map(|k| archive.header.get_str(k).ok())
        .unwrap_or("")
        .to_string();
    let mut files: HashMap<(String, String), std::io::BufWriter<File>> = HashMap::new();
    let mut done = ConvertedArchive { server_version: version, ..Default::default() };
    let mut stems: HashMap<(String, String), (String, String)> = HashMap::new();
    for ns in &archive.prelude {
        if ns.meta.kind == "oplog" {
            continue;
        }
        if skipped_db(&ns.db) || skipped_collection(&ns.collection) {
            done.skipped.push(format!("{}.{}", ns.db, ns.collection));
            continue;
        }
        if ns.db.is_empty() || crate::archive::rules::check_name(&ns.db).is_err() || ns.db.contains('/') {
            return Err(bad_archive(path, format!("the database name {:?} cannot be a folder name", ns.db)));
        }
        let dir = out.join(&ns.db);
        crate::fsutil::create_private_dir_all(&dir)?;
        if !done.databases.contains(&ns.db) {
            done.databases.push(ns.db.clone());
        }
        let stem = super::layout::file_stem(&ns.collection);
        let key = (ns.db.clone(), ns.collection.clone());
        if stems.values().any(|(d, s)| d == &ns.db && s == &stem) || stems.contains_key(&key) {
            return Err(bad_archive(path, format!("{}.{} is in its prelude twice", ns.db, ns.collection)));
        }
        stems.insert(key.clone(), (ns.db.clone(), stem.clone()));
        let meta_path = dir.join(format!("{stem}.metadata.json"));
        let text = if ns.metadata_text.trim().is_empty() {
            let info = super::layout::CollectionInfo {
                name: ns.collection.clone(),
                kind: ns.meta.kind.clone(),
                options: ns.meta.options.clone(),
                uuid: None,
            };
            super::layout::metadata_json(&info, &ns.meta.indexes)
        } else {
            ns.metadata_text.clone()
        };
        let mut f = crate::fsutil::create_private_file(&meta_path)?;
        f.write_all(text.as_bytes()).map_err(|e| Error::io("write", &meta_path, e))?;
        if ns.meta.kind != "view" {
            let bson_path =
                dir.join(format!("{}.bson", super::layout::data_stem(&ns.meta.kind, &ns.collection, &stem)));
            let f = crate::fsutil::create_private_file(&bson_path)?;
            files.insert(key, std::io::BufWriter::with_capacity(1 << 20, f));
        }
    }
    while let Some((db, coll, segment)) = archive.next_segment()? {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(f) = files.get_mut(&(db.clone(), coll.clone())) {
            f.write_all(&segment).map_err(|e| Error::io("write", out.join(&db), e))?;
            progress.event(Event::Advance(segment.len() as u64));
        }
    }
    for ((db, _), f) in files {
        let f = f.into_inner().map_err(|e| Error::io("write", out.join(&db), e.into_error()))?;
        f.sync_all().map_err(|e| Error::io("write", out.join(&db), e))?;
    }
    Ok(done)
}

fn open_maybe_gz_forced(path: &Path) -> Result<Box<dyn Read>> {
    let f = BufReader::new(File::open(path).map_err(|e| Error::io("read", path, e))?);
    Ok(Box::new(flate2::read::MultiGzDecoder::new(f)))
}
