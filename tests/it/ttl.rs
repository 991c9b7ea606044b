//! Restoring into TTL collections (HR-SM has them: performancemetrics, securityevents,
//! auditlogs...): the plan names them, `--pause-ttl` restores their TTL indexes paused so the
//! server does not delete an old backup's documents within a minute, and `resume-ttl` sets
//! them back to the backup's values.

use bson::{doc, Document};
use mongodb::sync::Client;

use super::util::*;

const NINETY_DAYS: i64 = 90 * 86_400;

fn ttl_of(c: &Client, db: &str) -> Option<i64> {
    let ix = c.database(db).collection::<Document>("performancemetrics").list_indexes().run().unwrap();
    ix.filter_map(|i| i.ok())
        .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some("timestamp_1"))
        .and_then(|i| i.options.and_then(|o| o.expire_after))
        .map(|d| d.as_secs() as i64)
}

#[test]
fn ttl_collections_are_named_paused_on_request_and_resumed() {
    let c = Client::with_uri_str(mongo_uri()).unwrap();
    let db = fresh_db("it_ttl");
    let coll = c.database(&db).collection::<Document>("performancemetrics");
    coll.create_index(
        mongodb::IndexModel::builder()
            .keys(doc! {"timestamp": 1})
            .options(
                mongodb::options::IndexOptions::builder()
                    .name("timestamp_1".to_string())
                    .expire_after(std::time::Duration::from_secs(NINETY_DAYS as u64))
                    .build(),
            )
            .build(),
    )
    .run()
    .unwrap();
    let two_years_ago = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 730 * 86_400_000);
    coll.insert_many((0..50).map(|i| doc! {"i": i, "timestamp": two_years_ago})).run().unwrap();
    let t = tmp();
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!(
            "destination = \"backups\"\nsources = []\n[mongodb]\nuri = \"{}\"\ndatabases = [\"{db}\"]\nlog_collection = \"\"\n",
            mongo_uri()
        ),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));

    // The plan warns, in words.
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest", "--mongo", "--dry-run"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("TTL index timestamp_1") && out.contains("older than 90 days") && out.contains("--without-ttl"),
        "{out}"
    );

    // Paused on request: every document stays, the index is there with its TTL out of reach.
    let copy = format!("{db}_copy");
    let o = cli(
        t.path(),
        &["--config", "hrsm-backup.toml", "restore", "latest", "--db", &format!("{db}={copy}"), "--pause-ttl"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("is paused"), "{}", text(&o));
    assert_eq!(ttl_of(&c, &copy), Some(hrsm_backup::mongo::TTL_PAUSED));
    assert_eq!(
        c.database(&copy).collection::<Document>("performancemetrics").count_documents(doc! {}).run().unwrap(),
        50
    );

    // A backup of the copy while it is paused says so, and cannot turn the rule back on (it
    // does not know its value); the backup that was restored can.
    let first =
        String::from_utf8_lossy(&cli(t.path(), &["--config", "hrsm-backup.toml", "--json", "list"]).stdout).to_string();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let first_id =
        first["backups"].as_array().and_then(|a| a.last()).map(|e| e["id"].as_str().unwrap().to_string()).unwrap();
    std::fs::write(
        t.path().join("copy.toml"),
        format!(
            "destination = \"backups\"\nsources = []\n[mongodb]\nuri = \"{}\"\ndatabases = [\"{copy}\"]\nlog_collection = \"\"\n",
            mongo_uri()
        ),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "copy.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("the expiry rule timestamp_1 of {copy}.performancemetrics is paused")),
        "{}",
        text(&o)
    );
    let o = cli(t.path(), &["--config", "copy.toml", "resume-ttl", "latest", "--db", &format!("{copy}={copy}")]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("made while the expiry rules") && text(&o).contains("backup that was restored"),
        "{}",
        text(&o)
    );
    assert_eq!(ttl_of(&c, &copy), Some(hrsm_backup::mongo::TTL_PAUSED), "nothing was set to the paused value");

    // Resumed: the backup's value again; a second resume finds nothing paused.
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "resume-ttl", &first_id, "--db", &format!("{db}={copy}")]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ttl_of(&c, &copy), Some(NINETY_DAYS));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "resume-ttl", &first_id, "--db", &format!("{db}={copy}")]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("no paused TTL index"), "{}", text(&o));

    // Without the flag, the TTL index comes back as it was.
    let again = format!("{db}_plain");
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", &first_id, "--db", &format!("{db}={again}")]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ttl_of(&c, &again), Some(NINETY_DAYS));
}
