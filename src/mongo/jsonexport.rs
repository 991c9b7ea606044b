//! Converts the JSON export of HR-SM's old backup service (`<db>-export.json`, written where
//! `mongodump` was missing: `{database, timestamp, collections: {<name>: {count, documents}}}`,
//! made with `JSON.stringify`) into the layout `mongodump --out` writes, which our archives
//! carry. JSON lost the types, so this is lossy by nature and says exactly what it guessed:
//!
//! - a string of exactly 24 lowercase hexadecimal digits (what an ObjectId becomes in JSON) is
//!   taken for an ObjectId, in `_id` and in every field that holds one (references);
//! - an ISO-8601 date-time string (`2026-03-15T02:00:00.000Z`, what a Date becomes) is a Date;
//! - `{"$numberDecimal": "..."}` (what a Decimal128 becomes) is a Decimal128;
//! - the rest maps as the Node.js driver would have stored it: whole numbers in the 32-bit
//!   range are Int32, other numbers Double, objects keep their key order;
//! - indexes and collection options are not in the export: each collection gets only the
//!   `_id` index.
//!
//! The file is read as a stream (one document in memory at a time), so an export of any size
//! converts in little memory.
//!
//! Depends on `mongo::layout`, `fsutil`, `progress` and `error`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use bson::{Bson, Document};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::layout::{file_stem, metadata_json, skipped_collection, CollectionInfo};
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};

/// What a conversion found and could not keep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonExport {
    /// The database name the export itself gives (None when it gives none).
    pub database: Option<String>,
    /// The export's own `timestamp`.
    pub timestamp: Option<String>,
    /// Collections written, in the export's order.
    pub collections: Vec<String>,
    /// Exactly what could not be recovered, one line per collection (and for the database).
    pub losses: Vec<String>,
}

/// Converts `path` into `<out>/<db>/`: `<stem>.bson` and `<stem>.metadata.json` per collection.
/// `db` names the folder (the database the old service exported). `out` is the caller's
/// private folder, which it removes if this fails.
pub fn json_export_to_dump_dir(path: &Path, db: &str, out: &Path, progress: &dyn Progress) -> Result<JsonExport> {
    convert(path, db, out, progress, false)
}

/// The same for the old Backups page's export (`mongooseBackup.service.js`), which is flat:
/// `{<collection>: [documents]}`, with no database name, counts or errors.
pub fn json_export_to_dump_dir_flat(path: &Path, db: &str, out: &Path, progress: &dyn Progress) -> Result<JsonExport> {
    convert(path, db, out, progress, true)
}

fn convert(path: &Path, db: &str, out: &Path, progress: &dyn Progress, flat: bool) -> Result<JsonExport> {
    let dir = out.join(db);
    crate::fsutil::create_private_dir_all(&dir)?;
    let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut ctx = Ctx { path, db, dir, progress, failure: None, result: JsonExport::default() };
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file));
    let parsed = if flat {
        CollectionsSeed { ctx: &mut ctx, flat: true }.deserialize(&mut de).and_then(|()| de.end())
    } else {
        ExportSeed { ctx: &mut ctx }.deserialize(&mut de).and_then(|()| de.end())
    };
    if let Some(e) = ctx.failure.take() {
        return Err(e);
    }
    parsed.map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("the old JSON export is not valid: {e}"),
    })?;
    let mut result = ctx.result;
    if flat && result.collections.is_empty() {
        result.losses.push(format!("{db}: the old JSON export holds no collections"));
    }
    if let Some(named) = result.database.as_deref().filter(|n| *n != db) {
        result.losses.push(format!("{db}: the export names its database {named:?}; it is kept as {db}"));
    }
    Ok(result)
}

struct Ctx<'a> {
    path: &'a Path,
    db: &'a str,
    dir: PathBuf,
    progress: &'a dyn Progress,
    /// The engine error behind a serde error (kept whole, with its path and advice).
    failure: Option<Error>,
    result: JsonExport,
}

impl Ctx<'_> {
    fn fail<E: serde::de::Error>(&mut self, e: Error) -> E {
        let shown = e.to_string();
        self.failure.get_or_insert(e);
        E::custom(shown)
    }
}

struct ExportSeed<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
}

impl<'de> DeserializeSeed<'de> for ExportSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ExportSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object {database, timestamp, collections}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut saw_collections = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "database" => self.ctx.result.database = map.next_value::<Option<String>>()?,
                "timestamp" => self.ctx.result.timestamp = map.next_value::<Option<String>>()?,
                "error" => {
                    let e = map.next_value::<Value>()?;
                    let db = self.ctx.db;
                    self.ctx.result.losses.push(format!(
                        "{db}: the old service's export of this database failed ({}); what it holds is all there is",
                        shown(&e)
                    ));
                }
                "collections" => {
                    saw_collections = true;
                    map.next_value_seed(CollectionsSeed { ctx: self.ctx, flat: false })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_collections {
            let db = self.ctx.db;
            self.ctx.result.losses.push(format!("{db}: the old JSON export holds no collections"));
        }
        Ok(())
    }
}

