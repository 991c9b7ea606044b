//! Which databases a backup holds, as real HR-SM sites have them: the main database named in
//! the connection string, the per-company databases found by pattern, and the license
//! database on the license server's own server; each restored to the server it came from.

use bson::{doc, Document};
use mongodb::sync::Client;

use super::util::*;

/// `base` (`mongodb://host:port/?options`) naming database `db`.
fn with_db(base: &str, db: &str) -> String {
    base.replacen("/?", &format!("/{db}?"), 1)
}

fn names(c: &Client) -> Vec<String> {
    c.list_database_names().run().unwrap()
}

#[test]
fn main_tenant_and_license_databases_are_found_and_go_back_where_they_came_from() {
    let main_uri = mongo_uri();
    let (license_base, _pid) = start_secantus();
    let main = Client::with_uri_str(&main_uri).unwrap();
    let license = Client::with_uri_str(&license_base).unwrap();
    let platform = fresh_db("it_site");
    let tenants = [format!("{platform}_t_acme"), format!("{platform}_t_globex")];
    let unrelated = format!("{platform}x");
    for db in [&platform, &tenants[0], &tenants[1], &unrelated] {
        main.database(db).collection::<Document>("users").insert_one(doc! {"db": db.as_str()}).run().unwrap();
    }
    license
        .database("hrsm_license_db")
        .collection::<Document>("licenses")
        .insert_one(doc! {"key": "L-1"})
        .run()
        .unwrap();

    let t = tmp();
    std::fs::create_dir_all(t.path().join("uploads")).unwrap();
    std::fs::write(t.path().join("uploads/a.pdf"), b"%PDF").unwrap();
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!(
            "destination = \"backups\"\n[mongodb]\nuri = \"{}\"\nlicense_uri = \"{}\"\ntenant_databases = \"{platform}_t_*\"\n\
             [[sources]]\nname = \"uploads\"\npath = \"uploads\"\n",
            with_db(&main_uri, &platform),
            with_db(&license_base, "hrsm_license_db"),
        ),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "--json", "list"]);
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dbs: Vec<&str> =
        listed["backups"][0]["databases"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(dbs, vec![platform.as_str(), &tenants[0], &tenants[1], "hrsm_license_db"], "{listed}");
    // HR-SM's log went to the main database's own backuplogs.
    let logged = main.database(&platform).collection::<Document>("backuplogs").count_documents(doc! {}).run().unwrap();
    assert_eq!(logged, 1);

    // Disaster: a tenant and the license database are gone; a plain restore brings each back
    // to its own server.
    main.database(&tenants[1]).drop().run().unwrap();
    license.database("hrsm_license_db").drop().run().unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest", "--mongo"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(names(&main).contains(&tenants[1]));
    assert!(!names(&main).contains(&"hrsm_license_db".to_string()), "the license database stays on its server");
    let back = license.database("hrsm_license_db").collection::<Document>("licenses").find_one(doc! {}).run().unwrap();
    assert_eq!(back.unwrap().get_str("key").unwrap(), "L-1");
}

#[test]
fn a_main_database_that_does_not_exist_fails_naming_what_the_server_has() {
    let t = tmp();
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!(
            "destination = \"backups\"\n[mongodb]\nuri = \"{}\"\ntenant_databases = \"\"\n",
            with_db(&mongo_uri(), "hrsm_platform_typo")
        ),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'hrsm_platform_typo' does not exist") && err.contains("connection string"), "{err}");
}

/// The license server's database on a server that does not answer: the backup fails and says
/// which server, after its own timeout, and leaves a failed run in the history, not an archive.
#[test]
fn an_unreachable_license_server_fails_the_backup_naming_it() {
    let main = Client::with_uri_str(mongo_uri()).unwrap();
    let platform = fresh_db("it_site_dead");
    main.database(&platform).collection::<Document>("users").insert_one(doc! {"u": 1}).run().unwrap();
    let t = tmp();
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!(
            "destination = \"backups\"\nsources = []\n[mongodb]\nuri = \"{}\"\nlicense_uri = \"mongodb://127.0.0.1:9/hrsm_license_db?serverSelectionTimeoutMS=1500\"\ntenant_databases = \"\"\n",
            with_db(&mongo_uri(), &platform)
        ),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("127.0.0.1:9"), "{err}");
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "--json", "list"]);
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed["backups"][0]["status"], "failed", "{listed}");
    assert!(listed["backups"][0]["archive"].is_null());
}
