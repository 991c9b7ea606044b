//! Retention is a pure function from (policy, catalog, now) to keep/remove with a reason;
//! these are its golden cases, then `prune` end to end.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hrsm_backup::{retention_plan, CatalogEntry, RetentionPolicy, Status};

use super::util::*;

fn entry(id: &str, days_ago: i64, status: Status, verified: bool, now: DateTime<Utc>) -> CatalogEntry {
    let t = now - Duration::days(days_ago);
    CatalogEntry {
        archive: (status != Status::Failed).then(|| format!("{id}.hrsmbk")),
        verified,
        ..CatalogEntry::new(id, status, t)
    }
}

fn decide(policy: &RetentionPolicy, entries: &[CatalogEntry], now: DateTime<Utc>) -> Vec<(String, bool, String)> {
    let mut d: Vec<_> = retention_plan(policy, entries, now).into_iter().map(|d| (d.id, d.keep, d.reason)).collect();
    d.sort();
    d
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap()
}

#[test]
fn thirty_days_are_kept_and_older_ones_go() {
    let n = now();
    let entries: Vec<_> = (0..40).map(|d| entry(&format!("b{d:02}"), d, Status::Ok, true, n)).collect();
    let got = decide(&RetentionPolicy::default(), &entries, n);
    assert_eq!(got[0], ("b00".into(), true, "the newest verified backup".into()));
    assert_eq!(got[1], ("b01".into(), true, "one of the 3 newest verified backups".into()));
    assert_eq!(got[29], ("b29".into(), true, "younger than 30 days".into()));
    assert_eq!(got[30], ("b30".into(), true, "younger than 30 days".into()));
    assert_eq!(got[31], ("b31".into(), false, "older than 30 days".into()));
    assert_eq!(got.iter().filter(|d| !d.1).count(), 9);
}

#[test]
fn weeks_of_failures_never_empty_the_folder() {
    let n = now();
    let mut entries: Vec<_> = (0..21).map(|d| entry(&format!("fail{d:02}"), d, Status::Failed, false, n)).collect();
    entries.extend((60..65).map(|d| entry(&format!("old{d}"), d, Status::Ok, true, n)));
    let got = decide(&RetentionPolicy::default(), &entries, n);
    assert!(got.iter().all(|d| d.1), "{got:?}");
    assert!(got.iter().all(|d| d.2.starts_with("the latest run did not make a good backup")));
}

#[test]
fn the_newest_verified_backups_survive_whatever_their_age() {
    let n = now();
    let mut entries: Vec<_> = (50..56).map(|d| entry(&format!("v{d}"), d, Status::Ok, true, n)).collect();
    entries.push(entry("unverified-new", 0, Status::Ok, false, n));
    entries.push(entry("good-new", 0, Status::Ok, true, n));
    let policy = RetentionPolicy { keep_days: 7, keep_min_verified: 3, ..Default::default() };
    let got = decide(&policy, &entries, n);
    let kept: Vec<&str> = got.iter().filter(|d| d.1).map(|d| d.0.as_str()).collect();
    // good-new and unverified-new were started at the same time; ids break the tie.
    assert_eq!(kept, vec!["good-new", "unverified-new", "v50", "v51"]);
}

#[test]
fn monthly_buckets_keep_one_per_month() {
    let n = now();
    let entries: Vec<_> = (0..120).step_by(5).map(|d| entry(&format!("b{d:03}"), d, Status::Ok, true, n)).collect();
    let policy = RetentionPolicy { keep_days: 10, keep_min_verified: 1, keep_monthly: 4, ..Default::default() };
    let got = decide(&policy, &entries, n);
    let by_bucket: Vec<&str> =
        got.iter().filter(|d| d.2.starts_with("the newest backup of its month")).map(|d| d.0.as_str()).collect();
    assert_eq!(by_bucket.len(), 3, "{got:?}"); // the 4th month's newest is already kept as newest overall
    assert!(got.iter().filter(|d| !d.1).all(|d| d.2 == "older than 10 days"));
}

#[test]
fn unindexed_archives_are_never_removed() {
    let n = now();
    let entries = vec![entry("known", 0, Status::Ok, true, n), entry("stray", 400, Status::Unindexed, false, n)];
    let got = decide(&RetentionPolicy::default(), &entries, n);
    assert!(got.iter().all(|d| d.1), "{got:?}");
}

#[test]
fn prune_through_the_cli_removes_only_what_the_plan_says() {
    let t = tmp();
    write(&t.path().join("d/x"), b"x", 0o644, 1_700_000_000);
    write_config(t.path(), &t.path().join("d"));
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        std::fs::read_to_string(t.path().join("hrsm-backup.toml")).unwrap().replace(
            "[mongodb]",
            "[retention]\nkeep_days = 5\nkeep_min_verified = 2\nkeep_weekly = 0\nkeep_monthly = 0\n[mongodb]",
        ),
    )
    .unwrap();
    for _ in 0..4 {
        let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // Age the two oldest backups by editing their catalog entries (the plan reads only these).
    let dir = t.path().join("backups");
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    ids.sort();
    for name in &ids[..2] {
        let p = dir.join(name);
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        v["started"] = "2020-01-01T00:00:00Z".into();
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    }
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "prune", "--dry-run"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(out.lines().filter(|l| l.starts_with("would remove")).count(), 2, "{out}");
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".hrsmbk"))
            .count(),
        4
    );
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "prune"]);
    assert!(o.status.success(), "{}", text(&o));
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".hrsmbk"))
        .collect();
    assert_eq!(left.len(), 2);
    for gone in &ids[..2] {
        assert!(!left.contains(&gone.replace(".json", ".hrsmbk")));
    }
}
