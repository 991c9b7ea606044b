//! The on-disk layout `mongodump --out` writes and `mongorestore --dir` reads (from
//! the Database Tools' source, github.com/mongodb/mongo-tools: prepare.go, filepath.go): file
//! names of collections, which namespaces are skipped, and `<name>.metadata.json`.
//!
//! Pure: no I/O. Depends on `bson` and `serde_json` (with `preserve_order`, so index keys keep
//! their order: `{a: 1, b: -1}` is not `{b: -1, a: 1}`).

use base64::Engine;
use bson::{Bson, Document};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

/// Escaped file-name stem of a collection, exactly as mongodump 100.x makes it: Go's
/// `url.QueryEscape` (a space is `+`, `+` is `%2B`, only `A-Z a-z 0-9 - _ . ~` stay as they
/// are), and for stems over 238 bytes the first 208 bytes + `%24` + base64url(SHA-1(name)) so
/// that `.metadata.json.gz` still fits 255 bytes. Measured against the Database Tools 100.8:
/// mongorestore reads file names back with `QueryUnescape` (so `a+b` on disk means `a b`).
pub fn file_stem(collection: &str) -> String {
    let escaped = query_escape(collection);
    if escaped.len() <= 238 {
        return escaped;
    }
    let hash = Sha1::digest(collection.as_bytes());
    // The escaped form is ASCII, so any byte index is a char boundary.
    format!("{}%24{}", &escaped[..208], base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash))
}

/// What a time series' documents are kept under: mongodump reads its buckets (the raw
/// `system.buckets.<name>` documents, not the measurements the collection shows) and writes
/// them to `system.buckets.<stem>.bson`, beside the collection's own `<stem>.metadata.json`
/// (`type: "timeseries"`); mongorestore pairs the two the same way.
pub const BUCKETS_PREFIX: &str = "system.buckets.";

/// The stem of the `.bson` file holding the documents of collection `name` of `kind` whose
/// metadata has stem `stem`: the stem itself, or for a time series the escaped name of its
/// buckets collection (`system.buckets.<stem>`, hashed as a whole when long, as mongodump
/// names the file after the collection it reads).
pub fn data_stem(kind: &str, name: &str, stem: &str) -> String {
    if kind == "timeseries" {
        file_stem(&buckets_collection(name))
    } else {
        stem.to_string()
    }
}

/// The collection holding the buckets of time series `name`.
pub fn buckets_collection(name: &str) -> String {
    format!("{BUCKETS_PREFIX}{name}")
}

/// The name under which a time series' own expiry (its `expireAfterSeconds` option, not an
/// index) is listed among TTL indexes.
pub const TIMESERIES_TTL: &str = "expireAfterSeconds";

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b' ' => out.push('+'),
            _ if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `url.QueryUnescape` (`+` is a space); None for a malformed escape.
pub fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// mongodump's `shouldSkipSystemNamespace` for the databases we dump (never admin, local or
/// config): `system.*` except `system.js`, and names with `$`.
pub fn skipped_collection(name: &str) -> bool {
    (name.starts_with("system.") && name != "system.js") || (name.contains('$') && !name.contains(".oplog.$"))
}

/// What `listCollections` said of one collection, kept verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    pub name: String,
    /// "collection", "view" or "timeseries".
    pub kind: String,
    pub options: Document,
    /// 16 bytes, when the server reports one.
    pub uuid: Option<Vec<u8>>,
}

impl CollectionInfo {
    pub fn from_list_collections(doc: &Document) -> Option<Self> {
        let name = doc.get_str("name").ok()?.to_string();
        let kind = doc.get_str("type").unwrap_or("collection").to_string();
        let options = doc.get_document("options").cloned().unwrap_or_default();
        let uuid = doc.get_document("info").ok().and_then(|i| match i.get("uuid") {
            Some(Bson::Binary(b)) => Some(b.bytes.clone()),
            _ => None,
        });
        Some(CollectionInfo { name, kind, options, uuid })
    }

    pub fn is_view(&self) -> bool {
        self.kind == "view"
    }

    pub fn is_timeseries(&self) -> bool {
        self.kind == "timeseries"
    }
}

