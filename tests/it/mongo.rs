//! MongoDB against a real MongoDB-wire server (SecantusDB): every BSON type byte-identical,
//! indexes, options, capped collections, validators and views, 200k documents, restore under
//! another name, a failed restore that leaves the live data alone, and clear errors.

use bson::{
    doc, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, RawDocumentBuf,
    Regex, Timestamp,
};
use hrsm_backup::mongo::{MongoPart, MongoRestoreOptions, MongoSource};
use hrsm_backup::restore_mongo;
use hrsm_backup::{run_backup, BackupOptions, Catalog, NoProgress, PayloadOptions, Status};
use mongodb::sync::Client;

use super::util::*;

fn client() -> Client {
    Client::with_uri_str(mongo_uri()).unwrap()
}

fn source(dbs: &[&str]) -> MongoSource {
    MongoSource {
        uri: mongo_uri(),
        databases: dbs.iter().map(|s| s.to_string()).collect(),
        tools_dir: None,
        use_tools: false,
        threads: 2,
        log_collection: None,
        ..MongoSource::new("", vec![])
    }
}

/// Options that back up only `src` into `dest`, verified, without retention.
fn mongo_only(dest: std::path::PathBuf, src: MongoSource) -> BackupOptions {
    BackupOptions {
        destination: dest,
        sources: vec![],
        mongo: Some(src),
        payload: PayloadOptions::default(),
        verify: true,
        retention: None,
        trigger: Default::default(),
    }
}

fn backup_mongo(dest: &std::path::Path, dbs: &[&str]) -> hrsm_backup::BackupOutcome {
    let opts = mongo_only(dest.to_path_buf(), source(dbs));
    run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap()
}

fn restore_as(
    archive: &std::path::Path,
    from: &str,
    to: &str,
) -> hrsm_backup::Result<hrsm_backup::mongo::MongoRestoreReport> {
    let opts = MongoRestoreOptions {
        uri: mongo_uri(),
        databases: vec![(from.into(), to.into())],
        collections: None,
        threads: 2,
        log_collection: None,
        pause_ttl: false,
    };
    restore_mongo(archive, &key(), &opts, &NoProgress)
}

/// All documents of a collection as raw bytes, sorted (natural order may differ).
fn raw_docs(db: &str, coll: &str) -> Vec<Vec<u8>> {
    let c = client().database(db).collection::<RawDocumentBuf>(coll);
    let mut v: Vec<Vec<u8>> = c.find(doc! {}).run().unwrap().map(|d| d.unwrap().into_bytes()).collect();
    v.sort();
    v
}

fn every_type(i: i32) -> Document {
    doc! {
        "double": 3.5 + i as f64, "string": format!("Amira {i} ✓"), "doc": {"nested": {"deep": [1, {"x": "y"}]}},
        "array": [1, "two", 3.0, [4, [5]], {"six": 6}],
        "bin_generic": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 2, 255] },
        "bin_uuid": Binary { subtype: BinarySubtype::Uuid, bytes: (0..16).collect() },
        "bin_md5": Binary { subtype: BinarySubtype::Md5, bytes: vec![9; 16] },
        "bin_user": Binary { subtype: BinarySubtype::UserDefined(0x80), bytes: b"custom".to_vec() },
        "oid": bson::oid::ObjectId::from_bytes([i as u8; 12]), "bool": i % 2 == 0,
        "date": DateTime::from_millis(1_790_000_000_000 + i as i64), "date_old": DateTime::from_millis(-2_000_000_000_000),
        "null": Bson::Null, "regex": Regex { pattern: "^amira.*".into(), options: "imx".into() },
        "code": Bson::JavaScriptCode("function() { return 1; }".into()),
        "code_ws": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "x + y".into(), scope: doc! {"x": 1, "y": 2} }),
        "int32": i, "int64": 9_000_000_000_i64 + i as i64, "ts": Timestamp { time: 1_700_000_000, increment: i as u32 },
        "dec": "1234567.891".parse::<Decimal128>().unwrap(), "min": Bson::MinKey, "max": Bson::MaxKey,
        "claims": [{"claim": "dental", "amount": 120.5, "items": [{"tooth": 3}]}, {"claim": "optical", "amount": 80}],
    }
}

