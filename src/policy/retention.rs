//! Retention: which backups to keep and which to remove, and why. `plan` is a pure function of
//! (policy, catalog entries, now), tested as such; `ops::prune` carries a plan out.
//!
//! Rules, in order: nothing is removed while the latest run is not a good, verified backup (so
//! weeks of failures can never empty the folder); the newest verified backup and the
//! `keep_min_verified` newest verified backups stay whatever their age; everything younger than
//! `keep_days` stays; optional daily/weekly/monthly buckets keep the newest backup of each of
//! the last N days/weeks/months; archives the catalog does not know are never touched, and
//! neither are backups imported from the old backup service.
//!
//! Depends on `store::catalog` (the entries) and `config` only; no I/O.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;

use crate::store::catalog::{CatalogEntry, Status};

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    pub keep_days: u32,
    pub keep_min_verified: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy { keep_days: 30, keep_min_verified: 3, keep_daily: 0, keep_weekly: 0, keep_monthly: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: String,
    pub keep: bool,
    pub reason: String,
}

/// Why an imported backup stays.
pub const IMPORTED_REASON: &str = "imported from the old backup service: kept until you remove it";

/// Decides, for every catalog entry, keep or remove, with the reason.
pub fn plan(policy: &RetentionPolicy, entries: &[CatalogEntry], now: DateTime<Utc>) -> Vec<Decision> {
    let mut sorted: Vec<&CatalogEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id))); // newest first
                                                                                    // Backups imported from the old service are kept apart: they are never removed, and they
                                                                                    // take no place that protects our own backups (the newest, the minimum, the buckets).
    let good = |e: &CatalogEntry| e.status == Status::Ok && e.archive.is_some() && !e.is_imported();
    // Pause while the latest run is not a good backup: failures must never cost old backups.
    let paused = sorted.iter().find(|e| !e.is_imported()).map(|e| !good(e)).unwrap_or(true);
    // The backups that protect: verified ones, or (with verification switched off) good ones.
    let mut verified: Vec<&&CatalogEntry> = sorted.iter().filter(|e| good(e) && e.verified).collect();
    if verified.is_empty() {
        verified = sorted.iter().filter(|e| good(e)).collect();
    }
    let min_keep: HashSet<&str> =
        verified.iter().take(policy.keep_min_verified.max(1) as usize).map(|e| e.id.as_str()).collect();
    let cutoff = now - Duration::days(policy.keep_days as i64);
    let buckets = bucket_keepers(policy, &sorted, &good);
    sorted
        .iter()
        .map(|e| {
            let (keep, reason) = if e.status == Status::Unindexed {
                (true, "not in the catalog: never removed automatically (run `hrsm-backup verify` on it)".to_string())
            } else if e.is_imported() {
                (true, IMPORTED_REASON.to_string())
            } else if paused {
                (true, "the latest run did not make a good backup: nothing is removed until one succeeds".to_string())
            } else if verified.first().map(|v| v.id == e.id).unwrap_or(false) {
                (true, "the newest verified backup".to_string())
            } else if min_keep.contains(e.id.as_str()) {
                (true, format!("one of the {} newest verified backups", policy.keep_min_verified.max(1)))
            } else if e.started >= cutoff {
                (true, format!("younger than {} days", policy.keep_days))
            } else if let Some(b) = buckets.get(e.id.as_str()) {
                (true, b.clone())
            } else if e.status == Status::Failed {
                (false, format!("a failed run older than {} days", policy.keep_days))
            } else if e.status == Status::Cancelled {
                (false, format!("a cancelled run older than {} days", policy.keep_days))
            } else {
                (false, format!("older than {} days", policy.keep_days))
            };
            Decision { id: e.id.clone(), keep, reason }
        })
        .collect()
}

/// Maps a time to its calendar bucket (year + day, ISO week or month).
type BucketKey = fn(DateTime<Utc>) -> (i32, u32);

