//! Real `mongodump` output (tests/fixtures/mongodump, from the Database Tools' own test
//! data) restores through our reader: plain and --gzip folders, prelude.json, escaped and
//! hashed long names, legacy index specs, the --archive stream; a malformed archive is refused
//! with a clear message before anything is written.

use std::io::Read;
use std::path::{Path, PathBuf};

use bson::Document;
use hrsm_backup::mongo::{restore_dump_archive, restore_dump_dir, MongoRestoreOptions};
use hrsm_backup::NoProgress;
use mongodb::sync::Client;

use super::util::*;

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/mongodump")
}

fn opts(map: Vec<(String, String)>) -> MongoRestoreOptions {
    MongoRestoreOptions {
        uri: mongo_uri(),
        databases: map,
        collections: None,
        threads: 2,
        log_collection: None,
        pause_ttl: false,
    }
}

/// Every document of `db.coll`, in natural order.
fn every_document(client: &Client, db: &str, coll: &str) -> Vec<Document> {
    client.database(db).collection::<Document>(coll).find(bson::doc! {}).run().unwrap().map(|d| d.unwrap()).collect()
}

/// Documents in a .bson or .bson.gz file.
fn count_docs(path: &Path) -> u64 {
    let mut bytes = Vec::new();
    let f = std::fs::File::open(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(f).read_to_end(&mut bytes).unwrap();
    } else {
        std::io::BufReader::new(f).read_to_end(&mut bytes).unwrap();
    }
    let (mut at, mut n) = (0, 0);
    while at < bytes.len() {
        at += u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        n += 1;
    }
    n
}

#[test]
fn every_mongodump_folder_fixture_restores() {
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    let dirs = [
        "collMod_ttl_index",
        "coll_with_index",
        "coll_with_ttl_index",
        "foodump",
        "indextestdump",
        "longcollectionname",
        "prelude_test/prelude_gzip",
        "prelude_test/prelude_top_level",
        "specialcharacter",
    ];
    for dir in dirs {
        let root = fixtures().join(dir);
        let mut map = Vec::new();
        let mut expected = Vec::new();
        for db in std::fs::read_dir(&root).unwrap().map(|e| e.unwrap()).filter(|e| e.path().is_dir()) {
            let from = db.file_name().to_string_lossy().into_owned();
            // The long name leaves room for a database name of at most 7 bytes (255 in all).
            let to =
                if dir == "longcollectionname" { format!("l{:04x}", rand::random::<u16>()) } else { fresh_db("it_fx") };
            for f in std::fs::read_dir(db.path()).unwrap().map(|e| e.unwrap().path()) {
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                if name.ends_with(".bson") || name.ends_with(".bson.gz") {
                    expected.push((to.clone(), count_docs(&f)));
                }
            }
            map.push((from, to));
        }
        let report = restore_dump_dir(&root, &opts(map), &NoProgress).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(report.collections.len(), expected.len(), "{dir}");
        for (c, (db, n)) in report.collections.iter().zip(&expected) {
            assert_eq!((&c.db, c.documents), (db, *n), "{dir}");
            let live =
                client.database(&c.db).collection::<Document>(&c.name).count_documents(bson::doc! {}).run().unwrap();
            assert_eq!(live, *n, "{dir}: {}", c.name);
        }
        if dir == "specialcharacter" {
            assert_eq!(report.collections[0].name, "cafés");
        }
        if dir == "longcollectionname" {
            assert!(
                report.collections[0].name.ends_with("ExactlyTwoHundredAndFortySevenCharacters"),
                "the real name comes from the metadata"
            );
        }
        if dir == "indextestdump" {
            let names: Vec<String> = client
                .database(&report.collections[0].db)
                .collection::<Document>("test_collection")
                .list_index_names()
                .run()
                .unwrap();
            assert!(names.contains(&"a_1_b_true".to_string()), "the legacy index was converted and built: {names:?}");
        }
    }
}

