//! Crash safety: the backup process is killed with SIGKILL at every named point of a run (after
//! the dump, before and after the archive's rename, before the catalog entry, before verify,
//! before and during retention) and at random moments; each time nothing partial lists as a good
//! backup, every good backup still verifies, and the next run cleans up and succeeds.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use bson::doc;
use hrsm_backup::{verify_archive, Catalog, NoProgress, Status};

use super::util::*;

const POINTS: &[&str] = &[
    "after-dump",
    "archive-written-before-commit",
    "before-rename",
    "after-rename",
    "before-catalog-entry",
    "before-verify",
    "before-retention",
    "prune-between-entry-and-archive",
];

/// The crash points exist only with `--features fault-injection` (scripts/test passes it): a
/// build without them would make every crash test below pass without crashing anything.
#[test]
fn this_build_has_its_crash_points() {
    if !hrsm_backup::FAULT_INJECTION {
        panic!("run the tests with `--features fault-injection` (scripts/test does); without it the crash tests prove nothing");
    }
}

fn setup(t: &Path) -> String {
    let db = fresh_db("it_crash");
    let client = mongodb::sync::Client::with_uri_str(mongo_uri()).unwrap();
    client
        .database(&db)
        .collection::<bson::Document>("users")
        .insert_many((0..3000).map(|i| doc! {"i": i, "pad": "p".repeat(100)}))
        .run()
        .unwrap();
    write(&t.join("data/big.bin"), &random_bytes(1 << 20, 1), 0o644, 1_700_000_000);
    for i in 0..100 {
        write(&t.join(format!("data/docs/{i}.txt")), format!("doc {i}").as_bytes(), 0o644, 1_700_000_000);
    }
    std::fs::write(
        t.join("hrsm-backup.toml"),
        format!(
            "destination = \"backups\"\n[retention]\nkeep_days = 5\nkeep_min_verified = 1\nkeep_weekly = 0\nkeep_monthly = 0\n[mongodb]\nuri = \"{}\"\ndatabases = [\"{db}\"]\nlog_collection = \"\"\n[[sources]]\nname = \"data\"\npath = \"data\"\n",
            mongo_uri()
        ),
    )
    .unwrap();
    db
}

fn backup(t: &Path, fault: Option<&str>) -> std::process::Output {
    let mut c = Command::new(bin());
    c.args(["--config", "hrsm-backup.toml", "backup"])
        .current_dir(t)
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .env_remove("MONGODB_URI")
        .env_remove("BACKUPS_ENABLED")
        .env("HRSM_SPOOL_DIR", t.join("spool"));
    if let Some(f) = fault {
        c.env("HRSM_FAULT_POINT", f);
    }
    c.output().unwrap()
}

/// Ages the oldest ok entry so that retention wants to remove it on the next good run.
fn age_oldest(dir: &Path) {
    let listing = Catalog::existing(dir).unwrap().list().unwrap();
    if let Some(e) = listing.entries.iter().find(|e| e.status == Status::Ok) {
        let p = dir.join(format!("{}.json", e.id));
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        v["started"] = "2020-01-01T00:00:00Z".into();
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    }
}

/// Every entry listed as ok must verify; returns the ids of the good ones.
fn good_backups(dir: &Path) -> Vec<String> {
    let listing = Catalog::existing(dir).unwrap().list().unwrap();
    let mut good = Vec::new();
    for e in &listing.entries {
        if e.status == Status::Ok {
            let archive = dir.join(e.archive.as_ref().expect("an ok entry names its archive"));
            verify_archive(&archive, &key(), &NoProgress)
                .unwrap_or_else(|err| panic!("{} lists as ok but does not verify: {err}", e.id));
            good.push(e.id.clone());
        }
    }
    good
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.') && n != ".lock" && n != ".lock.holder")
        .collect()
}