/// The newest good backup of each of the last N days / ISO weeks / months.
fn bucket_keepers<'a>(
    policy: &RetentionPolicy,
    newest_first: &[&'a CatalogEntry],
    good: &dyn Fn(&CatalogEntry) -> bool,
) -> std::collections::HashMap<&'a str, String> {
    let mut out = std::collections::HashMap::new();
    let rules: [(u32, &str, BucketKey); 3] = [
        (policy.keep_daily, "day", |t| (t.year(), t.ordinal())),
        (policy.keep_weekly, "week", |t| (t.iso_week().year(), t.iso_week().week())),
        (policy.keep_monthly, "month", |t| (t.year(), t.month())),
    ];
    for (n, label, key) in rules {
        if n == 0 {
            continue;
        }
        let mut seen = Vec::new();
        for e in newest_first.iter().filter(|e| good(e)) {
            let k = key(e.started);
            if seen.contains(&k) {
                continue;
            }
            if seen.len() as u32 >= n {
                break;
            }
            seen.push(k);
            out.entry(e.id.as_str())
                .or_insert_with(|| format!("the newest backup of its {label} (keeping {n} {label}s)"));
        }
    }
    out
}

impl From<&crate::config::RetentionConfig> for RetentionPolicy {
    fn from(c: &crate::config::RetentionConfig) -> Self {
        RetentionPolicy {
            keep_days: c.keep_days,
            keep_min_verified: c.keep_min_verified,
            keep_daily: c.keep_daily,
            keep_weekly: c.keep_weekly,
            keep_monthly: c.keep_monthly,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::manifest::Origin;
    use chrono::TimeZone;

    fn entry(id: &str, days_ago: i64, now: DateTime<Utc>) -> CatalogEntry {
        let t = now - Duration::days(days_ago);
        CatalogEntry {
            archive: Some(format!("{id}.hrsmbk")),
            verified: true,
            verified_at: Some(now),
            ..CatalogEntry::new(id, Status::Ok, t)
        }
    }

    fn imported(id: &str, days_ago: i64, now: DateTime<Utc>) -> CatalogEntry {
        let mut e = entry(id, days_ago, now);
        e.origin = Some(Origin {
            kind: "legacy".into(),
            file: format!("daily/{id}.tar.gz.enc"),
            sha256: "00".repeat(32),
            made: e.started,
            backup_type: Some("daily".into()),
            key_origin: "BACKUP_ENCRYPTION_KEY".into(),
            losses: vec![],
        });
        e
    }

    #[test]
    fn imported_backups_are_kept_and_take_no_place_of_our_own() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap();
        let policy = RetentionPolicy { keep_days: 30, keep_min_verified: 2, keep_monthly: 2, ..Default::default() };
        // Old backups of the old service, far past every limit; then our own, some old.
        let mut entries: Vec<CatalogEntry> = (0..5).map(|i| imported(&format!("old{i}"), 400 + i, now)).collect();
        entries.extend((0..3).map(|i| entry(&format!("ours{i}"), i * 40, now)));
        let got: std::collections::HashMap<String, (bool, String)> =
            plan(&policy, &entries, now).into_iter().map(|d| (d.id, (d.keep, d.reason))).collect();
        for i in 0..5 {
            assert_eq!(got[&format!("old{i}")], (true, IMPORTED_REASON.to_string()));
        }
        assert_eq!(IMPORTED_REASON, "imported from the old backup service: kept until you remove it");
        // Our own: the newest two are the protected minimum (imported ones do not count), the
        // monthly bucket does not reach the 80-day-old one, so it goes.
        assert_eq!(got["ours0"], (true, "the newest verified backup".to_string()));
        assert_eq!(got["ours1"], (true, "one of the 2 newest verified backups".to_string()));
        assert!(!got["ours2"].0, "{:?}", got["ours2"]);
    }

    #[test]
    fn imported_backups_alone_are_kept_and_a_failed_import_is_not_protected() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap();
        let mut failed = imported("broken", 500, now);
        failed.status = Status::Failed;
        failed.archive = None;
        let entries = vec![imported("old", 400, now), failed, entry("ours", 1, now)];
        let got: std::collections::HashMap<String, (bool, String)> =
            plan(&RetentionPolicy::default(), &entries, now).into_iter().map(|d| (d.id, (d.keep, d.reason))).collect();
        assert_eq!(got["old"], (true, IMPORTED_REASON.to_string()));
        assert!(got["ours"].0);
        assert_eq!(got["broken"], (false, "a failed run older than 30 days".to_string()));
        let only = vec![imported("a", 900, now), imported("b", 800, now)];
        assert!(plan(&RetentionPolicy::default(), &only, now).iter().all(|d| d.keep && d.reason == IMPORTED_REASON));
    }
}