#[test]
fn the_long_name_fixture_matches_our_file_naming() {
    let dir = fixtures().join("longcollectionname/db1");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".bson"))
        .unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file.replace(".bson", ".metadata.json"))).unwrap())
            .unwrap();
    let name = meta["collectionName"].as_str().unwrap();
    assert_eq!(format!("{}.bson", hrsm_backup::mongo::layout::file_stem(name)), file);
    assert_eq!(hrsm_backup::mongo::layout::file_stem("cafés"), "caf%C3%A9s");
}

#[test]
fn the_archive_stream_fixture_restores() {
    let to = fresh_db("it_fxa");
    let report = restore_dump_archive(
        &fixtures().join("test.bar.archive"),
        &opts(vec![("test".into(), to.clone())]),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(report.collections.len(), 1);
    assert_eq!(report.collections[0].name, "bar");
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    let n = client.database(&to).collection::<Document>("bar").count_documents(bson::doc! {}).run().unwrap();
    assert_eq!(n, report.collections[0].documents);
    assert!(n > 0);
}

#[test]
fn a_malformed_archive_is_refused_and_nothing_is_written() {
    let to = fresh_db("it_fxbad");
    let err = restore_dump_archive(
        &fixtures().join("bad-format.archive"),
        &opts(vec![("test".into(), to.clone())]),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("error parsing metadata for test.ixtest"), "{err}");
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    assert!(!client.list_database_names().run().unwrap().contains(&to));
}

#[test]
fn a_view_the_server_refuses_fails_the_restore_before_anything_is_replaced() {
    let t = tmp();
    let dir = t.path().join("dump/app");
    std::fs::create_dir_all(&dir).unwrap();
    let doc = bson::to_vec(&bson::doc! {"_id": 1, "from": "backup"}).unwrap();
    std::fs::write(dir.join("c.bson"), doc).unwrap();
    std::fs::write(
        dir.join("c.metadata.json"),
        r#"{"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"}],"collectionName":"c","type":"collection"}"#,
    )
    .unwrap();
    std::fs::write(dir.join("v.metadata.json"), r#"{"options":{"viewOn":"c","pipeline":[{"$noSuchStage":{}}]},"indexes":[],"collectionName":"v","type":"view"}"#).unwrap();
    let to = fresh_db("it_fxview");
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    client.database(&to).collection::<Document>("c").insert_one(bson::doc! {"_id": 1, "from": "live"}).run().unwrap();
    let err = restore_dump_dir(&t.path().join("dump"), &opts(vec![("app".into(), to.clone())]), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("create the view"), "{err}");
    let live = every_document(&client, &to, "c");
    assert_eq!(live, vec![bson::doc! {"_id": 1, "from": "live"}], "the live collection is untouched");
    assert_eq!(client.database(&to).list_collection_names().run().unwrap(), vec!["c"], "no staging left");
}

/// A `mongodump --archive` stream as the Database Tools write it (archive/ in mongo-tools):
/// magic, header, namespace prelude, then per namespace data segments and an end block with
/// the CRC-64 (XZ) of its documents. `segments` may split a namespace in several parts.
pub(super) fn dump_archive(prelude: &[(&str, &str, &str)], segments: &[(&str, &str, Vec<Document>)]) -> Vec<u8> {
    const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_XZ);
    let bytes = |d: &Document| bson::to_vec(d).unwrap();
    let term = 0xffff_ffffu32.to_le_bytes();
    let mut out = 0x8199_e26du32.to_le_bytes().to_vec();
    out.extend(bytes(&bson::doc! {"concurrent_collections": 4, "version": "0.1", "server_version": "7.0.14", "tool_version": "100.8.0"}));
    for (db, coll, meta) in prelude {
        out.extend(bytes(
            &bson::doc! {"db": *db, "collection": *coll, "metadata": *meta, "size": 0_i32, "type": "collection"},
        ));
    }
    out.extend(term);
    let mut crcs: std::collections::BTreeMap<(String, String), crc::Digest<'static, u64>> = Default::default();
    for (db, coll, docs) in segments {
        out.extend(bytes(&bson::doc! {"db": *db, "collection": *coll, "EOF": false, "CRC": 0_i64}));
        let digest = crcs.entry((db.to_string(), coll.to_string())).or_insert_with(|| CRC64.digest());
        for d in docs {
            let b = bytes(d);
            digest.update(&b);
            out.extend(b);
        }
        out.extend(term);
    }
    for ((db, coll), digest) in crcs {
        out.extend(bytes(&bson::doc! {"db": db, "collection": coll, "EOF": true, "CRC": digest.finalize() as i64}));
        out.extend(term);
    }
    out
}

/// Issue 10: an archive made with `mongodump --archive --oplog` failed at once ("error parsing
/// metadata for .oplog"). Its oplog namespace is now read and checked, and the collections
/// restore, also when a collection comes in several segments.
#[test]
fn an_oplog_archive_restores_its_collections() {
    let t = tmp();
    let meta = r#"{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],"collectionName":"staff","type":"collection"}"#;
    let docs = |from: i32, n: i32| {
        (from..from + n).map(|i| bson::doc! {"_id": i, "name": format!("n{i}")}).collect::<Vec<_>>()
    };
    let archive = dump_archive(
        &[("hrms", "staff", meta), ("", "oplog", "")],
        &[
            ("hrms", "staff", docs(0, 40)),
            ("", "oplog", vec![bson::doc! {"op": "n", "ns": "", "o": {"msg": "periodic noop"}}]),
            ("hrms", "staff", docs(40, 60)),
        ],
    );
    let path = t.path().join("oplog.archive");
    std::fs::write(&path, archive).unwrap();
    let to = fresh_db("it_oplog");
    let report = restore_dump_archive(&path, &opts(vec![("hrms".into(), to.clone())]), &NoProgress).unwrap();
    assert_eq!(report.collections.len(), 1);
    assert_eq!(report.collections[0].documents, 100);
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    assert_eq!(client.database(&to).collection::<Document>("staff").count_documents(bson::doc! {}).run().unwrap(), 100);
}

/// A time series as the Database Tools write it: metadata of type "timeseries" under its own
/// name, its buckets under `system.buckets.<name>` (in an archive: the data segments and the
/// end block come under that namespace while the prelude names `<name>`).
const TS_META: &str = r#"{"options":{"timeseries":{"timeField":"ts","metaField":"meta","granularity":"hours","bucketMaxSpanSeconds":{"$numberInt":"2592000"}}},"indexes":[{"v":{"$numberInt":"2"},"key":{"meta":{"$numberInt":"1"},"ts":{"$numberInt":"1"}},"name":"meta_1_ts_1"}],"collectionName":"readings","type":"timeseries"}"#;

fn ts_buckets() -> Vec<Document> {
    (0..3)
        .map(|i: i64| {
            bson::doc! {"_id": bson::oid::ObjectId::from_bytes([0x69, 0x55, 0xb9, i as u8, 0, 0, 0, 0, 0, 0, 0, 1]),
            "control": {"version": 1, "min": {"ts": bson::DateTime::from_millis(1_767_225_600_000 + i * 3_600_000), "v": 1}, "max": {"ts": bson::DateTime::from_millis(1_767_225_600_000 + i * 3_600_000), "v": 1}},
            "meta": {"device": i}, "data": {"ts": {"0": bson::DateTime::from_millis(1_767_225_600_000 + i * 3_600_000)}, "v": {"0": 1}}}
        })
        .collect()
}

/// Issue 10: a time-series archive was refused as ending unexpectedly, and a `--out` folder's
/// `system.buckets.<name>.bson` was left out without a word. Both are now read as one time
/// series: converted to the layout byte for byte, and restored (here refused by a server that
/// does not take buckets, which the message names, with nothing changed).
#[test]
fn a_time_series_archive_and_folder_are_read_as_the_tools_write_them() {
    let t = tmp();
    let staff = r#"{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],"collectionName":"staff","type":"collection"}"#;
    let archive = dump_archive(
        &[("hrms", "readings", TS_META), ("hrms", "staff", staff)],
        &[("hrms", "system.buckets.readings", ts_buckets()), ("hrms", "staff", vec![bson::doc! {"_id": 1}])],
    );
    let path = t.path().join("ts.archive");
    std::fs::write(&path, &archive).unwrap();
    // To the `--out` layout (what an import of an old backup does): byte for byte.
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let done = hrsm_backup::mongo::archive_to_dump_dir(&path, &out, &NoProgress).unwrap();
    assert_eq!(done.databases, vec!["hrms"]);
    let want: Vec<u8> = ts_buckets().iter().flat_map(|d| bson::to_vec(d).unwrap()).collect();
    assert_eq!(std::fs::read(out.join("hrms/system.buckets.readings.bson")).unwrap(), want);
    assert_eq!(std::fs::read_to_string(out.join("hrms/readings.metadata.json")).unwrap(), TS_META);
    assert!(!out.join("hrms/readings.bson").exists());

    // Restored: the archive and the folder reach the buckets; this server refuses them.
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    for from_dir in [false, true] {
        let to = fresh_db("it_ts_tools");
        let o = opts(vec![("hrms".into(), to.clone())]);
        let err = if from_dir {
            restore_dump_dir(&out, &o, &NoProgress)
        } else {
            restore_dump_archive(&path, &o, &NoProgress)
        }
        .unwrap_err()
        .to_string();
        assert!(err.contains(&format!("the buckets of the time series {to}.readings")), "{err}");
        assert!(client.database(&to).list_collection_names().run().unwrap().is_empty(), "nothing left behind");
    }
}

/// A time series whose file holds its measurements (`<name>.bson`, as this program's native
/// export kept time series before it kept buckets) goes in through the time series itself,
/// which buckets it; restored again over itself, the live one is replaced (a time series
/// cannot be renamed) with nothing of the staging left.
#[test]
fn a_time_series_kept_as_measurements_restores_and_replaces_itself() {
    let t = tmp();
    let dir = t.path().join("old");
    std::fs::create_dir_all(dir.join("hrms")).unwrap();
    std::fs::write(dir.join("hrms/readings.metadata.json"), TS_META).unwrap();
    let at = |h: i64| bson::DateTime::from_millis(1_767_225_600_000 + h * 3_600_000);
    let measurements: Vec<u8> = (0..30)
        .flat_map(|i: i64| bson::to_vec(&bson::doc! {"ts": at(i), "meta": {"device": i % 3}, "v": i}).unwrap())
        .collect();
    std::fs::write(dir.join("hrms/readings.bson"), measurements).unwrap();
    let to = fresh_db("it_ts_old");
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    for round in 0..2 {
        let report = restore_dump_dir(&dir, &opts(vec![("hrms".into(), to.clone())]), &NoProgress)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(report.collections[0].documents, 30);
        assert!(!report.collections[0].buckets, "measurements, not buckets");
        let readings = client.database(&to).collection::<Document>("readings");
        assert_eq!(readings.count_documents(bson::doc! {}).run().unwrap(), 30, "round {round}");
        let names = client.database(&to).list_collection_names().run().unwrap();
        assert!(names.contains(&"readings".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("__hrsm")), "round {round}: nothing of the staging left: {names:?}");
        let info = client
            .database(&to)
            .run_command(bson::doc! {"listCollections": 1, "filter": {"name": "readings"}})
            .run()
            .unwrap();
        let first =
            info.get_document("cursor").unwrap().get_array("firstBatch").unwrap()[0].as_document().unwrap().clone();
        assert_eq!(first.get_str("type"), Ok("timeseries"), "{first}");
    }
}

/// Each collection's indexes are built by its filler as soon as its documents are in, while
/// the others still fill. An index the server cannot build (a unique one over duplicates)
/// still fails the whole restore naming the collection, replaces nothing and leaves nothing
/// behind: from a folder (whole collections, built early) and from an archive (segments,
/// built at the end).
#[test]
fn an_index_the_server_cannot_build_fails_the_restore_and_replaces_nothing() {
    let meta_a = r#"{"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"},{"v":2,"key":{"k":1},"name":"k_1","unique":true}],"collectionName":"a","type":"collection"}"#;
    let meta_b = r#"{"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"}],"collectionName":"b","type":"collection"}"#;
    let a_docs: Vec<Document> = (0..50).map(|i| bson::doc! {"_id": i, "k": i % 10}).collect();
    let b_docs: Vec<Document> = (0..3000).map(|i| bson::doc! {"_id": i, "pad": "x".repeat(200)}).collect();
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    for form in ["folder", "archive"] {
        let t = tmp();
        let to = fresh_db("it_fxidx");
        client
            .database(&to)
            .collection::<Document>("a")
            .insert_one(bson::doc! {"_id": 1, "from": "live"})
            .run()
            .unwrap();
        let o = opts(vec![("app".into(), to.clone())]);
        let result = if form == "folder" {
            let dir = t.path().join("dump/app");
            std::fs::create_dir_all(&dir).unwrap();
            for (name, meta, docs) in [("a", meta_a, &a_docs), ("b", meta_b, &b_docs)] {
                let bytes: Vec<u8> = docs.iter().flat_map(|d| bson::to_vec(d).unwrap()).collect();
                std::fs::write(dir.join(format!("{name}.bson")), bytes).unwrap();
                std::fs::write(dir.join(format!("{name}.metadata.json")), meta).unwrap();
            }
            restore_dump_dir(&t.path().join("dump"), &o, &NoProgress)
        } else {
            let path = t.path().join("dump.archive");
            let archive = dump_archive(
                &[("app", "a", meta_a), ("app", "b", meta_b)],
                &[("app", "a", a_docs.clone()), ("app", "b", b_docs.clone())],
            );
            std::fs::write(&path, archive).unwrap();
            restore_dump_archive(&path, &o, &NoProgress)
        };
        let err = result.unwrap_err().to_string();
        assert!(err.contains(&format!("build the indexes of {to}.a")), "{form}: {err}");
        let live = every_document(&client, &to, "a");
        assert_eq!(live, vec![bson::doc! {"_id": 1, "from": "live"}], "{form}: the live collection is untouched");
        assert_eq!(
            client.database(&to).list_collection_names().run().unwrap(),
            vec!["a"],
            "{form}: nothing left behind"
        );
    }
}

/// Counts the bytes a restore read from its input.
struct CountRead(std::sync::atomic::AtomicU64);

impl hrsm_backup::Progress for CountRead {
    fn event(&self, event: hrsm_backup::Event) {
        if let hrsm_backup::Event::Advance(n) = event {
            self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The index is built by the collection's filler, early: with one filler at a time, the
/// reader waits for `a`'s filler before it reads `b`, and `a`'s refused index stops the
/// restore there; `b` is never read (built at the end, as before, every byte was).
#[test]
fn a_collection_s_indexes_are_built_as_soon_as_its_documents_are_in() {
    let t = tmp();
    let dir = t.path().join("dump/app");
    std::fs::create_dir_all(&dir).unwrap();
    let meta_a = r#"{"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"},{"v":2,"key":{"k":1},"name":"k_1","unique":true}],"collectionName":"a","type":"collection"}"#;
    let meta_b = r#"{"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"}],"collectionName":"b","type":"collection"}"#;
    let a: Vec<u8> = (0..50).flat_map(|i| bson::to_vec(&bson::doc! {"_id": i, "k": i % 10}).unwrap()).collect();
    let b: Vec<u8> = (0..500).flat_map(|i| bson::to_vec(&bson::doc! {"_id": i}).unwrap()).collect();
    for (name, meta, bytes) in [("a", meta_a, &a), ("b", meta_b, &b)] {
        std::fs::write(dir.join(format!("{name}.bson")), bytes).unwrap();
        std::fs::write(dir.join(format!("{name}.metadata.json")), meta).unwrap();
    }
    let to = fresh_db("it_fxearly");
    let o = MongoRestoreOptions { threads: 1, ..opts(vec![("app".into(), to.clone())]) };
    let read = CountRead(Default::default());
    let err = restore_dump_dir(&t.path().join("dump"), &o, &read).unwrap_err().to_string();
    assert!(err.contains(&format!("build the indexes of {to}.a")), "{err}");
    assert_eq!(read.0.into_inner(), a.len() as u64, "b was not read");
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    assert!(client.database(&to).list_collection_names().run().unwrap().is_empty(), "nothing left behind");
}

/// Cancels at its second poll after `after` bytes were read: the first is the reader's own,
/// after the last document of the first collection; the second is the reader waiting for a
/// filler slot before the next collection.
struct CancelWhileWaiting(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64, u64);

impl hrsm_backup::Progress for CancelWhileWaiting {
    fn event(&self, event: hrsm_backup::Event) {
        if let hrsm_backup::Event::Advance(n) = event {
            self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }
    fn cancelled(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.0.load(Relaxed) >= self.2 && self.1.fetch_add(1, Relaxed) >= 1
    }
}

/// A cancel while the reader waits for the one filler (still inserting the first collection)
/// stops the restore there: the next collection is not read, the live one is untouched, and
/// nothing is left behind (neither the staging copy nor the new collection).
#[test]
fn a_restore_cancelled_while_a_collection_fills_keeps_the_live_data() {
    let t = tmp();
    let dir = t.path().join("dump/app");
    std::fs::create_dir_all(&dir).unwrap();
    let meta = |name: &str| {
        format!(
            r#"{{"indexes":[{{"v":2,"key":{{"_id":1}},"name":"_id_"}}],"collectionName":"{name}","type":"collection"}}"#
        )
    };
    let a: Vec<u8> =
        (0..40_000).flat_map(|i| bson::to_vec(&bson::doc! {"_id": i, "pad": "x".repeat(20)}).unwrap()).collect();
    let b: Vec<u8> = (0..100).flat_map(|i| bson::to_vec(&bson::doc! {"_id": i}).unwrap()).collect();
    for (name, bytes) in [("a", &a), ("b", &b)] {
        std::fs::write(dir.join(format!("{name}.bson")), bytes).unwrap();
        std::fs::write(dir.join(format!("{name}.metadata.json")), meta(name)).unwrap();
    }
    let to = fresh_db("it_fxcancel");
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    client.database(&to).collection::<Document>("a").insert_one(bson::doc! {"_id": 1, "from": "live"}).run().unwrap();
    let o = MongoRestoreOptions { threads: 1, ..opts(vec![("app".into(), to.clone())]) };
    let progress = CancelWhileWaiting(Default::default(), Default::default(), a.len() as u64);
    let err = restore_dump_dir(&t.path().join("dump"), &o, &progress).unwrap_err();
    assert!(matches!(err, hrsm_backup::Error::Cancelled), "{err}");
    assert_eq!(progress.0.into_inner(), a.len() as u64, "b was not read");
    assert_eq!(
        every_document(&client, &to, "a"),
        vec![bson::doc! {"_id": 1, "from": "live"}],
        "the live a is untouched"
    );
    assert_eq!(client.database(&to).list_collection_names().run().unwrap(), vec!["a"], "nothing left behind");
}
