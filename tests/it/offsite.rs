//! Off-site copies against real stores (Garage for S3, Azurite for Azure, a plain folder): the
//! copy after a backup, its read-back check, multipart uploads that survive a server restart
//! and a killed process, copies that go missing or change, the destination's retention, a
//! restore from the remote alone on an empty machine, and credentials that never reach a file
//! or a message.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use hrsm_backup::{CatalogEntry, Credentials, OffsiteConfig, Remote, Status};
use serde_json::Value;

use super::objstore::{Azurite, Garage, AZ_KEY, S3_KEY_ID, S3_SECRET};
use super::util::{bin, key_hex, random_bytes, snapshot, text, tmp};

/// The CLI with the test key and the S3 and Azure keys in its environment (as a server's
/// service would have them); `extra` adds or overrides variables.
fn run(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(dir)
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .env("AWS_ACCESS_KEY_ID", S3_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env("AZURE_STORAGE_KEY", AZ_KEY)
        .env("HRSM_OFFSITE_RETRY_SECS", "20")
        .env_remove("HRSM_BACKUP_CONFIG")
        .env_remove("BACKUPS_ENABLED")
        .env_remove("BACKUP_CLOUD_ENABLED")
        .env_remove("MONGODB_URI");
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// A folder with data to back up and a config that copies to `offsite`.
fn site(dir: &Path, offsite: &str) {
    let data = dir.join("data");
    fs::create_dir_all(data.join("contracts")).unwrap();
    fs::write(data.join("contracts/a.pdf"), random_bytes(300_000, 1)).unwrap();
    fs::write(data.join("notes.txt"), b"payroll notes").unwrap();
    fs::write(
        dir.join("hrsm-backup.toml"),
        format!(
            "destination = \"backups\"\n[mongodb]\nenabled = false\n[[sources]]\nname = \"data\"\npath = \"{}\"\n{offsite}",
            data.display()
        ),
    )
    .unwrap();
}

fn s3_config(g: &Garage, name: &str) -> OffsiteConfig {
    serde_json::from_value(serde_json::json!({
        "name": name, "kind": "s3", "endpoint": g.endpoint(), "region": "garage",
        "bucket": super::objstore::S3_BUCKET,
    }))
    .unwrap()
}

fn s3_remote(g: &Garage) -> Remote {
    Remote::open(&s3_config(g, "s3"), &Credentials::s3(S3_KEY_ID, S3_SECRET).unwrap()).unwrap()
}

#[test]
fn a_backup_is_copied_checked_and_restores_from_s3_alone() {
    let g = Garage::start();
    let dir = tmp();
    site(dir.path(), &g.offsite_toml("s3", ""));
    let o = run(dir.path(), &["--json", "backup"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    let id = v["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["offsite"][0]["copied"][0], id.as_str(), "{v}");
    assert_eq!(v["offsite"][0]["pending"], 0);
    // The store holds the archive byte for byte and its entry.
    let remote = s3_remote(&g);
    let local = fs::read(dir.path().join(format!("backups/{id}.hrsmbk"))).unwrap();
    assert_eq!(remote.size_of(&format!("{id}.hrsmbk")).unwrap(), Some(local.len() as u64));
    let (_, sha) = remote.read_back(&format!("{id}.hrsmbk"), &|_| ()).unwrap();
    let entry: CatalogEntry =
        serde_json::from_slice(&remote.get_small(&format!("{id}.json")).unwrap().unwrap()).unwrap();
    assert_eq!(entry.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(entry.status, Status::Ok);
    // A second run copies nothing twice.
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["offsite"][0]["copied"].as_array().unwrap().len(), 0);
    // The workstation's disk dies: a new one has the config and the key, nothing else.
    let before = snapshot(&dir.path().join("data"));
    fs::remove_dir_all(dir.path().join("backups")).unwrap();
    let o = run(dir.path(), &["offsite", "list", "s3"], &[]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains(&id), "{}", text(&o));
    let o = run(dir.path(), &["offsite", "fetch", &id, "--from", "s3"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("restored");
    let o = run(dir.path(), &["restore", &id, "--files-to", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(snapshot(&out.join("data")), before);
    // The status names the destination and its copy.
    let o = run(dir.path(), &["offsite", "status"], &[]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("s3 (S3 storage, bucket hrsm-offsite)"), "{}", text(&o));
}

#[test]
fn an_upload_in_parts_survives_a_server_restart_and_a_killed_process() {
    if !hrsm_backup::FAULT_INJECTION {
        panic!("this test needs the fault-injection feature (scripts/test enables it)");
    }
    let mut g = Garage::start();
    let dir = tmp();
    site(dir.path(), "");
    // 40 MB that do not compress: three parts of 16 MiB.
    fs::write(dir.path().join("data/scan.bin"), random_bytes(40 << 20, 7)).unwrap();
    let o = run(dir.path(), &["--json", "backup"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let id = json(&o)["backup"]["id"].as_str().unwrap().to_string();
    let cfg = fs::read_to_string(dir.path().join("hrsm-backup.toml")).unwrap();
    fs::write(dir.path().join("hrsm-backup.toml"), cfg + &g.offsite_toml("s3", "")).unwrap();
    // The process dies (power cut) after its first part: the upload's state stays behind.
    let o = run(dir.path(), &["offsite", "copy"], &[("HRSM_FAULT_POINT", "offsite-after-part")]);
    assert!(!o.status.success(), "{}", text(&o));
    let state = dir.path().join("backups/.offsite/s3.upload.json");
    assert!(state.exists(), "no upload state after the kill");
    // The next run sends only what is missing, while the server is killed and restarted under
    // it: the part requests retry until it is back.
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        g.kill();
        std::thread::sleep(std::time::Duration::from_secs(2));
        g.restart();
        g
    });
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    let g = restarter.join().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["offsite"][0]["copied"][0], id.as_str(), "{v}");
    assert!(v["offsite"][0]["resumed_parts"].as_u64().unwrap() >= 1, "{v}");
    assert!(!state.exists(), "the upload state outlived the upload");
    let local = fs::read(dir.path().join(format!("backups/{id}.hrsmbk"))).unwrap();
    let (size, sha) = s3_remote(&g).read_back(&format!("{id}.hrsmbk"), &|_| ()).unwrap();
    assert_eq!(size, local.len() as u64);
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&local)));
}

#[test]
fn a_copy_that_goes_missing_or_changes_is_reported_and_never_restored() {
    let g = Garage::start();
    let dir = tmp();
    site(dir.path(), &g.offsite_toml("s3", ""));
    let o = run(dir.path(), &["--json", "backup"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let id = json(&o)["backup"]["id"].as_str().unwrap().to_string();
    let remote = s3_remote(&g);
    let name = format!("{id}.hrsmbk");
    let size = remote.size_of(&name).unwrap().unwrap() as usize;
    // Changed there, same size (ransomware, bit rot): only the read-back check can tell.
    remote.put_small(&name, random_bytes(size, 99)).unwrap();
    let o = run(dir.path(), &["offsite", "check"], &[]);
    assert!(o.status.success(), "a size check cannot see it: {}", text(&o));
    let o = run(dir.path(), &["offsite", "check", "--read-back"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("{id} has changed there")), "{}", text(&o));
    // Fetching it is refused: its SHA-256 is not the backup's; nothing is left behind.
    let empty = tmp();
    fs::copy(dir.path().join("hrsm-backup.toml"), empty.path().join("hrsm-backup.toml")).unwrap();
    let o = run(empty.path(), &["offsite", "fetch", &id, "--from", "s3"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("changed or damaged there"), "{}", text(&o));
    let left: Vec<_> = fs::read_dir(empty.path().join("backups")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n.to_string_lossy().starts_with('.')), "{left:?}");
    // A size check does not clear it: the next copy run says so (exit 3) and sends it again.
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v = json(&o);
    assert!(v["offsite"][0]["problems"][0].as_str().unwrap().contains("has changed there"), "{v}");
    assert_eq!(v["offsite"][0]["copied"][0], id.as_str(), "{v}");
    let o = run(dir.path(), &["offsite", "check", "--read-back"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    // Gone there: the next copy run says so loudly (exit 3) and sends it again.
    remote.delete(&name).unwrap();
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v = json(&o);
    assert!(v["offsite"][0]["problems"][0].as_str().unwrap().contains("is no longer there"), "{v}");
    assert_eq!(v["offsite"][0]["copied"][0], id.as_str(), "{v}");
    // Repaired: every copy reads back right again.
    let o = run(dir.path(), &["offsite", "check", "--read-back"], &[]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn each_destination_keeps_its_own_retention_and_the_newest_copy_always() {
    let g = Garage::start();
    let dir = tmp();
    site(
        dir.path(),
        &g.offsite_toml(
            "s3",
            "[offsite.retention]\nkeep_days = 30\nkeep_min_verified = 1\nkeep_weekly = 0\nkeep_monthly = 0",
        ),
    );
    let remote = s3_remote(&g);
    // Two old copies there (from months ago): entries and archives; and one of another
    // workstation writing to the same place, which this one's retention leaves alone.
    for (id, days) in
        [("hrsm-20250101T020000Z-0001", 330), ("hrsm-20250601T020000Z-0002", 180), ("hrsm-20250301T020000Z-0003", 270)]
    {
        let host = if id.ends_with("0003") { "another-workstation".to_string() } else { hrsm_host() };
        let e = CatalogEntry {
            host,
            archive: Some(format!("{id}.hrsmbk")),
            verified: true,
            sha256: Some("00".into()),
            size: 3,
            ..CatalogEntry::new(id, Status::Ok, chrono::Utc::now() - chrono::Duration::days(days))
        };
        remote.put_small(&format!("{id}.hrsmbk"), b"old".to_vec()).unwrap();
        remote.put_small(&format!("{id}.json"), serde_json::to_vec(&e).unwrap()).unwrap();
    }
    // With nothing newer there, retention keeps the newest of them.
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    // (no local backups yet: the folder does not exist)
    assert!(!o.status.success() || json(&o)["offsite"][0]["removed"].as_array().unwrap().len() <= 1, "{}", text(&o));
    let o = run(dir.path(), &["--json", "backup"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    let removed: Vec<&str> = v["offsite"][0]["removed"].as_array().unwrap().iter().filter_map(|x| x.as_str()).collect();
    assert_eq!(removed.len(), 2, "{v}");
    let names: Vec<String> = remote.list().unwrap().into_iter().map(|o| o.name).collect();
    let old: Vec<&String> = names.iter().filter(|n| n.starts_with("hrsm-2025")).collect();
    assert_eq!(old, ["hrsm-20250301T020000Z-0003.hrsmbk", "hrsm-20250301T020000Z-0003.json"], "{names:?}");
    // The local folder keeps its own: nothing local was removed.
    let o = run(dir.path(), &["--json", "list"], &[]);
    assert_eq!(json(&o)["backups"].as_array().unwrap().len(), 1);
}

#[test]
fn an_unreachable_store_fails_the_copy_but_never_the_backup() {
    let dir = tmp();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    site(
        dir.path(),
        &format!("[[offsite]]\nname = \"s3\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\nbucket = \"b\"\n"),
    );
    let o = run(dir.path(), &["backup"], &[("HRSM_OFFSITE_RETRY_SECS", "1")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("backup hrsm-") && out.contains("cannot be reached"), "{out}");
    let o = run(dir.path(), &["--json", "list"], &[]);
    let v = json(&o);
    assert_eq!(v["backups"][0]["status"], "ok", "{v}");
    let o = run(dir.path(), &["offsite", "status"], &[]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("cannot be reached"), "{}", text(&o));
}

#[test]
fn wrong_credentials_are_explained_and_no_secret_reaches_a_file_or_a_message() {
    let g = Garage::start();
    let dir = tmp();
    site(dir.path(), &g.offsite_toml("s3", ""));
    let wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    let o = run(dir.path(), &["backup"], &[("AWS_SECRET_ACCESS_KEY", wrong), ("HRSM_OFFSITE_RETRY_SECS", "1")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("refused the credentials"), "{}", text(&o));
    let o = run(dir.path(), &["--json", "backup"], &[("HRSM_LOG", "debug")]);
    assert!(o.status.success(), "{}", text(&o));
    // Neither secret anywhere: the output, the log, the backup folder, the config.
    let mut seen = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    for e in walkdir::WalkDir::new(dir.path()).into_iter().flatten().filter(|e| e.file_type().is_file()) {
        if !e.path().starts_with(dir.path().join("data")) {
            seen.push_str(&String::from_utf8_lossy(&fs::read(e.path()).unwrap()));
        }
    }
    assert!(!seen.contains(S3_SECRET) && !seen.contains(wrong), "a secret was written somewhere");
    // And none may be written into the config file: it is refused by name.
    fs::write(
        dir.path().join("bad.toml"),
        "[[offsite]]\nname = \"s3\"\nkind = \"s3\"\nbucket = \"b\"\nsecret_access_key = \"x\"\n",
    )
    .unwrap();
    let o = run(dir.path(), &["--config", "bad.toml", "offsite", "status"], &[]);
    assert!(!o.status.success() && text(&o).contains("secrets do not belong in config files"), "{}", text(&o));
}

#[test]
fn a_second_folder_that_is_missing_waits_and_is_filled_when_it_is_back() {
    let dir = tmp();
    let usb = dir.path().join("usb-disk");
    site(dir.path(), &format!("[[offsite]]\nname = \"usb\"\nkind = \"folder\"\npath = \"{}\"\n", usb.display()));
    let o = run(dir.path(), &["backup"], &[]);
    assert!(o.status.success(), "a missing disk must not fail the backup: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("waits"), "{}", text(&o));
    fs::create_dir_all(&usb).unwrap();
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let id = json(&o)["offsite"][0]["copied"][0].as_str().unwrap().to_string();
    assert_eq!(
        fs::read(usb.join(format!("{id}.hrsmbk"))).unwrap(),
        fs::read(dir.path().join(format!("backups/{id}.hrsmbk"))).unwrap()
    );
    assert!(usb.join(format!("{id}.json")).exists());
    // `list` says where each backup is copied.
    let o = run(dir.path(), &["--json", "list"], &[]);
    assert_eq!(json(&o)["backups"][0]["offsite"]["usb"], "copied", "{}", text(&o));
    let o = run(dir.path(), &["list"], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("OFF-SITE") && out.lines().any(|l| l.starts_with(&id) && l.ends_with("usb")), "{out}");
    // The backup folder itself (or a folder inside it) is refused as a "second" folder.
    let cfg = fs::read_to_string(dir.path().join("hrsm-backup.toml")).unwrap();
    fs::write(
        dir.path().join("same.toml"),
        cfg.replace(&usb.display().to_string(), &dir.path().join("backups/x").display().to_string()),
    )
    .unwrap();
    fs::create_dir_all(dir.path().join("backups/x")).unwrap();
    let o = run(dir.path(), &["--config", "same.toml", "offsite", "copy"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("shares it"), "{}", text(&o));
}

#[test]
fn an_empty_mount_point_is_not_taken_for_the_disk_and_a_new_place_starts_afresh() {
    let dir = tmp();
    let usb = dir.path().join("usb-disk");
    fs::create_dir_all(&usb).unwrap();
    site(dir.path(), &format!("[[offsite]]\nname = \"usb\"\nkind = \"folder\"\npath = \"{}\"\n", usb.display()));
    let o = run(dir.path(), &["--json", "backup"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let id = json(&o)["backup"]["id"].as_str().unwrap().to_string();
    assert!(usb.join(".hrsm-backup-destination").is_file(), "the first copy marks the disk");
    // The disk is unplugged; its mount point stays, empty, on the system disk.
    let away = dir.path().join("usb-away");
    fs::rename(&usb, &away).unwrap();
    fs::create_dir_all(&usb).unwrap();
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert_eq!(o.status.code(), Some(0), "a disk away waits, it does not fail: {}", text(&o));
    let v = json(&o);
    let waiting = v["offsite"][0]["waiting"].as_str().unwrap_or_default().to_string();
    assert!(waiting.contains("not the disk the copies went to"), "{v}");
    assert!(v["offsite"][0]["problems"].as_array().unwrap().is_empty(), "nothing is reported missing: {v}");
    assert_eq!(fs::read_dir(&usb).unwrap().count(), 0, "nothing is written to the mount point");
    let o = run(dir.path(), &["--json", "offsite", "status"], &[]);
    assert!(text(&o).contains("\"waiting\": true") || json(&o)[0]["waiting"] == true, "{}", text(&o));
    // A check of the mount point finds nothing "missing" either, and changes no record.
    let record = dir.path().join("backups/.offsite/usb.json");
    let before = fs::read(&record).unwrap();
    let o = run(dir.path(), &["--json", "offsite", "check"], &[]);
    assert!(
        text(&o).contains("not the disk the copies went to") && !text(&o).contains("no longer there"),
        "{}",
        text(&o)
    );
    assert_eq!(fs::read(&record).unwrap(), before);
    // A record from before markers existed (none in it, none on the disk): the empty mount
    // point is not adopted; the disk that holds the copies is.
    let mut old: serde_json::Value = serde_json::from_slice(&before).unwrap();
    old.as_object_mut().unwrap().remove("marker");
    fs::write(&record, serde_json::to_vec(&old).unwrap()).unwrap();
    fs::remove_file(away.join(".hrsm-backup-destination")).unwrap();
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert!(json(&o)["offsite"][0]["waiting"].as_str().is_some(), "{}", text(&o));
    assert_eq!(fs::read_dir(&usb).unwrap().count(), 0, "the mount point is not adopted");
    // Plugged in again: the copies are there, nothing is sent again, the disk is marked.
    fs::remove_dir(&usb).unwrap();
    fs::rename(&away, &usb).unwrap();
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    assert!(v["offsite"][0]["waiting"].is_null() && v["offsite"][0]["copied"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["offsite"][0]["problems"].as_array().unwrap().is_empty(), "{v}");
    assert!(usb.join(".hrsm-backup-destination").is_file());
    // A new, empty disk under the same destination waits, until its record is started afresh.
    let spare = dir.path().join("usb-first");
    fs::rename(&usb, &spare).unwrap();
    fs::create_dir_all(&usb).unwrap();
    let o = run(dir.path(), &["offsite", "copy"], &[]);
    assert!(text(&o).contains("offsite forget usb"), "the way out is said: {}", text(&o));
    let o = run(dir.path(), &["offsite", "forget", "usb"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert_eq!(json(&o)["offsite"][0]["copied"][0], id.as_str(), "{}", text(&o));
    assert!(usb.join(format!("{id}.hrsmbk")).is_file() && usb.join(".hrsm-backup-destination").is_file());
    let o = run(dir.path(), &["offsite", "forget", "../x"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The destination now points at another folder under the same name: its copies are
    // counted afresh (made there), not reported missing from the old place.
    let other = dir.path().join("nas-share");
    fs::create_dir_all(&other).unwrap();
    let cfg = fs::read_to_string(dir.path().join("hrsm-backup.toml")).unwrap();
    fs::write(
        dir.path().join("hrsm-backup.toml"),
        cfg.replace(&usb.display().to_string(), &other.display().to_string()),
    )
    .unwrap();
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["offsite"][0]["copied"][0], id.as_str(), "{v}");
    assert!(v["offsite"][0]["problems"].as_array().unwrap().is_empty(), "{v}");
    assert!(other.join(format!("{id}.hrsmbk")).is_file());
}

#[test]
fn an_upload_limit_is_kept() {
    let dir = tmp();
    let usb = dir.path().join("usb-disk");
    fs::create_dir_all(&usb).unwrap();
    // 8 Mbit/s is 1 MB/s; the backup holds 3 MB that do not compress. The backup is made
    // first, the destination added after, so only the copy is timed.
    site(dir.path(), "");
    fs::write(dir.path().join("data/scan.tif"), random_bytes(3_000_000, 7)).unwrap();
    let o = run(dir.path(), &["--json", "backup"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let mut cfg = fs::read_to_string(dir.path().join("hrsm-backup.toml")).unwrap();
    cfg.push_str(&format!(
        "[[offsite]]\nname = \"usb\"\nkind = \"folder\"\npath = \"{}\"\nupload_limit_mbps = 8\n",
        usb.display()
    ));
    fs::write(dir.path().join("hrsm-backup.toml"), &cfg).unwrap();
    let size = json(&o)["backup"]["size"].as_u64().unwrap();
    assert!(size > 3_000_000, "{size}");
    // The first MiB goes at once, every further byte waits its turn at 1 MB/s.
    let least = std::time::Duration::from_secs_f64((size - (1 << 20)) as f64 / 1_000_000.0);
    let t = std::time::Instant::now();
    let o = run(dir.path(), &["--json", "offsite", "copy"], &[]);
    let took = t.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["offsite"][0]["copied"].as_array().unwrap().len(), 1, "{}", text(&o));
    assert!(took >= least, "{size} bytes at 8 Mbit/s took {took:?}, less than {least:?}");
    // A limit of 0 is a mistake, said as one.
    let cfg = fs::read_to_string(dir.path().join("hrsm-backup.toml")).unwrap();
    fs::write(dir.path().join("hrsm-backup.toml"), cfg.replace("upload_limit_mbps = 8", "upload_limit_mbps = 0"))
        .unwrap();
    let o = run(dir.path(), &["offsite", "status"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("upload_limit_mbps must be at least 1"), "{}", text(&o));
}

#[test]
fn azure_blob_storage_holds_a_copy_that_restores() {
    let az = Azurite::start();
    let dir = tmp();
    site(dir.path(), &az.offsite_toml("azure"));
    let o = run(dir.path(), &["--json", "backup"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    let id = v["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["offsite"][0]["copied"][0], id.as_str(), "{v}");
    let before = snapshot(&dir.path().join("data"));
    fs::remove_dir_all(dir.path().join("backups")).unwrap();
    let o = run(dir.path(), &["offsite", "fetch", &id, "--from", "azure"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("restored");
    let o = run(dir.path(), &["restore", &id, "--files-to", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(snapshot(&out.join("data")), before);
}

#[test]
fn hrsm_cloud_variables_add_the_destination() {
    let g = Garage::start();
    let dir = tmp();
    site(dir.path(), "");
    let ep = g.endpoint();
    let vars = [
        ("BACKUP_CLOUD_ENABLED", "true"),
        ("BACKUP_CLOUD_PROVIDER", "aws"),
        ("AWS_S3_BACKUP_BUCKET", super::objstore::S3_BUCKET),
        ("AWS_REGION", "garage"),
        ("AWS_ENDPOINT_URL", ep.as_str()),
    ];
    let o = run(dir.path(), &["--json", "backup"], &vars);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["offsite"][0]["destination"], "cloud", "{v}");
    assert_eq!(v["offsite"][0]["copied"].as_array().unwrap().len(), 1, "{v}");
    // A provider this program cannot use never stops the backup itself: the copy says why.
    let o =
        run(dir.path(), &["--json", "backup"], &[("BACKUP_CLOUD_ENABLED", "true"), ("BACKUP_CLOUD_PROVIDER", "gcp")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v = json(&o);
    assert_eq!((v["ok"].as_bool(), v["offsite_ok"].as_bool()), (Some(true), Some(false)), "{v}");
    assert!(v["offsite"][0]["error"].as_str().unwrap().contains("S3-compatible endpoint"), "{v}");
    let o = run(dir.path(), &["list"], &[("BACKUP_CLOUD_ENABLED", "true"), ("BACKUP_CLOUD_PROVIDER", "gcp")]);
    assert!(o.status.success(), "{}", text(&o));
    // A backup id that is not one is refused before anything is written.
    let o = run(dir.path(), &["offsite", "fetch", "../../etc", "--from", "cloud"], &vars);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn keys_typed_into_the_keychain_open_the_store_without_any_environment() {
    hrsm_backup::assert_private_test_session();
    let g = Garage::start();
    let dir = tmp();
    // A name of this test's own: the keychain entry is per destination.
    let name = format!("kc{}", std::process::id());
    site(dir.path(), &g.offsite_toml(&name, ""));
    let bare = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut c = Command::new(bin())
            .args(args)
            .current_dir(dir.path())
            .env("BACKUP_ENCRYPTION_KEY", key_hex())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("BACKUP_CLOUD_ENABLED")
            .env_remove("HRSM_BACKUP_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let o = bare(&["offsite", "test", &name], "");
    assert!(!o.status.success() && text(&o).contains("no credentials"), "{}", text(&o));
    let o = bare(&["offsite", "secret", &name], "only-one-line\n");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = bare(&["offsite", "secret", &name], &format!("{S3_KEY_ID}\n{S3_SECRET}\n"));
    assert!(o.status.success(), "{}", text(&o));
    let o = bare(&["offsite", "test", &name], "");
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("ok"), "{}", text(&o));
    let o = bare(&["--json", "backup"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["offsite"][0]["copied"].as_array().unwrap().len(), 1);
    // The secret is in the keychain, nowhere in the folder.
    let looked_up = Command::new("secret-tool")
        .args(["lookup", "service", hrsm_backup::TEST_SERVICE, "username", &format!("offsite:{name}")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&looked_up.stdout).contains(S3_SECRET));
    for e in walkdir::WalkDir::new(dir.path()).into_iter().flatten().filter(|e| e.file_type().is_file()) {
        assert!(!String::from_utf8_lossy(&fs::read(e.path()).unwrap()).contains(S3_SECRET), "{}", e.path().display());
    }
    let o = bare(&["offsite", "secret", &name, "--delete"], "");
    assert!(o.status.success(), "{}", text(&o));
    let o = bare(&["offsite", "test", &name], "");
    assert!(!o.status.success(), "{}", text(&o));
}

/// This machine's name as the catalog records it.
fn hrsm_host() -> String {
    CatalogEntry::new("hrsm-x", Status::Ok, chrono::Utc::now()).host
}
