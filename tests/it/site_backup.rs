//! The default sources on a realistic HR-SM site (tests/common/site.rs): every file a site
//! must keep is in the backup, none of its junk or code is, and the kept tree restores
//! byte-identical.

use std::path::{Path, PathBuf};

use super::site::{build_site, release};
use super::util::*;

/// Where a kept file lands in the archive under the default sources.
fn archive_path(rel: &Path) -> String {
    let r = rel.to_str().unwrap();
    for (prefix, source) in [
        ("server/modules/tasks/uploads/", "task-uploads"),
        ("server/uploads/", "server-uploads"),
        ("uploads/", "uploads"),
        ("hrsm-license-server/keys/", "license-keys"),
        ("keys/", "keys"),
    ] {
        if let Some(rest) = r.strip_prefix(prefix) {
            return format!("files/{source}/{rest}");
        }
    }
    format!("files/config/{r}")
}

#[test]
fn the_default_sources_keep_everything_a_site_needs_and_none_of_its_junk() {
    let t = tmp();
    let site = build_site(&t.path().join("hr-sm"));
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!("hrsm_root = \"{}\"\ndestination = \"backups\"\n[mongodb]\nenabled = false\n", site.root.display()),
    )
    .unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "--json", "inspect", "latest"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let manifest = if v["manifest"].is_object() { &v["manifest"] } else { &v };
    let entries: std::collections::HashSet<String> =
        manifest["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap().to_string()).collect();
    let missing: Vec<String> = site.keep.iter().map(|k| archive_path(k)).filter(|p| !entries.contains(p)).collect();
    assert!(missing.is_empty(), "kept files missing from the backup: {missing:?}");
    let leaked: Vec<&String> = entries
        .iter()
        .filter(|e| {
            site.junk.iter().chain(&site.code).any(|j| {
                let j = j.to_str().unwrap();
                e.ends_with(&format!("/{j}")) || e.contains(&format!("/{j}/"))
            })
        })
        .collect();
    assert!(leaked.is_empty(), "junk or code in the backup: {leaked:?}");
    assert!(!entries.iter().any(|e| e.contains("node_modules")), "no dependency file is read");

    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest", "--files-to", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    for k in &site.keep {
        let restored: PathBuf = t.path().join("out").join(archive_path(k).trim_start_matches("files/"));
        assert_eq!(
            std::fs::read(&restored).unwrap_or_default(),
            std::fs::read(site.root.join(k)).unwrap(),
            "{} restored differently",
            k.display()
        );
    }
    release(&site);
}

fn port_of(uri: &str) -> u16 {
    let after = uri.split("://").nth(1).unwrap();
    after.split(['/', '?']).next().unwrap().rsplit(':').next().unwrap().parse().unwrap()
}

/// The whole of a real site with nothing configured but its folder: the URIs come from its
/// PM2 and .env files (PM2 wins), the main database is the one its URI names, the per-company
/// database is found, the license database is dumped from the license server's own server,
/// and nothing of the site's secrets is printed.
#[test]
fn a_site_backs_up_from_its_own_settings_with_only_its_folder_configured() {
    use bson::{doc, Document};
    let (license_base, _pid) = start_secantus();
    let t = tmp();
    let opts = super::site::SiteOptions {
        mongo_host: "127.0.0.1".into(),
        mongo_port: port_of(&mongo_uri()),
        license_host: "127.0.0.1".into(),
        license_port: port_of(&license_base),
        credentials: false,
        ..Default::default()
    };
    let site = super::site::build_site_with(&t.path().join("hr-sm"), &opts);
    let main = mongodb::sync::Client::with_uri_str(mongo_uri()).unwrap();
    let license = mongodb::sync::Client::with_uri_str(&license_base).unwrap();
    let _ = main.database(&site.main_db).drop().run();
    main.database(&site.main_db)
        .collection::<Document>("users")
        .insert_one(doc! {"email": "a@acme.test"})
        .run()
        .unwrap();
    let tenant = format!("hrsm_{}", site.company.replace('-', "_"));
    let _ = main.database(&tenant).drop().run();
    main.database(&tenant).collection::<Document>("payrolls").insert_one(doc! {"net": 1200.5}).run().unwrap();
    license.database(&site.license_db).collection::<Document>("licenses").insert_one(doc! {"k": 1}).run().unwrap();
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!("hrsm_root = \"{}\"\ndestination = \"backups\"\n", site.root.display()),
    )
    .unwrap();

    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "discover"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let all = text(&o);
    for s in &site.secrets {
        assert!(!all.contains(s.as_str()), "a secret of the site was printed");
    }
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "--json", "list"]);
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dbs: Vec<&str> =
        listed["backups"][0]["databases"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(dbs.first() == Some(&site.main_db.as_str()), "{dbs:?}");
    assert!(dbs.contains(&tenant.as_str()) && dbs.last() == Some(&site.license_db.as_str()), "{dbs:?}");
    // HR-SM's health check finds the run in the main database.
    let logged = main
        .database(&site.main_db)
        .collection::<Document>("backuplogs")
        .count_documents(doc! {"status": "completed"})
        .run()
        .unwrap();
    assert_eq!(logged, 1);
    let _ = main.database(&site.main_db).drop().run();
    let _ = main.database(&tenant).drop().run();
    release(&site);
}
