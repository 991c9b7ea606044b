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
            let meta_name = if gz { format!("{stem}.metadata.json.gz") } else { format!("{stem}.metadata.json") };
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
            let coll =
                meta.collection_name.clone().or_else(|| query_unescape(stem)).unwrap_or_else(|| stem.to_string());
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
            if names.iter().any(|n| n == &format!("{stem}.bson") || n == &format!("{stem}.bson.gz")) {
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
                let mut r = open_maybe_gz(&path)?;
                restore.fill(i, &mut r, progress)?;
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

/// Restores a `mongodump --archive` file (optionally gzip-compressed as a whole).
pub fn restore_dump_archive(
    path: &Path,
    opts: &MongoRestoreOptions,
    progress: &dyn Progress,
) -> Result<MongoRestoreReport> {
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
    as_doc(&header, path)?;
    // The whole namespace prelude is parsed before anything is written.
    let mut prelude: Vec<(String, String, Metadata)> = Vec::new();
    while let Some(item) = read_item(&mut *r, path)? {
        let d = as_doc(&item, path)?;
        let db = d.get_str("db").map_err(|_| bad_archive(path, "a prelude entry has no db".into()))?.to_string();
        let coll = d
            .get_str("collection")
            .map_err(|_| bad_archive(path, "a prelude entry has no collection".into()))?
            .to_string();
        let text = d.get_str("metadata").unwrap_or("{}");
        // `mongodump --archive --oplog` adds the namespace `.oplog` (no database, no metadata):
        // its entries are read and checked like any other, not restored (a point-in-time
        // replay is mongorestore's --oplogReplay, which this restore does not do).
        if db.is_empty() && coll == "oplog" {
            let meta = Metadata {
                options: Document::new(),
                indexes: Vec::new(),
                uuid: None,
                collection_name: None,
                kind: "oplog".into(),
            };
            prelude.push((db, coll, meta));
            continue;
        }
        let meta = parse_metadata(text).map_err(|reason| Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("error parsing metadata for {db}.{coll}: {reason}"),
        })?;
        prelude.push((db, coll, meta));
    }
    let client = connect(&opts.uri)?;
    let mut restore = Restore::new(&client, &opts.uri, opts.threads);
    progress.event(Event::Phase("restoring"));
    let result = (|| -> Result<()> {
        let mut staged: HashMap<(String, String), usize> = HashMap::new();
        let mut crcs: HashMap<(String, String), crc::Digest<'static, u64>> = HashMap::new();
        let mut done: std::collections::HashSet<(String, String)> = Default::default();
        for (db, coll, meta) in &prelude {
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
        loop {
            let header = match read_item(&mut *r, path) {
                Ok(Some(h)) => h,
                Ok(None) => return Err(bad_archive(path, "an unexpected terminator".into())),
                Err(e) => {
                    // A clean end of the stream after the last segment.
                    let mut probe = [0u8; 1];
                    if r.read(&mut probe).unwrap_or(0) == 0
                        && prelude.iter().all(|(d, c, _)| done.contains(&(d.clone(), c.clone())))
                    {
                        break;
                    }
                    return Err(e);
                }
            };
            let h = as_doc(&header, path)?;
            let ns = (h.get_str("db").unwrap_or("").to_string(), h.get_str("collection").unwrap_or("").to_string());
            if done.contains(&ns) {
                return Err(bad_archive(path, format!("{}.{} reappears after its end", ns.0, ns.1)));
            }
            if h.get_bool("EOF").unwrap_or(false) {
                let want = h.get_i64("CRC").unwrap_or(0) as u64;
                let got = crcs.remove(&ns).map(|d| d.finalize()).unwrap_or(0);
                if want != got {
                    return Err(bad_archive(
                        path,
                        format!("the checksum of {}.{} does not match (data damaged)", ns.0, ns.1),
                    ));
                }
                if read_item(&mut *r, path)?.is_some() {
                    return Err(bad_archive(path, "an end-of-collection block is not terminated".into()));
                }
                done.insert(ns);
                if prelude.iter().all(|(d, c, _)| done.contains(&(d.clone(), c.clone()))) {
                    // Every namespace ended: anything more is damage or tampering.
                    let mut probe = [0u8; 1];
                    if r.read(&mut probe).unwrap_or(0) != 0 {
                        return Err(bad_archive(path, "it has data after the last collection's end".into()));
                    }
                    break;
                }
                continue;
            }
            let digest = crcs.entry(ns.clone()).or_insert_with(|| CRC64.digest());
            let mut segment = Vec::new();
            while let Some(doc) = read_item(&mut *r, path)? {
                digest.update(&doc);
                segment.extend_from_slice(&doc);
            }
            if let Some(&i) = staged.get(&ns) {
                restore.fill(i, &mut segment.as_slice(), progress)?;
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

fn open_maybe_gz_forced(path: &Path) -> Result<Box<dyn Read>> {
    let f = BufReader::new(File::open(path).map_err(|e| Error::io("read", path, e))?);
    Ok(Box::new(flate2::read::MultiGzDecoder::new(f)))
}