#[test]
fn sigkill_at_every_point_leaves_nothing_partial_and_the_next_run_recovers() {
    let t = tmp();
    setup(t.path());
    let dir = t.path().join("backups");
    let o = backup(t.path(), None);
    assert!(o.status.success(), "{}", text(&o));
    let mut tried = 0;
    for point in POINTS {
        // Give retention something to remove, so its crash points are reached.
        let o = backup(t.path(), None);
        assert!(o.status.success(), "{point}: {}", text(&o));
        age_oldest(&dir);
        let before = good_backups(&dir);
        let newest_good = before.last().cloned().unwrap();
        let o = backup(t.path(), Some(point));
        assert_eq!(o.status.signal(), Some(9), "{point} was not reached: {}", text(&o));
        tried += 1;
        let after = good_backups(&dir);
        assert!(after.contains(&newest_good), "{point}: the newest good backup was removed");
        for id in &after {
            assert!(
                before.contains(id) || point == &"before-retention" || point == &"prune-between-entry-and-archive",
                "{point}: {id} appeared as good from a killed run"
            );
        }
        // The next run cleans up and succeeds.
        let o = backup(t.path(), None);
        assert!(o.status.success(), "{point}: the run after the crash failed: {}", text(&o));
        assert_eq!(leftovers(&dir), Vec::<String>::new(), "{point}: leftovers after recovery");
        let listing = Catalog::existing(&dir).unwrap().list().unwrap();
        assert!(listing.entries.iter().all(|e| e.status != Status::Running), "{point}: a run still shows as running");
        assert!(
            listing.entries.iter().all(|e| e.status != Status::Unindexed),
            "{point}: an archive without a catalog entry was left"
        );
        good_backups(&dir);
    }
    assert_eq!(tried, POINTS.len());
}

#[test]
fn sigkill_at_random_moments_never_lists_a_partial_backup() {
    let t = tmp();
    setup(t.path());
    let dir = t.path().join("backups");
    let start = std::time::Instant::now();
    let o = backup(t.path(), None);
    assert!(o.status.success(), "{}", text(&o));
    let full = start.elapsed().as_micros() as u64;
    let mut rng = rand::rngs::OsRng;
    for i in 0..15 {
        let good_before = good_backups(&dir);
        let mut child = Command::new(bin())
            .args(["--config", "hrsm-backup.toml", "backup"])
            .current_dir(t.path())
            .env("BACKUP_ENCRYPTION_KEY", key_hex())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = rand::Rng::gen_range(&mut rng, 0..full.max(1));
        std::thread::sleep(std::time::Duration::from_micros(delay));
        let _ = child.kill();
        let _ = child.wait();
        let good_after = good_backups(&dir);
        for g in &good_before {
            assert!(good_after.contains(g), "kill {i} after {delay} us removed good backup {g}");
        }
    }
    let o = backup(t.path(), None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter(|e| std::fs::read(e.path()).map(|b| b.windows(needle.len()).any(|w| w == needle)).unwrap_or(false))
        .map(|e| e.path().display().to_string())
        .collect()
}

/// Issue 8, defect 5: the MongoDB spool (raw BSON of HR data) and the tools' config file (the
/// database password) were written under `<destination>/.spool-<id>` and stayed there after a
/// crash: plaintext where copies leave the machine. Now they live in a private local folder
/// and a crashed run's spool is removed by the next run.
#[test]
fn a_crash_after_the_dump_leaves_no_plaintext_in_the_destination() {
    let t = tmp();
    let db = setup(t.path());
    let marker = "SALARY-MARKER-93817";
    let client = mongodb::sync::Client::with_uri_str(mongo_uri()).unwrap();
    client.database(&db).collection::<bson::Document>("payroll").insert_one(doc! {"note": marker}).run().unwrap();
    let o = backup(t.path(), Some("after-dump"));
    assert_eq!(o.status.signal(), Some(9), "{}", text(&o));
    let dest = t.path().join("backups");
    let spool = t.path().join("spool");
    assert_eq!(files_containing(&dest, marker.as_bytes()), Vec::<String>::new(), "plaintext in the destination");
    assert!(leftovers(&dest).iter().all(|n| !n.starts_with(".spool") && !n.starts_with(".mongotools")));
    // The spool did hold the plaintext (so the check above can see it), in a private folder.
    assert!(!files_containing(&spool, marker.as_bytes()).is_empty(), "the spool is elsewhere than expected");
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(&spool).unwrap() {
        let meta = e.unwrap().metadata().unwrap();
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode, if meta.is_dir() { 0o700 } else { 0o600 }, "a spool folder and its lock are private");
    }
    // The next run removes the crashed run's spool, and leaves none of its own.
    let o = backup(t.path(), None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "spools left behind");
    assert!(files_containing(&dest, marker.as_bytes()).is_empty());
}