#[test]
fn every_bson_type_comes_back_byte_identical_under_another_name() {
    let db = fresh_db("it_types");
    let c = client().database(&db).collection::<Document>("everything");
    let ids: Vec<Bson> = vec![
        Bson::ObjectId(bson::oid::ObjectId::new()),
        Bson::String("emp-0042".into()),
        Bson::Int32(7),
        Bson::Int64(1 << 40),
        Bson::Document(doc! {"tenant": "acme", "n": 1}),
        Bson::Binary(Binary { subtype: BinarySubtype::Uuid, bytes: vec![7; 16] }),
        Bson::Double(2.25),
        Bson::DateTime(DateTime::from_millis(1_700_000_000_000)),
    ];
    let docs: Vec<Document> = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let mut d = every_type(i as i32);
            d.insert("_id", id);
            d
        })
        .collect();
    c.insert_many(docs).run().unwrap();
    let t = tmp();
    let done = backup_mongo(&t.path().join("backups"), &[&db]);
    let part = MongoPart::of(&done.manifest).unwrap();
    assert_eq!(part.method, "native");
    assert_eq!(part.total_documents(), 8);
    let coll = &part.databases[0].collections[0];
    assert_eq!((coll.name.as_str(), coll.documents), ("everything", 8));
    assert_eq!(coll.sha256.as_ref().unwrap().len(), 64);
    let copy = format!("{db}_copy");
    let report = restore_as(&done.archive, &db, &copy).unwrap();
    assert_eq!(report.collections[0].documents, 8);
    assert_eq!(raw_docs(&db, "everything"), raw_docs(&copy, "everything"));
}

fn index_specs(db: &str, coll: &str) -> Vec<Document> {
    let mut v: Vec<Document> = client()
        .database(db)
        .run_cursor_command(doc! {"listIndexes": coll})
        .run()
        .unwrap()
        .map(|d| {
            let mut d = d.unwrap();
            d.remove("ns");
            d
        })
        .collect();
    v.sort_by_key(|d| d.get_str("name").unwrap_or("").to_string());
    v
}