struct CollectionsSeed<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    /// Each collection is its array of documents (the page's export), not `{count, documents}`.
    flat: bool,
}

impl<'de> DeserializeSeed<'de> for CollectionsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectionsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of collections")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            if name.is_empty() || name.contains('\0') {
                let e = Error::Corrupt {
                    path: self.ctx.path.to_path_buf(),
                    reason: format!("the old JSON export has a collection named {name:?}, which MongoDB cannot hold"),
                };
                return Err(self.ctx.fail(e));
            }
            if self.ctx.result.collections.contains(&name) {
                let e = Error::Corrupt {
                    path: self.ctx.path.to_path_buf(),
                    reason: format!("the old JSON export holds collection {name:?} twice"),
                };
                return Err(self.ctx.fail(e));
            }
            if skipped_collection(&name) {
                // System collections (system.views, system.profile...) are the server's own;
                // mongodump leaves them out as well.
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let stem = file_stem(&name);
            let bson_path = self.ctx.dir.join(format!("{stem}.bson"));
            let out = match crate::fsutil::create_private_file(&bson_path) {
                Ok(f) => BufWriter::with_capacity(1 << 20, f),
                Err(e) => return Err(self.ctx.fail(e)),
            };
            let mut coll = Collection { name: name.clone(), out, bson_path, stats: Guesses::default() };
            if self.flat {
                map.next_value_seed(DocumentsSeed { ctx: self.ctx, coll: &mut coll })?;
            } else {
                map.next_value_seed(CollectionSeed { ctx: self.ctx, coll: &mut coll })?;
            }
            if let Err(e) = coll.finish(self.ctx, &stem) {
                return Err(self.ctx.fail(e));
            }
            self.ctx.result.collections.push(name);
        }
        Ok(())
    }
}

struct Collection {
    name: String,
    out: BufWriter<File>,
    bson_path: PathBuf,
    stats: Guesses,
}

impl Collection {
    /// Flushes the documents, writes the metadata (only the `_id` index: the export has no
    /// others) and records what was guessed or missing.
    fn finish(self, ctx: &mut Ctx, stem: &str) -> Result<()> {
        let werr = |e: std::io::Error| Error::io("write", &self.bson_path, e);
        let f = self.out.into_inner().map_err(|e| werr(e.into_error()))?;
        f.sync_all().map_err(werr)?;
        let info =
            CollectionInfo { name: self.name.clone(), kind: "collection".into(), options: Document::new(), uuid: None };
        let id_index = bson::doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"};
        let meta_path = ctx.dir.join(format!("{stem}.metadata.json"));
        let mut m = crate::fsutil::create_private_file(&meta_path)?;
        m.write_all(metadata_json(&info, &[id_index]).as_bytes()).map_err(|e| Error::io("write", &meta_path, e))?;
        let ns = format!("{}.{}", ctx.db, self.name);
        let s = &self.stats;
        let mut parts =
            vec!["indexes and collection options were not in the old JSON export (only the _id index is rebuilt)"
                .to_string()];
        let typed = s.object_ids + s.dates + s.decimals;
        if typed > 0 {
            let mut kinds = Vec::new();
            if s.object_ids > 0 {
                kinds.push(format!("ObjectId {} in {}", s.object_ids, fields(&s.object_id_fields)));
            }
            if s.dates > 0 {
                kinds.push(format!("Date {} in {}", s.dates, fields(&s.date_fields)));
            }
            if s.decimals > 0 {
                kinds.push(format!("Decimal128 {} in {}", s.decimals, fields(&s.decimal_fields)));
            }
            parts.push(format!("types of {typed} values guessed from their text ({})", kinds.join("; ")));
        }
        if s.numbers > 0 {
            parts.push(format!(
                "{} numbers typed as the Node.js driver types them (Int32 when whole and 32-bit, else Double: an Int64 comes back as a Double)",
                s.numbers
            ));
        }
        if let Some(e) = &s.error {
            parts.push(format!("the old service could not export it ({e}): its documents are lost"));
        }
        if let Some(n) = s.count.filter(|n| *n != s.documents) {
            parts.push(format!("the export says {n} documents but holds {}", s.documents));
        }
        ctx.result.losses.push(format!("{ns}: {}", parts.join("; ")));
        Ok(())
    }
}