/// A restore killed outright cannot drop its staging collections (`__hrsm_restore_*`): its
/// journal (in the spool folder) lets the next restore on that server take them away first,
/// whether the kill came while filling or at the swap, and name a new collection it was
/// filling; a restore that ends leaves no journal.
#[test]
fn a_restore_killed_mid_way_leaves_nothing_the_next_restore_does_not_take_away() {
    let t = tmp();
    let db = setup(t.path());
    let client = mongodb::sync::Client::with_uri_str(mongo_uri()).unwrap();
    client
        .database(&db)
        .collection::<bson::Document>("departments")
        .insert_many((0..50).map(|i| doc! {"d": i}))
        .run()
        .unwrap();
    let o = backup(t.path(), None);
    assert!(o.status.success(), "{}", text(&o));
    for point in ["restore-mid-fill", "restore-before-swap"] {
        // The target has `departments` (other content: staged, swapped at the end), not `users`
        // (filled under its own name).
        let to = fresh_db("it_crash_to");
        client.database(&to).collection::<bson::Document>("departments").insert_one(doc! {"live": true}).run().unwrap();
        let restore = |fault: Option<&str>| {
            let mut c = Command::new(bin());
            c.args(["--config", "hrsm-backup.toml", "restore", "latest", "--db", &format!("{db}={to}")])
                .current_dir(t.path())
                .env("BACKUP_ENCRYPTION_KEY", key_hex())
                .env_remove("MONGODB_URI")
                .env("HRSM_SPOOL_DIR", t.path().join("spool"));
            if let Some(f) = fault {
                c.env("HRSM_FAULT_POINT", f);
            }
            c.output().unwrap()
        };
        let o = restore(Some(point));
        assert_eq!(o.status.signal(), Some(9), "{point}: killed: {}", text(&o));
        let names = client.database(&to).list_collection_names().run().unwrap();
        assert!(
            names.iter().any(|n| n.starts_with("__hrsm_restore_")),
            "{point}: the kill left its staging: {names:?}"
        );
        let journals = || {
            std::fs::read_dir(t.path().join("spool"))
                .unwrap()
                .flatten()
                .filter(|d| d.file_name().to_string_lossy().ends_with(".journal"))
                .count()
        };
        assert_eq!(journals(), 1, "{point}: its journal stays");
        let o = restore(None);
        assert!(o.status.success(), "{point}: {}", text(&o));
        // A collection the killed restore was filling under its own name is never dropped by
        // the cleaning (it may hold the site's writes since): it is named, and replaced here.
        let said = String::from_utf8_lossy(&o.stdout).contains(&format!(
            "a restore was stopped while it filled {to}.users, which it had created: it may be incomplete"
        ));
        assert_eq!(said, point == "restore-mid-fill", "{point}: {}", text(&o));
        let mut names = client.database(&to).list_collection_names().run().unwrap();
        names.sort();
        assert_eq!(names, vec!["departments", "users"], "{point}: nothing of the killed restore left");
        for coll in ["departments", "users"] {
            let count =
                |d: &str| client.database(d).collection::<bson::Document>(coll).count_documents(doc! {}).run().unwrap();
            assert_eq!(count(&to), count(&db), "{point}: {coll} restored whole");
        }
        assert_eq!(journals(), 0, "{point}: no journal left");
    }
}