fn collection_options(db: &str) -> Vec<(String, String, Document)> {
    let mut v: Vec<(String, String, Document)> = client()
        .database(db)
        .run_cursor_command(doc! {"listCollections": 1})
        .run()
        .unwrap()
        .map(|d| d.unwrap())
        .filter(|d| !d.get_str("name").unwrap().starts_with("system."))
        .map(|d| {
            (
                d.get_str("name").unwrap().to_string(),
                d.get_str("type").unwrap_or("collection").to_string(),
                d.get_document("options").cloned().unwrap_or_default(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn indexes_options_capped_validators_and_views_come_back() {
    let db = fresh_db("it_shape");
    let d = client().database(&db);
    d.run_command(doc! {"create": "users", "validator": {"$jsonSchema": {"bsonType": "object", "required": ["email"]}}, "validationLevel": "moderate"}).run().unwrap();
    d.run_command(doc! {"createIndexes": "users", "indexes": [
        {"key": {"email": 1}, "name": "email_1", "unique": true},
        {"key": {"tenant": 1, "joined": -1}, "name": "tenant_1_joined_-1"},
        {"key": {"session": 1}, "name": "session_ttl", "expireAfterSeconds": 3600},
        {"key": {"manager": 1}, "name": "manager_partial", "partialFilterExpression": {"manager": {"$exists": true}}},
        {"key": {"badge": 1}, "name": "badge_sparse", "sparse": true},
        {"key": {"name": 1}, "name": "name_ci", "collation": {"locale": "en", "strength": 2}},
    ]})
    .run()
    .unwrap();
    let users: Vec<Document> = (0..500).map(|i| doc! {"email": format!("u{i}@hr.example"), "tenant": i % 5, "joined": DateTime::from_millis(1_800_000_000_000 + i), "name": format!("User {i}")}).collect();
    d.collection::<Document>("users").insert_many(users).run().unwrap();
    d.run_command(doc! {"create": "auditlogs", "capped": true, "size": 1_048_576, "max": 1000}).run().unwrap();
    d.collection::<Document>("auditlogs").insert_many((0..50).map(|i| doc! {"i": i})).run().unwrap();
    d.run_command(doc! {"create": "activeUsers", "viewOn": "users", "pipeline": [{"$match": {"tenant": 1}}]})
        .run()
        .unwrap();
    d.run_command(doc! {"create": "empty"}).run().unwrap();

    let t = tmp();
    let done = backup_mongo(&t.path().join("backups"), &[&db]);
    let copy = format!("{db}_copy");
    let report = restore_as(&done.archive, &db, &copy).unwrap();
    assert_eq!(report.views, vec![format!("{copy}.activeUsers")]);
    for coll in ["users", "auditlogs", "empty"] {
        assert_eq!(index_specs(&db, coll), index_specs(&copy, coll), "indexes of {coll}");
        assert_eq!(raw_docs(&db, coll), raw_docs(&copy, coll), "documents of {coll}");
    }
    assert_eq!(collection_options(&db), collection_options(&copy));
    let n = client().database(&copy).collection::<Document>("activeUsers").count_documents(doc! {}).run().unwrap();
    assert_eq!(n, 100, "the view works");
}

/// The progress details a run sent.
#[derive(Default)]
struct Details(std::sync::Mutex<Vec<String>>);

impl hrsm_backup::Progress for Details {
    fn event(&self, e: hrsm_backup::Event) {
        if let hrsm_backup::Event::Detail(d) = e {
            self.0.lock().unwrap().push(d);
        }
    }
}

#[test]
fn the_export_says_which_collection_it_is_on_and_how_far() {
    let db = fresh_db("it_detail");
    let c = client().database(&db).collection::<Document>("attendances");
    for chunk in 0..25 {
        c.insert_many((0..1000).map(|i| doc! {"n": chunk * 1000 + i, "day": "2026-11-30"}).collect::<Vec<_>>())
            .run()
            .unwrap();
    }
    client().database(&db).collection::<Document>("departments").insert_one(doc! {"name": "HR"}).run().unwrap();
    let t = tmp();
    let details = Details::default();
    let opts = mongo_only(t.path().join("backups"), source(&[&db]));
    run_backup(&opts, &key(), &details, Box::new(rand::rngs::OsRng)).unwrap();
    let seen = details.0.into_inner().unwrap();
    let ns = format!("{db}.attendances");
    for want in [
        format!("{ns}: 0 of about 25000 documents"),
        format!("{ns}: 10000 of about 25000 documents"),
        format!("{ns}: 20000 of about 25000 documents"),
        format!("{ns}: 25000 of about 25000 documents"),
        format!("{db}.departments: 1 of about 1 document"),
    ] {
        assert!(seen.contains(&want), "{want:?} not in {seen:?}");
    }
}

#[test]
fn two_hundred_thousand_documents_round_trip() {
    let db = fresh_db("it_big");
    let c = client().database(&db).collection::<Document>("auditlogs");
    for chunk in 0..200 {
        let docs: Vec<Document> = (0..1000).map(|i| { let n = chunk * 1000 + i; doc! {"n": n, "who": format!("user{}", n % 997), "changes": [{"f": "salary", "old": n, "new": n + 1}], "att": Binary { subtype: BinarySubtype::Generic, bytes: vec![(n % 251) as u8; 64] }} }).collect();
        c.insert_many(docs).run().unwrap();
    }
    let t = tmp();
    let done = backup_mongo(&t.path().join("backups"), &[&db]);
    assert_eq!(done.entry.documents, 200_000);
    let copy = format!("{db}_copy");
    restore_as(&done.archive, &db, &copy).unwrap();
    assert_eq!(raw_docs(&db, "auditlogs"), raw_docs(&copy, "auditlogs"));
}

#[test]
fn a_restore_that_fails_half_way_leaves_the_live_collection_intact() {
    let db = fresh_db("it_half");
    let c = client().database(&db).collection::<Document>("users");
    c.insert_many((0..20_000).map(|i| doc! {"i": i, "pad": "x".repeat(200)})).run().unwrap();
    let t = tmp();
    let done = backup_mongo(&t.path().join("backups"), &[&db]);
    c.insert_one(doc! {"marker": "written after the backup"}).run().unwrap();
    let before = raw_docs(&db, "users");
    // Cut the archive inside the users data: every chunk before the cut authenticates, so the
    // restore is well under way when it finds out.
    let bytes = std::fs::read(&done.archive).unwrap();
    std::fs::write(&done.archive, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = restore_as(&done.archive, &db, &db).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(raw_docs(&db, "users"), before, "the live collection must be untouched");
    let names = client().database(&db).list_collection_names().run().unwrap();
    assert_eq!(names, vec!["users"], "no staging collection is left behind");
}

#[test]
fn restore_replaces_the_collection_in_place_when_asked() {
    let db = fresh_db("it_inplace");
    let c = client().database(&db).collection::<Document>("tenants");
    c.insert_many((0..100).map(|i| doc! {"i": i})).run().unwrap();
    let t = tmp();
    let done = backup_mongo(&t.path().join("backups"), &[&db]);
    c.delete_many(doc! {"i": {"$lt": 50}}).run().unwrap();
    let report = restore_as(&done.archive, &db, &db).unwrap();
    assert_eq!(report.collections[0].documents, 100);
    assert_eq!(c.count_documents(doc! {}).run().unwrap(), 100);
}

#[test]
fn an_unreachable_server_fails_clearly_and_records_the_failure() {
    let t = tmp();
    let mut src = source(&["hrms"]);
    src.uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1500".into();
    let opts = mongo_only(t.path().join("b"), src);
    let err = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap_err();
    assert_eq!(err.to_string(), "cannot reach MongoDB at 127.0.0.1:9 while trying to connect; check that the server is running and that MONGODB_URI / mongodb.uri is right");
    let listing = Catalog::existing(&t.path().join("b")).unwrap().list().unwrap();
    assert_eq!(listing.entries[0].status, Status::Failed);
    let leftovers: Vec<_> = std::fs::read_dir(t.path().join("b"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.') && n != ".lock" && n != ".lock.holder")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_missing_database_is_an_error_not_an_empty_backup() {
    let t = tmp();
    let opts = mongo_only(t.path().join("b"), source(&["no_such_db_hrsm"]));
    let err = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap_err().to_string();
    assert!(err.starts_with("database 'no_such_db_hrsm' does not exist on mongodb://127.0.0.1:"), "{err}");
    assert!(
        err.ends_with("check mongodb.databases (or the database named in the connection string) in the config"),
        "{err}"
    );
}

#[test]
fn without_mongodump_the_native_path_is_used_and_recorded() {
    let db = fresh_db("it_tools");
    client().database(&db).collection::<Document>("licenses").insert_one(doc! {"key": "L-1"}).run().unwrap();
    let t = tmp();
    // A tools folder where mongodump exists but cannot start (its interpreter is missing).
    let tools = t.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    write(&tools.join("mongodump"), b"#!/nonexistent/interpreter\n", 0o755, 1_700_000_000);
    let mut src = source(&[&db]);
    src.use_tools = true;
    src.tools_dir = Some(tools);
    let opts = mongo_only(t.path().join("b"), src.clone());
    let done = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    let part = MongoPart::of(&done.manifest).unwrap();
    assert_eq!(part.method, "native");
    assert!(
        part.method_note.as_deref().unwrap_or("").starts_with("mongodump could not start"),
        "{:?}",
        part.method_note
    );
    src.tools_dir = Some(t.path().join("empty"));
    let opts = BackupOptions { mongo: Some(src), ..opts };
    let done = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    assert_eq!(
        MongoPart::of(&done.manifest).unwrap().method_note.as_deref(),
        Some("mongodump not found; the native export was used")
    );
}

#[test]
fn the_archive_holds_mongodumps_layout_and_records_consistency() {
    let db = fresh_db("it_layout");
    let d = client().database(&db);
    d.collection::<Document>("cafés").insert_one(doc! {"x": 1}).run().unwrap();
    d.collection::<Document>("system.js")
        .insert_one(doc! {"_id": "f", "value": Bson::JavaScriptCode("1".into())})
        .run()
        .unwrap();
    let t = tmp();
    let done = backup_mongo(&t.path().join("backups"), &[&db]);
    let part = MongoPart::of(&done.manifest).unwrap();
    let files: Vec<&str> = part.databases[0].files.iter().map(|f| f.path.as_str()).collect();
    let want: Vec<String> =
        ["caf%C3%A9s.bson", "caf%C3%A9s.metadata.json", "system.js.bson", "system.js.metadata.json"]
            .iter()
            .map(|f| format!("{db}/{f}"))
            .collect();
    assert_eq!(files, want.iter().map(String::as_str).collect::<Vec<_>>());
    // SecantusDB advertises a replica set: snapshot reads at one cluster time.
    assert!(part.consistent, "{}", part.consistency);
    assert!(part.cluster_time.is_some());
}

#[test]
fn the_cli_backs_up_inspects_and_restores_a_database() {
    let db = fresh_db("it_cli");
    client().database(&db).collection::<Document>("tenants").insert_many((0..30).map(|i| doc! {"i": i})).run().unwrap();
    let t = tmp();
    write(&t.path().join("uploads/a.pdf"), b"%PDF", 0o644, 1_700_000_000);
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!("destination = \"backups\"\n[mongodb]\nuri = \"{}\"\ndatabases = [\"{db}\"]\n[[sources]]\nname = \"uploads\"\npath = \"uploads\"\n", mongo_uri()),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "inspect", "latest"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("database {db} (server ")) && out.contains("1 collections, 30 documents"), "{out}");
    let copy = format!("{db}_cli");
    let to = format!("{db}={copy}");
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest", "--db", &to, "--dry-run"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("would restore {db}.tenants -> {copy}.tenants: collection 30 documents\n"),
        "{}",
        text(&o)
    );
    assert!(!client().list_database_names().run().unwrap().contains(&copy), "a dry run writes nothing");
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest", "--db", &to, "--files-to", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(raw_docs(&db, "tenants"), raw_docs(&copy, "tenants"));
    assert!(t.path().join("out/uploads/a.pdf").exists());
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest"]);
    assert_eq!(o.status.code(), Some(2), "nothing to restore is a usage error: {}", text(&o));
}

#[test]
fn every_run_is_logged_to_mongodb_and_locally_and_a_log_failure_is_only_a_warning() {
    let db = fresh_db("it_log");
    client().database(&db).collection::<Document>("users").insert_one(doc! {"u": 1}).run().unwrap();
    let t = tmp();
    let dest = t.path().join("b");
    let mut src = source(&[&db]);
    src.log_collection = Some(format!("{db}.backuplogs"));
    let opts = mongo_only(dest.clone(), src.clone());
    let done = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    let logs: Vec<Document> = client()
        .database(&db)
        .collection::<Document>("backuplogs")
        .find(doc! {})
        .run()
        .unwrap()
        .map(|d| d.unwrap())
        .collect();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].get_str("status").unwrap(), "completed");
    assert_eq!(logs[0].get_str("backupId").unwrap(), done.entry.id);
    assert!(
        logs[0].get_str("notes").unwrap().contains(", 1 documents"),
        "the log's own collection did not exist yet when the dump ran: {logs:?}"
    );
    let local = std::fs::read_to_string(dest.join("hrsm-backup.log")).unwrap();
    assert_eq!(local.lines().count(), 1);
    assert!(local.contains(&done.entry.id) && local.contains("\"status\":\"ok\""), "{local}");

    // A log that cannot be written: the backup still succeeds, with a warning.
    src.log_collection = Some("not-a-namespace".into());
    let recorder = Recorder::default();
    let opts = BackupOptions { mongo: Some(src), ..opts };
    run_backup(&opts, &key(), &recorder, Box::new(rand::rngs::OsRng)).unwrap();
    let warnings = recorder.warnings();
    assert!(
        warnings.iter().any(|w| w.starts_with("could not write the run log to MongoDB not-a-namespace")),
        "{warnings:?}"
    );
}

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);
impl hrsm_backup::Progress for Recorder {
    fn event(&self, e: hrsm_backup::Event) {
        if let hrsm_backup::Event::Warning(w) = e {
            self.0.lock().unwrap().push(w);
        }
    }
}
impl Recorder {
    fn warnings(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn a_test_restore_proves_the_backup_and_leaves_no_scratch_database() {
    let db = fresh_db("it_tr");
    let c = client().database(&db).collection::<Document>("insuranceclaims");
    c.insert_many((0..2500).map(every_type)).run().unwrap();
    let t = tmp();
    let done = backup_mongo(&t.path().join("backups"), &[&db]);
    // Scratch databases of other runs on this server: one still going (begun a minute ago),
    // one of a run that died two days ago.
    let scratch = |secs_ago: i64| format!("{db}__verify{:08x}", chrono::Utc::now().timestamp() - secs_ago);
    let (live, dead) = (scratch(60), scratch(2 * 86_400));
    for name in [&live, &dead] {
        client().database(name).collection::<Document>("x").insert_one(doc! {"n": 1}).run().unwrap();
    }
    let report = hrsm_backup::test_restore(&done.archive, &key(), &mongo_uri(), 2, None, &NoProgress).unwrap();
    assert_eq!(report.collections.len(), 1);
    assert_eq!(report.collections[0].documents, 2500);
    let dbs = client().list_database_names().run().unwrap();
    let left: Vec<&String> = dbs.iter().filter(|d| d.starts_with(&format!("{db}__verify"))).collect();
    assert_eq!(left, vec![&live], "its own scratch and the dead run's are dropped, the live run's stays");
    client().database(&live).drop().run().unwrap();
    // Through the CLI, recorded in the catalog.
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!("destination = \"backups\"\n[mongodb]\nuri = \"{}\"\n", mongo_uri()),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "verify", "latest", "--restore-test"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("test restore {db}.insuranceclaims: 2500 documents match")),
        "{}",
        text(&o)
    );
    let entry = Catalog::existing(&t.path().join("backups")).unwrap().get(&done.entry.id).unwrap().unwrap();
    assert!(entry.restore_tested_at.is_some() && entry.restore_test_error.is_none());
    let log = std::fs::read_to_string(t.path().join("backups/hrsm-backup.log")).unwrap();
    let runs =
        log.lines().filter(|l| l.contains("\"kind\":\"test-restore\"") && l.contains("\"status\":\"ok\"")).count();
    assert_eq!(runs, 2, "{log}");
}

/// Kills the server when the dump has streamed some documents.
struct KillServerMidDump {
    pid: u32,
    seen: std::sync::atomic::AtomicU64,
}
impl hrsm_backup::Progress for KillServerMidDump {
    fn event(&self, e: hrsm_backup::Event) {
        if let hrsm_backup::Event::Advance(_) = e {
            if self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2000 {
                unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn mongodb_stopped_mid_dump_fails_and_leaves_no_good_looking_archive() {
    let (uri, pid) = start_secantus();
    let client = Client::with_uri_str(&uri).unwrap();
    let c = client.database("hrms").collection::<Document>("users");
    for chunk in 0..20 {
        c.insert_many((0..1000).map(|i| doc! {"n": chunk * 1000 + i, "pad": "z".repeat(300)})).run().unwrap();
    }
    let t = tmp();
    let dest = t.path().join("b");
    let src = MongoSource {
        uri: format!("{uri}&serverSelectionTimeoutMS=2000"),
        databases: vec!["hrms".into()],
        tools_dir: None,
        use_tools: false,
        threads: 2,
        log_collection: None,
        ..MongoSource::new("", vec![])
    };
    let opts = mongo_only(dest.clone(), src);
    let progress = KillServerMidDump { pid, seen: Default::default() };
    let err = run_backup(&opts, &key(), &progress, Box::new(rand::rngs::OsRng)).unwrap_err().to_string();
    // A plain sentence that names what was being exported (issue 10), not a driver dump.
    assert!(err.contains("export hrms.users"), "{err}");
    assert!(err.contains("went away") || err.contains("was lost") || err.contains("cannot reach"), "{err}");
    let listing = Catalog::existing(&dest).unwrap().list().unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].status, Status::Failed);
    assert!(listing.entries[0].error.as_deref().unwrap_or("").contains("MongoDB"), "{:?}", listing.entries[0].error);
    let files: Vec<String> =
        std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(files.iter().all(|f| !f.ends_with(".hrsmbk") && !f.starts_with(".spool")), "{files:?}");
}

/// Issue 9: a restore of files and databases together, and a test restore, each read the
/// archive once (they used to read it two and three times in full).
#[test]
fn restore_and_test_restore_read_the_archive_once() {
    let db = fresh_db("it_onepass");
    client()
        .database(&db)
        .collection::<Document>("users")
        .insert_many((0..500).map(|i| doc! {"i": i, "name": format!("user {i}")}))
        .run()
        .unwrap();
    let t = tmp();
    write(&t.path().join("uploads/a.pdf"), &random_bytes(300_000, 5), 0o644, 1_700_000_000);
    let opts = BackupOptions {
        sources: vec![hrsm_backup::SourceConfig::folder("uploads", t.path().join("uploads"))],
        ..mongo_only(t.path().join("backups"), source(&[&db]))
    };
    let done = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    let to = format!("{db}_back");
    let req = hrsm_backup::RestoreRequest {
        files: Some(hrsm_backup::FileRestoreOptions {
            target: t.path().join("restored"),
            only: None,
            overwrite: false,
            in_place: false,
        }),
        mongo: Some(MongoRestoreOptions {
            uri: mongo_uri(),
            databases: vec![(db.clone(), to.clone())],
            collections: None,
            threads: 2,
            log_collection: None,
            pause_ttl: false,
        }),
    };
    let before = hrsm_backup::archive_opens();
    let out = hrsm_backup::restore(&done.archive, &key(), &req, &NoProgress).unwrap();
    assert_eq!(hrsm_backup::archive_opens() - before, 1, "a restore reads its archive once");
    assert_eq!(out.files.unwrap().plan.files, 1);
    assert_eq!(out.mongo.unwrap().collections[0].documents, 500);
    assert_eq!(raw_docs(&db, "users").len(), raw_docs(&to, "users").len());
    assert_eq!(std::fs::read(t.path().join("restored/uploads/a.pdf")).unwrap(), random_bytes(300_000, 5));

    let before = hrsm_backup::archive_opens();
    let tested = hrsm_backup::test_restore(&done.archive, &key(), &mongo_uri(), 2, None, &NoProgress).unwrap();
    assert_eq!(hrsm_backup::archive_opens() - before, 1, "a test restore reads its archive once");
    assert_eq!(tested.collections.len(), 1);
    assert_eq!(tested.collections[0].documents, 500);
}

/// Issue 10: collection file names are Go's QueryEscape, as the Database Tools write them
/// (`sp ace` -> `sp+ace`, `a+b` -> `a%2Bb`), and every such collection comes back under its
/// own name.
#[test]
fn odd_collection_names_match_mongodump_and_come_back() {
    let db = fresh_db("it_names");
    // 81 bytes, 241 escaped: over mongodump's 238, so the stem is cut and hashed.
    let long = format!("{}x", "ا".repeat(40));
    let names = ["sp ace", "a+b", "100%", "a/b", "cafés", "الموظفين", long.as_str()];
    for (i, n) in names.iter().enumerate() {
        client().database(&db).collection::<Document>(n).insert_one(doc! {"i": i as i32, "name": *n}).run().unwrap();
    }
    let t = tmp();
    let done = backup_mongo(&t.path().join("b"), &[&db]);
    let part = MongoPart::of(&done.manifest).unwrap();
    let files: Vec<String> = part.databases[0].files.iter().map(|f| f.path.clone()).collect();
    for stem in ["sp+ace", "a%2Bb", "100%25", "a%2Fb", "caf%C3%A9s"] {
        assert!(files.contains(&format!("{db}/{stem}.bson")), "{stem} not in {files:?}");
    }
    let to = format!("{db}_back");
    let report = restore_as(&done.archive, &db, &to).unwrap();
    assert_eq!(report.collections.len(), names.len());
    for n in names {
        assert_eq!(raw_docs(&db, n), raw_docs(&to, n), "{n}");
        assert_eq!(raw_docs(&to, n).len(), 1, "{n}");
    }
}

/// Issue 10: a clustered collection's index comes back through `create`'s `clusteredIndex`
/// option; building it again aborted the whole restore (code 197).
#[test]
fn a_clustered_collection_comes_back() {
    let db = fresh_db("it_clustered");
    client()
        .database(&db)
        .run_command(doc! {"create": "events", "clusteredIndex": {"key": {"_id": 1}, "unique": true, "name": "clu"}})
        .run()
        .unwrap();
    client()
        .database(&db)
        .collection::<Document>("events")
        .insert_many((0..50).map(|i| doc! {"_id": i, "kind": "login"}))
        .run()
        .unwrap();
    let t = tmp();
    let done = backup_mongo(&t.path().join("b"), &[&db]);
    let to = format!("{db}_back");
    restore_as(&done.archive, &db, &to).unwrap();
    assert_eq!(raw_docs(&db, "events"), raw_docs(&to, "events"));
    let opts = collection_options(&to);
    let events = opts.iter().find(|(n, _, _)| n == "events").map(|(_, _, o)| o.clone()).unwrap_or_default();
    assert!(events.get_document("clusteredIndex").is_ok(), "restored as a clustered collection: {events:?}");
}

/// Issue 10: a collection the target does not have is filled under its own name (no rename,
/// which copies every document on some servers), and a failed restore still leaves nothing
/// behind: the new collection goes, the existing one stays as it was.
#[test]
fn new_collections_are_filled_in_place_and_a_failure_removes_them() {
    let db = fresh_db("it_direct");
    let c = client();
    c.database(&db).collection::<Document>("fresh").insert_many((0..100).map(|i| doc! {"i": i})).run().unwrap();
    c.database(&db).collection::<Document>("kept").insert_many((0..100).map(|i| doc! {"k": i})).run().unwrap();
    let t = tmp();
    let done = backup_mongo(&t.path().join("b"), &[&db]);
    // Target: has `kept` (with other content), not `fresh`. Damage the archive near its end so
    // the restore fails after filling: `fresh` must not be left behind, `kept` untouched.
    let to = format!("{db}_to");
    c.database(&to).collection::<Document>("kept").insert_one(doc! {"local": true}).run().unwrap();
    let mut bytes = std::fs::read(&done.archive).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 1;
    let damaged = t.path().join("damaged.hrsmbk");
    std::fs::write(&damaged, &bytes).unwrap();
    assert!(restore_as(&damaged, &db, &to).is_err());
    let names = c.database(&to).list_collection_names().run().unwrap();
    assert_eq!(names, vec!["kept".to_string()], "nothing left behind");
    assert_eq!(raw_docs(&to, "kept").len(), 1, "the existing collection is as it was");
    // The good archive: `fresh` appears (filled in place), `kept` is replaced.
    restore_as(&done.archive, &db, &to).unwrap();
    assert_eq!(raw_docs(&to, "fresh"), raw_docs(&db, "fresh"));
    assert_eq!(raw_docs(&to, "kept"), raw_docs(&db, "kept"));
}

/// A time series with measurements on two devices, and a plain collection beside it.
fn time_series_db(prefix: &str) -> String {
    let db = fresh_db(prefix);
    let d = client().database(&db);
    d.run_command(doc! {"create": "readings", "timeseries": {"timeField": "ts", "metaField": "meta", "granularity": "hours"}, "expireAfterSeconds": 31_536_000_i64})
        .run()
        .unwrap();
    let at = |h: i64| DateTime::from_millis(1_767_225_600_000 + h * 3_600_000);
    d.collection::<Document>("readings")
        .insert_many(
            (0..40).map(
                |i| doc! {"ts": at(i), "meta": {"device": i % 2}, "badge": format!("b{i}"), "temp": 20.5 + i as f64},
            ),
        )
        .run()
        .unwrap();
    d.collection::<Document>("staff").insert_many((0..10).map(|i| doc! {"_id": i})).run().unwrap();
    db
}

/// Issue 10: a time series is kept as mongodump keeps it (its metadata, type "timeseries",
/// and its buckets byte for byte in `system.buckets.<name>.bson`), the archive verifies, and
/// a server that does not take buckets refuses the restore clearly with nothing changed.
#[test]
fn a_time_series_is_kept_as_its_buckets_as_mongodump_keeps_it() {
    let db = time_series_db("it_ts");
    let t = tmp();
    let done = backup_mongo(&t.path().join("b"), &[&db]);
    let part = MongoPart::of(&done.manifest).unwrap();
    let files: Vec<&str> = part.databases[0].files.iter().map(|f| f.path.as_str()).collect();
    let want: Vec<String> =
        ["readings.metadata.json", "staff.bson", "staff.metadata.json", "system.buckets.readings.bson"]
            .iter()
            .map(|f| format!("{db}/{f}"))
            .collect();
    assert_eq!(files, want.iter().map(String::as_str).collect::<Vec<_>>());
    let ts = part.databases[0].collections.iter().find(|c| c.name == "readings").unwrap();
    assert_eq!(ts.kind, "timeseries");
    let buckets = raw_docs(&db, "system.buckets.readings");
    assert_eq!(ts.documents, buckets.len() as u64, "documents counts the buckets");
    assert!(!buckets.is_empty() && buckets.len() < 40);
    // The archive holds the server's buckets byte for byte, and its metadata as mongodump's.
    let out = t.path().join("plain.tar.gz");
    let o = std::process::Command::new(bin())
        .args(["decrypt", done.archive.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .env_remove("HRSM_BACKUP_CONFIG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut a = tar::Archive::new(flate2::read::MultiGzDecoder::new(std::fs::File::open(&out).unwrap()));
    let mut inside = std::collections::BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        inside.insert(name, data);
    }
    let mut packed: Vec<Vec<u8>> = Vec::new();
    let mut rest = inside[&format!("mongo/{db}/system.buckets.readings.bson")].as_slice();
    while !rest.is_empty() {
        let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        packed.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    packed.sort();
    assert_eq!(packed, buckets);
    let meta: serde_json::Value =
        serde_json::from_slice(&inside[&format!("mongo/{db}/readings.metadata.json")]).unwrap();
    assert_eq!(meta["type"], "timeseries");
    assert_eq!(meta["options"]["timeseries"]["timeField"], "ts");
    assert_eq!(meta["collectionName"], "readings");
    assert!(hrsm_backup::verify_archive(&done.archive, &key(), &NoProgress).is_ok());

    // This test server keeps measurements, not buckets: the restore says so and changes
    // nothing (the plain collection it had filled goes too).
    let to = format!("{db}_back");
    let err = restore_as(&done.archive, &db, &to).unwrap_err().to_string();
    assert!(err.contains(&format!("the buckets of the time series {to}.readings")), "{err}");
    assert!(err.contains("a bucket cannot be inserted directly"), "{err}");
    assert!(client().database(&to).list_collection_names().run().unwrap().is_empty(), "nothing left behind");
    // The rest of the backup restores without it.
    let opts = MongoRestoreOptions {
        uri: mongo_uri(),
        databases: vec![(db.clone(), to.clone())],
        collections: Some(vec!["staff".into()]),
        threads: 2,
        log_collection: None,
        pause_ttl: false,
    };
    restore_mongo(&done.archive, &key(), &opts, &NoProgress).unwrap();
    assert_eq!(raw_docs(&to, "staff"), raw_docs(&db, "staff"));
}

/// Issue 10: through the mongodump path, a database holding a time series failed its
/// verification: mongodump's `system.buckets.<name>.bson` has no metadata file of its own and
/// was not packed. The Database Tools cannot be installed here, so a stand-in `mongodump`
/// writes what the real one writes for a time series (mongo-tools' prepare.go and
/// metadata_dump.go: `<name>.metadata.json` of type "timeseries" and the raw buckets in
/// `system.buckets.<name>.bson`), made from the server's own buckets by our native export.
#[test]
fn a_time_series_from_mongodump_is_packed_and_verifies() {
    let db = time_series_db("it_ts_tool");
    let t = tmp();
    // The layout, as the native export writes it (the test above holds it to mongodump's).
    let native = backup_mongo(&t.path().join("native"), &[&db]);
    let layout = t.path().join("layout");
    let out = t.path().join("plain.tar.gz");
    let o = std::process::Command::new(bin())
        .args(["decrypt", native.archive.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .env_remove("HRSM_BACKUP_CONFIG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = std::process::Command::new("tar")
        .args(["-xzf", out.to_str().unwrap(), "-C"])
        .arg({
            std::fs::create_dir_all(&layout).unwrap();
            &layout
        })
        .output()
        .unwrap();
    assert!(o.status.success());
    let tools = t.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --out=*) out=\"${{a#--out=}}\";; --db=*) db=\"${{a#--db=}}\";; esac; done\n\
         mkdir -p \"$out/$db\" && cp {}/mongo/\"$db\"/* \"$out/$db/\" && \
         echo \"2026-12-01T10:00:00.000+0000\tdone dumping $db.readings (3 documents)\" >&2\n",
        layout.display()
    );
    write(&tools.join("mongodump"), script.as_bytes(), 0o755, 1_700_000_000);
    let mut src = source(&[&db]);
    src.use_tools = true;
    src.tools_dir = Some(tools);
    let done = run_backup(&mongo_only(t.path().join("b"), src), &key(), &NoProgress, Box::new(rand::rngs::OsRng))
        .expect("the mongodump path backs up and verifies a time series");
    let part = MongoPart::of(&done.manifest).unwrap();
    assert_eq!(part.method, "mongodump");
    let ts = part.databases[0].collections.iter().find(|c| c.name == "readings").unwrap();
    assert_eq!(ts.kind, "timeseries");
    assert_eq!(ts.documents, raw_docs(&db, "system.buckets.readings").len() as u64);
    assert!(ts.sha256.is_some());
    assert!(hrsm_backup::verify_archive(&done.archive, &key(), &NoProgress).is_ok());
    assert_eq!(MongoPart::of(&native.manifest).unwrap().databases[0].files, part.databases[0].files);
}