/// The field names (dotted, array positions left out) listed in a loss line: a few, then how
/// many more.
fn fields(set: &BTreeSet<String>) -> String {
    const SHOWN: usize = 6;
    let mut v: Vec<&str> = set.iter().map(String::as_str).take(SHOWN).collect();
    // `_id` first: it is the one an admin looks for.
    v.sort_by_key(|f| (*f != "_id", *f));
    let mut s = v.join(", ");
    if set.len() > SHOWN {
        s.push_str(&format!(" and {} more fields", set.len() - SHOWN));
    }
    s
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug, Default)]
struct Guesses {
    documents: u64,
    count: Option<u64>,
    error: Option<String>,
    object_ids: u64,
    dates: u64,
    decimals: u64,
    numbers: u64,
    object_id_fields: BTreeSet<String>,
    date_fields: BTreeSet<String>,
    decimal_fields: BTreeSet<String>,
}

struct CollectionSeed<'a, 'b, 'c> {
    ctx: &'a mut Ctx<'b>,
    coll: &'c mut Collection,
}

impl<'de> DeserializeSeed<'de> for CollectionSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectionSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object {count, documents}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "count" => self.coll.stats.count = map.next_value::<Option<u64>>()?,
                "error" => self.coll.stats.error = Some(shown(&map.next_value::<Value>()?)),
                "documents" => map.next_value_seed(DocumentsSeed { ctx: self.ctx, coll: self.coll })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct DocumentsSeed<'a, 'b, 'c> {
    ctx: &'a mut Ctx<'b>,
    coll: &'c mut Collection,
}

impl<'de> DeserializeSeed<'de> for DocumentsSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DocumentsSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of documents")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            if self.ctx.progress.cancelled() {
                return Err(self.ctx.fail(Error::Cancelled));
            }
            let Value::Object(obj) = v else {
                let e = Error::Corrupt {
                    path: self.ctx.path.to_path_buf(),
                    reason: format!(
                        "collection {:?} of the old JSON export holds something that is not a document",
                        self.coll.name
                    ),
                };
                return Err(self.ctx.fail(e));
            };
            let mut doc = Document::new();
            for (k, v) in obj {
                let b = to_bson(v, &k, &mut self.coll.stats);
                doc.insert(k, b);
            }
            let mut bytes = Vec::new();
            if let Err(e) = doc.to_writer(&mut bytes) {
                let e = Error::Corrupt {
                    path: self.ctx.path.to_path_buf(),
                    reason: format!("a document of collection {:?} cannot be stored as BSON: {e}", self.coll.name),
                };
                return Err(self.ctx.fail(e));
            }
            if let Err(e) = self.coll.out.write_all(&bytes) {
                let e = Error::io("write", &self.coll.bson_path, e);
                return Err(self.ctx.fail(e));
            }
            self.coll.stats.documents += 1;
            self.ctx.progress.event(Event::Advance(bytes.len() as u64));
        }
        Ok(())
    }
}

/// A string of exactly 24 lowercase hexadecimal digits: an ObjectId as JSON writes it.
fn looks_like_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An ISO-8601 date and time with a zone (`2026-03-15T02:00:00.000Z`), as a Date becomes in
/// JSON; a date alone (`2026-03-15`) is left a string: HR data keeps such text on purpose.
fn as_date(s: &str) -> Option<bson::DateTime> {
    if !(20..=35).contains(&s.len()) || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(bson::DateTime::from_millis(t.timestamp_millis()))
}