/// The `.metadata.json` text mongodump writes: canonical extended JSON v2, compact, keys in
/// the order options (omitted when empty), indexes, uuid (omitted when absent),
/// collectionName, type.
pub fn metadata_json(info: &CollectionInfo, indexes: &[Document]) -> String {
    let mut m = Map::new();
    if !info.options.is_empty() {
        m.insert("options".into(), Bson::Document(info.options.clone()).into_canonical_extjson());
    }
    m.insert(
        "indexes".into(),
        Value::Array(indexes.iter().map(|d| Bson::Document(d.clone()).into_canonical_extjson()).collect()),
    );
    if let Some(u) = &info.uuid {
        m.insert("uuid".into(), Value::String(hex::encode(u)));
    }
    m.insert("collectionName".into(), Value::String(info.name.clone()));
    m.insert("type".into(), Value::String(info.kind.clone()));
    Value::Object(m).to_string()
}

/// A parsed `.metadata.json` (ours, mongodump's, or the legacy relaxed form of old tools).
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub options: Document,
    pub indexes: Vec<Document>,
    pub uuid: Option<String>,
    pub collection_name: Option<String>,
    pub kind: String,
}

/// A TTL index: the server deletes a document once `field` is older than `seconds`, within a
/// minute of it expiring; documents restored from an old backup may be gone at once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct TtlIndex {
    pub index: String,
    pub field: String,
    pub seconds: i64,
}

/// The TTL indexes among a collection's indexes, and a time series' own expiry (its
/// `expireAfterSeconds` option on its time field, listed as `TIMESERIES_TTL`).
pub fn ttl_indexes(meta: &Metadata) -> Vec<TtlIndex> {
    let own = (meta.kind == "timeseries")
        .then(|| {
            let seconds = bson_seconds(meta.options.get("expireAfterSeconds")?)?;
            let field = meta.options.get_document("timeseries").ok()?.get_str("timeField").ok()?.to_string();
            Some(TtlIndex { index: TIMESERIES_TTL.into(), field, seconds })
        })
        .flatten();
    own.into_iter().chain(ttl_of_indexes(meta)).collect()
}

/// A number of seconds as BSON holds one.
pub fn bson_seconds(v: &bson::Bson) -> Option<i64> {
    match v {
        bson::Bson::Int32(n) => Some(*n as i64),
        bson::Bson::Int64(n) => Some(*n),
        bson::Bson::Double(f) => Some(*f as i64),
        _ => None,
    }
}

fn ttl_of_indexes(meta: &Metadata) -> Vec<TtlIndex> {
    meta.indexes
        .iter()
        .filter_map(|ix| {
            let seconds = bson_seconds(ix.get("expireAfterSeconds")?)?;
            let field = ix.get_document("key").ok()?.keys().next()?.clone();
            Some(TtlIndex { index: ix.get_str("name").unwrap_or_default().to_string(), field, seconds })
        })
        .collect()
}

