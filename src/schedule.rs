//! Schedule arithmetic, pure and tested as plain functions: the daily slot in the admin's time
//! zone (croner over chrono-tz, so daylight-saving jumps are handled), whether a run is due
//! (catch-up of a slot missed while the machine was off), retry back-off, and "overdue".
//!
//! Depends on `error` only.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::error::{Error, Result};

/// No good backup for this long is "overdue" (a daily schedule plus two hours of grace).
pub const OVERDUE_AFTER_HOURS: i64 = 26;

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    /// As configured, for display: "02:00 UTC".
    pub label: String,
}

impl Schedule {
    /// A daily run at `time` (HH:MM) in the IANA time zone `tz`.
    pub fn daily(time: &str, tz: &str) -> Result<Self> {
        let (h, m) = crate::config::parse_hhmm(time)
            .ok_or_else(|| Error::Config(format!("schedule time {time:?} is not HH:MM (00:00..23:59)")))?;
        let zone = Tz::from_str(tz).map_err(|_| {
            Error::Config(format!(
                "{tz:?} is not an IANA time zone; use a name such as UTC, Africa/Cairo or Europe/Berlin"
            ))
        })?;
        let cron = Cron::from_str(&format!("{m} {h} * * *")).map_err(|e| Error::Config(format!("schedule: {e}")))?;
        Ok(Schedule { cron, tz: zone, label: format!("{time} {tz}") })
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.tz);
        match self.cron.find_next_occurrence(&local, false) {
            Ok(n) => n.with_timezone(&Utc),
            // A daily pattern always has a next slot; fall back to a day later defensively.
            Err(_) => t + Duration::days(1),
        }
    }

    /// The latest slot at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.tz);
        match self.cron.find_previous_occurrence(&local, true) {
            Ok(p) => p.with_timezone(&Utc),
            Err(_) => t - Duration::days(1),
        }
    }
}

/// A run is due when the latest slot has passed and no backup succeeded since: this is what
/// makes a slot missed while the machine was off or asleep run soon after it comes back.
/// `first_start` is when scheduling began (a fresh install does not back up for a slot that
/// passed before it was installed).
pub fn due(s: &Schedule, last_success: Option<DateTime<Utc>>, first_start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let slot = s.latest_at_or_before(now);
    match last_success {
        Some(last) => last < slot,
        None => slot >= first_start,
    }
}

/// Wait before retry `attempt` (1-based) after a failure; None when the tries are used up
/// (the next slot tries again).
pub fn retry_delay(attempt: u32, max_tries: u32) -> Option<Duration> {
    if attempt >= max_tries {
        return None;
    }
    Some(Duration::minutes(5 * 3i64.pow(attempt.saturating_sub(1).min(6))))
}

/// No good backup for more than 26 hours.
pub fn overdue(last_success: Option<DateTime<Utc>>, first_start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_success.unwrap_or(first_start) > Duration::hours(OVERDUE_AFTER_HOURS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn daily_at_two_utc() {
        let s = Schedule::daily("02:00", "UTC").unwrap();
        assert_eq!(s.next_after(utc(2026, 11, 27, 1, 59)), utc(2026, 11, 27, 2, 0));
        assert_eq!(s.next_after(utc(2026, 11, 27, 2, 0)), utc(2026, 11, 28, 2, 0));
        assert_eq!(s.latest_at_or_before(utc(2026, 11, 27, 2, 0)), utc(2026, 11, 27, 2, 0));
        assert_eq!(s.latest_at_or_before(utc(2026, 11, 27, 1, 0)), utc(2026, 11, 26, 2, 0));
    }

    #[test]
    fn time_zones_and_daylight_saving() {
        // Cairo is UTC+2 in winter: 02:00 local is 00:00 UTC.
        let s = Schedule::daily("02:00", "Africa/Cairo").unwrap();
        assert_eq!(s.next_after(utc(2026, 11, 27, 3, 0)), utc(2026, 11, 28, 0, 0));
        // Berlin springs forward on 2026-03-29 at 02:00 -> 03:00: 02:30 does not exist that day.
        let b = Schedule::daily("02:30", "Europe/Berlin").unwrap();
        let next = b.next_after(utc(2026, 3, 28, 12, 0));
        assert!(next > utc(2026, 3, 28, 12, 0) && next <= utc(2026, 3, 30, 0, 30), "{next}");
    }

    #[test]
    fn a_slot_missed_while_off_is_caught_up() {
        let s = Schedule::daily("02:00", "UTC").unwrap();
        let installed = utc(2026, 11, 1, 12, 0);
        // Last success two days ago, machine was off at 02:00 today: due at 09:00.
        assert!(due(&s, Some(utc(2026, 11, 25, 2, 1)), installed, utc(2026, 11, 27, 9, 0)));
        // Already backed up after today's slot: not due.
        assert!(!due(&s, Some(utc(2026, 11, 27, 2, 3)), installed, utc(2026, 11, 27, 9, 0)));
        // A fresh install does not run for slots before it existed.
        assert!(!due(&s, None, utc(2026, 11, 27, 8, 0), utc(2026, 11, 27, 9, 0)));
        assert!(due(&s, None, utc(2026, 11, 26, 8, 0), utc(2026, 11, 27, 9, 0)));
    }

    #[test]
    fn retries_back_off_then_stop() {
        assert_eq!(retry_delay(1, 3), Some(Duration::minutes(5)));
        assert_eq!(retry_delay(2, 3), Some(Duration::minutes(15)));
        assert_eq!(retry_delay(3, 3), None);
    }

    #[test]
    fn overdue_after_26_hours() {
        let t0 = utc(2026, 11, 26, 2, 0);
        assert!(!overdue(Some(t0), t0, t0 + Duration::hours(26)));
        assert!(overdue(Some(t0), t0, t0 + Duration::hours(26) + Duration::minutes(1)));
    }

    #[test]
    fn bad_settings_are_explained() {
        assert!(Schedule::daily("2am", "UTC").unwrap_err().to_string().contains("HH:MM"));
        assert!(Schedule::daily("02:00", "Mars/Olympus").unwrap_err().to_string().contains("IANA"));
    }
}
