//! HR-SM reads our run log: each backup writes one document that HR-SM's `BackupLog` model
//! accepts (checked by a `$jsonSchema` validator on the test server that encodes the model's
//! fields, enums and types, beside its unique index on `backupId`); a restore and a test
//! restore add to that document and never insert a second one.

use bson::{doc, Document};
use hrsm_backup::mongo::MongoSource;
use hrsm_backup::{restore_mongo, run_backup, test_restore, BackupOptions, NoProgress, PayloadOptions, Trigger};
use mongodb::sync::Client;
use std::io::Write;

use super::util::*;

fn client() -> Client {
    Client::with_uri_str(mongo_uri()).unwrap()
}

/// HR-SM's server/models/BackupLog.js as a validator: every field typed, enums closed, no
/// field the model does not know (mongoose would drop it silently: it would be our bug).
fn backuplog_schema() -> Document {
    let date = doc! { "bsonType": "date" };
    let number = doc! { "bsonType": ["int", "long", "double"] };
    let string = doc! { "bsonType": "string" };
    let boolean = doc! { "bsonType": "bool" };
    doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["backupId", "type", "status", "startTime"],
            "additionalProperties": false,
            "properties": {
                "_id": { "bsonType": "objectId" },
                "backupId": string.clone(),
                "type": { "enum": ["daily", "weekly", "monthly", "manual", "emergency"] },
                "status": { "enum": ["in_progress", "completed", "failed", "partial"] },
                "startTime": date.clone(),
                "endTime": date.clone(),
                "duration": number.clone(),
                "components": { "bsonType": "array", "items": {
                    "bsonType": "object",
                    "additionalProperties": false,
                    "properties": {
                        "type": { "enum": ["mongodb", "files", "configuration", "encrypted-keys", "application-code"] },
                        "component": string.clone(), "database": string.clone(), "path": string.clone(),
                        "size": number.clone(), "checksum": string.clone(), "timestamp": date.clone(),
                        "encrypted": boolean.clone(), "status": { "enum": ["success", "failed", "skipped"] },
                        "error": string.clone(),
                    }
                }},
                "finalPath": string.clone(),
                "size": number.clone(),
                "compressed": boolean.clone(),
                "encrypted": boolean.clone(),
                "checksums": { "bsonType": "object", "additionalProperties": { "bsonType": "string", "pattern": "^[0-9a-f]{64}$" } },
                "metadata": { "bsonType": "object", "additionalProperties": false, "properties": {
                    "mongoVersion": string.clone(), "nodeVersion": string.clone(), "platform": string.clone(),
                    "hostname": string.clone(), "backupToolVersion": string.clone() } },
                "verification": { "bsonType": "object", "additionalProperties": false, "properties": {
                    "verified": boolean.clone(), "verifiedAt": date.clone(),
                    "verificationStatus": { "enum": ["passed", "failed", "partial"] },
                    "verificationErrors": { "bsonType": "array", "items": string.clone() } } },
                "restoration": { "bsonType": "object", "additionalProperties": false, "properties": {
                    "restored": boolean.clone(), "restoredAt": date.clone(), "restoredBy": { "bsonType": "objectId" },
                    "restorationNotes": string.clone() } },
                "cloudStorage": { "bsonType": "object", "additionalProperties": false, "properties": {
                    "uploaded": boolean.clone(), "uploadedAt": date.clone(),
                    "provider": { "enum": ["aws-s3", "google-cloud", "azure-blob", "local"] },
                    "bucket": string.clone(), "key": string.clone(), "url": string.clone(),
                    "uploadError": string.clone() } },
                "retentionPolicy": { "bsonType": "object", "additionalProperties": false, "properties": {
                    "expiresAt": date.clone(), "autoDelete": boolean.clone(), "deletedAt": date.clone() } },
                "error": { "bsonType": "object", "additionalProperties": false, "properties": {
                    "message": string.clone(), "stack": string.clone(), "timestamp": date.clone() } },
                "triggeredBy": { "enum": ["scheduled", "manual", "api", "emergency"] },
                "triggeredByUser": { "bsonType": "objectId" },
                "notes": string.clone(),
                "createdAt": date.clone(),
                "updatedAt": date,
                "__v": number,
            }
        }
    }
}

/// A database with HR-SM's backuplogs collection: the model's validator and indexes.
fn hrsm_db(prefix: &str) -> String {
    let db = fresh_db(prefix);
    let d = client().database(&db);
    d.create_collection("backuplogs").validator(backuplog_schema()).run().unwrap();
    let c = d.collection::<Document>("backuplogs");
    c.create_index(
        mongodb::IndexModel::builder()
            .keys(doc! {"backupId": 1})
            .options(mongodb::options::IndexOptions::builder().unique(true).build())
            .build(),
    )
    .run()
    .unwrap();
    c.create_index(mongodb::IndexModel::builder().keys(doc! {"startTime": -1}).build()).run().unwrap();
    c.create_index(mongodb::IndexModel::builder().keys(doc! {"type": 1, "status": 1}).build()).run().unwrap();
    d.collection::<Document>("users").insert_one(doc! {"email": "amira@example.com"}).run().unwrap();
    db
}