pub fn parse_metadata(text: &str) -> Result<Metadata, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let doc = |key: &str| -> Result<Document, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(Document::new()),
            Some(v) => match Bson::try_from(v.clone()).map_err(|e| format!("{key}: {e}"))? {
                Bson::Document(d) => Ok(d),
                other => Err(format!("{key} is {:?}, not a document", other.element_type())),
            },
        }
    };
    let options = doc("options")?;
    let mut indexes = Vec::new();
    if let Some(list) = obj.get("indexes") {
        let list = list.as_array().ok_or("indexes is not an array")?;
        for (i, ix) in list.iter().enumerate() {
            match Bson::try_from(ix.clone()).map_err(|e| format!("indexes.{i}: {e}"))? {
                Bson::Document(d) => indexes.push(d),
                _ => return Err(format!("indexes.{i} is not a document")),
            }
        }
    }
    Ok(Metadata {
        options,
        indexes,
        uuid: obj.get("uuid").and_then(Value::as_str).map(str::to_owned),
        collection_name: obj.get("collectionName").and_then(Value::as_str).map(str::to_owned),
        kind: obj.get("type").and_then(Value::as_str).unwrap_or("collection").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    /// Issue 10: mongodump (100.8) writes `sp ace` as `sp+ace` and `a+b` as `a%2Bb` (Go's
    /// QueryEscape); PathEscape (`%20`, `+` kept) made mongorestore read `a+b` back as `a b`.
    #[test]
    fn names_are_escaped_like_mongodump() {
        for (name, stem) in [
            ("cafés", "caf%C3%A9s"),
            ("sp ace", "sp+ace"),
            ("a+b", "a%2Bb"),
            ("100%", "100%25"),
            ("a/b", "a%2Fb"),
            ("users$x", "users%24x"),
            ("a b/c;d,e?f", "a+b%2Fc%3Bd%2Ce%3Ff"),
            ("x&y=z:v@u~t-_.", "x%26y%3Dz%3Av%40u~t-_."),
            ("الموظفين", "%D8%A7%D9%84%D9%85%D9%88%D8%B8%D9%81%D9%8A%D9%86"),
        ] {
            assert_eq!(file_stem(name), stem, "{name}");
            assert_eq!(query_unescape(stem).as_deref(), Some(name), "{stem}");
        }
        assert_eq!(query_unescape("a%2"), None);
        assert_eq!(query_unescape("a%zz"), None);
    }

    #[test]
    fn long_names_are_truncated_and_hashed_like_the_fixture() {
        // The real mongodump output in tests/fixtures/mongodump/longcollectionname.
        let name = format!(
            "{}LongCollectionNameConsistingOfExactlyTwoHundredAndFortySevenCharacters",
            "aVery".to_string() + &"Very".repeat(43)
        );
        assert_eq!(name.len(), 247);
        let stem = file_stem(&name);
        assert_eq!(
            stem,
            format!("aVery{}LongCollectionNameConsistingOfE%24xFO0VquRn7cg3QooSZD5sglTddU", "Very".repeat(43))
        );
    }

    #[test]
    fn a_time_series_expiry_is_listed_with_the_ttl_indexes() {
        let meta = parse_metadata(
            r#"{"options":{"timeseries":{"timeField":"at","granularity":"hours"},"expireAfterSeconds":{"$numberLong":"86400"}},"indexes":[],"collectionName":"readings","type":"timeseries"}"#,
        )
        .unwrap();
        let ttl = ttl_indexes(&meta);
        assert_eq!(ttl.len(), 1);
        assert_eq!((ttl[0].index.as_str(), ttl[0].field.as_str(), ttl[0].seconds), (TIMESERIES_TTL, "at", 86_400));
        assert_eq!(data_stem("timeseries", "readings", "readings"), "system.buckets.readings");
        assert_eq!(data_stem("collection", "a b", "a+b"), "a+b");
        // A long name's buckets file is hashed as a whole, as mongodump names it.
        let long = "r".repeat(240);
        let stem = data_stem("timeseries", &long, &file_stem(&long));
        assert!(stem.len() <= 238 + 33 && stem.starts_with("system.buckets.rrr") && stem.contains("%24"), "{stem}");
    }

    #[test]
    fn system_collections_are_skipped_like_mongodump() {
        assert!(skipped_collection("system.views"));
        assert!(skipped_collection("system.profile"));
        assert!(!skipped_collection("system.js"));
        assert!(!skipped_collection("users"));
    }

    #[test]
    fn metadata_has_mongodumps_key_order_and_canonical_numbers() {
        let info = CollectionInfo {
            name: "coll1".into(),
            kind: "collection".into(),
            options: doc! {},
            uuid: Some(hex::decode("ffa7054f30dc422696fa9607e150cb53").unwrap()),
        };
        let indexes = vec![
            doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            doc! {"v": 2, "key": {"a": 1}, "name": "a_1", "expireAfterSeconds": 1000},
        ];
        // The example from mongo-tools' testdata, byte for byte.
        assert_eq!(
            metadata_json(&info, &indexes),
            r#"{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},{"v":{"$numberInt":"2"},"key":{"a":{"$numberInt":"1"}},"name":"a_1","expireAfterSeconds":{"$numberInt":"1000"}}],"uuid":"ffa7054f30dc422696fa9607e150cb53","collectionName":"coll1","type":"collection"}"#
        );
        let back = parse_metadata(&metadata_json(&info, &indexes)).unwrap();
        assert_eq!(back.indexes, indexes);
        assert_eq!(back.collection_name.as_deref(), Some("coll1"));
    }

    #[test]
    fn compound_index_key_order_survives() {
        let info = CollectionInfo { name: "c".into(), kind: "collection".into(), options: doc! {}, uuid: None };
        let ix = vec![doc! {"v": 2, "key": {"z": 1, "a": -1}, "name": "z_1_a_-1"}];
        let back = parse_metadata(&metadata_json(&info, &ix)).unwrap();
        let keys: Vec<&String> = back.indexes[0].get_document("key").unwrap().keys().collect();
        assert_eq!(keys, vec!["z", "a"]);
    }
}