/// One JSON value as BSON, counting what was typed by guess under the field `path`.
fn to_bson(v: Value, path: &str, g: &mut Guesses) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => {
            g.numbers += 1;
            match n.as_i64() {
                Some(i) if i32::try_from(i).is_ok() => Bson::Int32(i as i32),
                _ => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
            }
        }
        Value::String(s) => {
            if looks_like_object_id(&s) {
                if let Ok(oid) = bson::oid::ObjectId::parse_str(&s) {
                    g.object_ids += 1;
                    g.object_id_fields.insert(path.to_string());
                    return Bson::ObjectId(oid);
                }
            }
            if let Some(d) = as_date(&s) {
                g.dates += 1;
                g.date_fields.insert(path.to_string());
                return Bson::DateTime(d);
            }
            Bson::String(s)
        }
        Value::Array(items) => Bson::Array(items.into_iter().map(|v| to_bson(v, path, g)).collect()),
        Value::Object(obj) => {
            if obj.len() == 1 {
                if let Some(Value::String(text)) = obj.get("$numberDecimal") {
                    if let Ok(d) = text.parse::<bson::Decimal128>() {
                        g.decimals += 1;
                        g.decimal_fields.insert(path.to_string());
                        return Bson::Decimal128(d);
                    }
                }
            }
            let mut doc = Document::new();
            for (k, v) in obj {
                let sub = format!("{path}.{k}");
                let b = to_bson(v, &sub, g);
                doc.insert(k, b);
            }
            Bson::Document(doc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    fn read_docs(path: &Path) -> Vec<Document> {
        let bytes = std::fs::read(path).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            out.push(Document::from_reader(&bytes[at..at + n]).unwrap());
            at += n;
        }
        out
    }

    #[test]
    fn types_are_recovered_from_their_text_and_the_losses_said() {
        let t = tempfile::tempdir().unwrap();
        let export = serde_json::json!({
            "database": "hrms",
            "timestamp": "2026-03-14T02:00:03.120Z",
            "collections": {
                "users": {"count": 2, "documents": [
                    {"_id": "65f1a2b3c4d5e6f708192a3b", "name": "Amal", "department": "65f1a2b3c4d5e6f708192a3c",
                     "hiredAt": "2024-01-15T08:00:00.000Z", "birthday": "1990-05-01", "salary": 5200,
                     "bonus": 1200.5, "big": 5000000000i64, "balance": {"$numberDecimal": "10.25"},
                     "tags": ["a", "65f1a2b3c4d5e6f708192a3d"], "address": {"city": "Cairo", "since": "2020-02-02T00:00:00Z"},
                     "active": true, "note": null},
                    {"_id": "not-an-object-id", "name": "Omar"}
                ]},
                "system.views": {"count": 0, "documents": []},
                "broken": {"error": "cursor killed", "count": 0, "documents": []}
            }
        });
        let path = t.path().join("hrms-export.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&export).unwrap()).unwrap();
        let out = t.path().join("out");
        let r = json_export_to_dump_dir(&path, "hrms", &out, &NoProgress).unwrap();
        assert_eq!(r.collections, vec!["users", "broken"]);
        let docs = read_docs(&out.join("hrms/users.bson"));
        assert_eq!(docs.len(), 2);
        let d = &docs[0];
        assert_eq!(d.get_object_id("_id").unwrap().to_hex(), "65f1a2b3c4d5e6f708192a3b");
        assert!(d.get_object_id("department").is_ok());
        assert_eq!(d.get_datetime("hiredAt").unwrap().timestamp_millis(), 1_705_305_600_000);
        assert_eq!(d.get_str("birthday").unwrap(), "1990-05-01");
        assert_eq!(d.get_i32("salary").unwrap(), 5200);
        assert_eq!(d.get_f64("bonus").unwrap(), 1200.5);
        assert_eq!(d.get_f64("big").unwrap(), 5_000_000_000.0);
        assert_eq!(d.get("balance"), Some(&Bson::Decimal128("10.25".parse().unwrap())));
        assert!(matches!(d.get_array("tags").unwrap()[1], Bson::ObjectId(_)));
        assert!(d.get_document("address").unwrap().get_datetime("since").is_ok());
        let keys: Vec<&String> = d.keys().collect();
        assert_eq!(keys[..3], ["_id", "name", "department"], "field order is kept");
        assert_eq!(docs[1].get_str("_id").unwrap(), "not-an-object-id");
        assert!(!out.join("hrms/system.views.bson").exists());
        let meta = std::fs::read_to_string(out.join("hrms/users.metadata.json")).unwrap();
        let meta = crate::mongo::layout::parse_metadata(&meta).unwrap();
        assert_eq!(meta.indexes.len(), 1);
        assert_eq!(meta.collection_name.as_deref(), Some("users"));
        let users = r.losses.iter().find(|l| l.starts_with("hrms.users:")).unwrap();
        assert!(users.contains("indexes and collection options were not in the old JSON export"), "{users}");
        assert!(users.contains("types of 6 values guessed from their text"), "{users}");
        assert!(users.contains("ObjectId 3 in _id, department, tags"), "{users}");
        assert!(users.contains("Date 2 in address.since, hiredAt"), "{users}");
        assert!(users.contains("Decimal128 1 in balance"), "{users}");
        let broken = r.losses.iter().find(|l| l.starts_with("hrms.broken:")).unwrap();
        assert!(broken.contains("could not export it (cursor killed)"), "{broken}");
    }

    #[test]
    fn a_damaged_export_fails_naming_the_file() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("hrms-export.json");
        std::fs::write(&path, br#"{"database":"hrms","collections":{"users":{"count":1,"documents":[{"_id":"#).unwrap();
        let err = json_export_to_dump_dir(&path, "hrms", &t.path().join("out"), &NoProgress).unwrap_err().to_string();
        assert!(err.contains("hrms-export.json") && err.contains("JSON export is not valid"), "{err}");
        std::fs::write(&path, br#"{"collections":{"users":{"documents":[1]}}}"#).unwrap();
        let err = json_export_to_dump_dir(&path, "hrms", &t.path().join("out2"), &NoProgress).unwrap_err().to_string();
        assert!(err.contains("not a document"), "{err}");
    }
}