/// A scheduled, verified backup of `databases` into `<dir>/b`, logging to `<db>.backuplogs`.
fn scheduled_backup(dir: &std::path::Path, db: &str, databases: Vec<String>) -> BackupOptions {
    let src = MongoSource {
        use_tools: false,
        threads: 2,
        log_collection: Some(format!("{db}.backuplogs")),
        ..MongoSource::new(mongo_uri(), databases)
    };
    BackupOptions {
        destination: dir.join("b"),
        sources: vec![],
        mongo: Some(src),
        payload: PayloadOptions::default(),
        verify: true,
        retention: None,
        trigger: Trigger::Scheduled,
    }
}

fn logs(db: &str) -> Vec<Document> {
    client()
        .database(db)
        .collection::<Document>("backuplogs")
        .find(doc! {})
        .run()
        .unwrap()
        .map(|d| d.unwrap())
        .collect()
}

#[test]
fn the_validator_refuses_what_the_model_refuses() {
    // The check can fail: a document with a wrong enum value or an unknown field is refused.
    let db = hrsm_db("it_bl_neg");
    let c = client().database(&db).collection::<Document>("backuplogs");
    let now = bson::DateTime::now();
    for bad in [
        doc! {"backupId": "x1", "type": "hourly", "status": "completed", "startTime": now},
        doc! {"backupId": "x2", "type": "daily", "status": "ok", "startTime": now},
        doc! {"backupId": "x3", "type": "daily", "status": "completed", "startTime": now, "kind": "backup"},
        doc! {"backupId": "x4", "type": "daily", "status": "completed", "startTime": "2026-01-01"},
    ] {
        assert!(c.insert_one(bad.clone()).run().is_err(), "the validator let through {bad}");
    }
    c.insert_one(doc! {"backupId": "ok", "type": "daily", "status": "completed", "startTime": now}).run().unwrap();
    assert!(c.insert_one(doc! {"backupId": "ok", "type": "daily", "startTime": now}).run().is_err(), "unique");
}

#[test]
fn backups_restores_and_test_restores_write_what_hrsm_reads() {
    let db = hrsm_db("it_bl");
    let t = tmp();
    std::fs::create_dir_all(t.path().join("uploads")).unwrap();
    std::fs::write(t.path().join("uploads/a.pdf"), b"%PDF-1.7 contract").unwrap();
    let opts = BackupOptions {
        sources: vec![hrsm_backup::SourceConfig::folder("uploads", t.path().join("uploads"))],
        ..scheduled_backup(t.path(), &db, vec![db.clone()])
    };
    let first = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    let manual = BackupOptions { trigger: Trigger::Manual, ..opts.clone() };
    let second = run_backup(&manual, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    let docs = logs(&db);
    assert_eq!(docs.len(), 2, "{docs:?}");
    let d = &docs[0];
    assert_eq!(d.get_str("backupId").unwrap(), first.entry.id);
    assert_eq!(d.get_str("type").unwrap(), "daily");
    assert_eq!(d.get_str("triggeredBy").unwrap(), "scheduled");
    assert_eq!(d.get_str("status").unwrap(), "completed");
    assert_eq!(docs[1].get_str("type").unwrap(), "manual");
    assert!(d.get_datetime("startTime").unwrap() <= d.get_datetime("endTime").unwrap());
    let comps = d.get_array("components").unwrap();
    let kinds: Vec<&str> = comps.iter().map(|c| c.as_document().unwrap().get_str("type").unwrap()).collect();
    assert_eq!(kinds, vec!["mongodb", "files"]);
    let archive_name = first.archive.file_name().unwrap().to_str().unwrap().to_string();
    let sha = d.get_document("checksums").unwrap().get_str(&archive_name).unwrap().to_string();
    assert_eq!(sha, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&first.archive).unwrap())));
    assert!(d.get_document("verification").unwrap().get_bool("verified").unwrap());
    // HR-SM's health check: a completed backup in the last 24 hours.
    let since = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 24 * 3600 * 1000);
    let healthy = client()
        .database(&db)
        .collection::<Document>("backuplogs")
        .count_documents(doc! {"status": "completed", "startTime": {"$gte": since}})
        .run()
        .unwrap();
    assert_eq!(healthy, 2);

    // A test restore marks the verification of the backup's own document.
    test_restore(
        &second.archive,
        &key(),
        &mongo_uri(),
        2,
        Some(&hrsm_backup::MongoLog { uri: mongo_uri(), namespace: format!("{db}.backuplogs") }),
        &NoProgress,
    )
    .unwrap();
    // A restore of the first backup over the live database brings back its older log (without
    // the documents of both backups), then records the restoration on the first backup's
    // document: re-created once, never duplicated.
    let ropts = hrsm_backup::mongo::MongoRestoreOptions {
        uri: mongo_uri(),
        databases: vec![(db.clone(), db.clone())],
        collections: None,
        threads: 2,
        log_collection: Some(format!("{db}.backuplogs")),
        pause_ttl: false,
    };
    restore_mongo(&first.archive, &key(), &ropts, &NoProgress).unwrap();
    restore_mongo(&first.archive, &key(), &ropts, &NoProgress).unwrap();
    let docs = logs(&db);
    let of_first: Vec<&Document> = docs.iter().filter(|d| d.get_str("backupId").unwrap() == first.entry.id).collect();
    assert_eq!(of_first.len(), 1, "{docs:?}");
    let r = of_first[0].get_document("restoration").unwrap();
    assert!(r.get_bool("restored").unwrap());
    assert!(r.get_str("restorationNotes").unwrap().contains(&db));
    assert_eq!(
        of_first[0].get_datetime("startTime").unwrap().timestamp_millis(),
        first.entry.started.timestamp_millis()
    );
}

#[test]
fn off_site_copies_are_recorded_where_hrsm_reads_them() {
    let db = hrsm_db("it_bl_up");
    let t = tmp();
    let opts = scheduled_backup(t.path(), &db, vec![db.clone()]);
    let first = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    let usb = t.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let cfg = hrsm_backup::Config::parse(
        &format!(
            "destination = {:?}\n[mongodb]\nenabled = false\n[[offsite]]\nname = \"usb\"\nkind = \"folder\"\npath = {:?}\n",
            t.path().join("b"),
            usb
        ),
        t.path(),
    )
    .unwrap();
    let log = hrsm_backup::MongoLog { uri: mongo_uri(), namespace: format!("{db}.backuplogs") };
    let r = hrsm_backup::copy_all(&cfg, Some(&log), &NoProgress).unwrap();
    assert_eq!(r[0].copied, vec![first.entry.id.clone()], "{r:?}");
    let of = |id: &str| logs(&db).into_iter().find(|d| d.get_str("backupId").unwrap() == id).unwrap();
    let cs = of(&first.entry.id).get_document("cloudStorage").unwrap().clone();
    assert!(cs.get_bool("uploaded").unwrap(), "{cs}");
    assert_eq!(cs.get_str("provider").unwrap(), "local");
    assert_eq!(cs.get_str("bucket").unwrap(), usb.display().to_string());
    assert_eq!(cs.get_str("key").unwrap(), format!("{}.hrsmbk", first.entry.id));
    assert!(cs.get_datetime("uploadedAt").is_ok());
    // A copy that fails (the local archive changed after it was made) is recorded as HR-SM's
    // uploadError on that backup's document, and said in the local run log.
    let second = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    std::fs::OpenOptions::new().append(true).open(&second.archive).unwrap().write_all(b"tampered").unwrap();
    let r = hrsm_backup::copy_all(&cfg, Some(&log), &NoProgress).unwrap();
    assert_eq!(r[0].failed.as_deref(), Some(second.entry.id.as_str()), "{r:?}");
    let cs = of(&second.entry.id).get_document("cloudStorage").unwrap().clone();
    assert!(!cs.get_bool("uploaded").unwrap(), "{cs}");
    assert!(cs.get_str("uploadError").unwrap().contains("copy to usb failed"), "{cs}");
    let local = std::fs::read_to_string(t.path().join("b").join(hrsm_backup::LOCAL_LOG)).unwrap();
    let copies: Vec<serde_json::Value> = local
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "offsite-copy")
        .collect();
    assert_eq!(copies.len(), 2, "{local}");
    assert_eq!((copies[0]["status"].as_str(), copies[1]["status"].as_str()), (Some("ok"), Some("failed")));
    assert_eq!(copies[0]["upload"]["destination"], "usb");
}

#[test]
fn a_failed_backup_is_logged_as_failed_with_its_reason() {
    let db = hrsm_db("it_bl_fail");
    let t = tmp();
    let opts = scheduled_backup(t.path(), &db, vec![db.clone(), "no_such_database_here".into()]);
    assert!(run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).is_err());
    let docs = logs(&db);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].get_str("status").unwrap(), "failed");
    assert!(docs[0].get_document("error").unwrap().get_str("message").unwrap().contains("no_such_database_here"));
}
