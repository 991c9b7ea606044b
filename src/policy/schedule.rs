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

    /// `t` as a person in the schedule's zone reads it: "30 Nov 04:00 Africa/Cairo".
    pub fn local_label(&self, t: DateTime<Utc>) -> String {
        format!("{} {}", t.with_timezone(&self.tz).format("%d %b %H:%M"), self.tz.name())
    }

    /// The zone's name ("Africa/Cairo").
    pub fn zone_name(&self) -> &'static str {
        self.tz.name()
    }

    /// Every IANA zone name a schedule accepts, for a list to choose from.
    pub fn zone_names() -> Vec<&'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect()
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
/// passed before it was installed). A slot that a daylight-saving fall-back repeats on the
/// same local day is one slot: a success after its first occurrence covers the second.
pub fn due(s: &Schedule, last_success: Option<DateTime<Utc>>, first_start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let slot = s.latest_at_or_before(now);
    match last_success {
        Some(last) if last >= slot => false,
        Some(last) => {
            let covered = s.latest_at_or_before(last);
            covered.with_timezone(&s.tz).date_naive() != slot.with_timezone(&s.tz).date_naive()
        }
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

/// Tries per slot: the first run and two retries (after 5 and 15 minutes).
pub const MAX_TRIES_PER_SLOT: u32 = 3;

/// What the scheduler remembers between its looks at the clock, persisted so that a restart
/// neither forgets a used-up slot (and starts three more tries) nor notifies twice.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunState {
    pub last_success: Option<DateTime<Utc>>,
    /// The slot that `attempts` counts tries for.
    #[serde(default)]
    pub slot: Option<DateTime<Utc>>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_attempt: Option<DateTime<Utc>>,
    /// The slot whose failure was notified: once per slot.
    #[serde(default)]
    pub notified_slot: Option<DateTime<Utc>>,
}

/// What the scheduler should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDecision {
    /// Start try `attempt` (1-based) for `slot`.
    Run { slot: DateTime<Utc>, attempt: u32 },
    /// Nothing to do before `until` (the next slot, or the next retry).
    Wait { until: DateTime<Utc> },
    /// `slot`'s tries are used up; the next slot tries again.
    GaveUp { slot: DateTime<Utc>, next: DateTime<Utc> },
}

/// The scheduler's decision, a pure function of its state and the clock.
pub fn decide(s: &Schedule, st: &RunState, first_start: DateTime<Utc>, now: DateTime<Utc>) -> SlotDecision {
    if !due(s, st.last_success, first_start, now) {
        return SlotDecision::Wait { until: s.next_after(now) };
    }
    let slot = s.latest_at_or_before(now);
    if st.slot != Some(slot) {
        return SlotDecision::Run { slot, attempt: 1 };
    }
    if st.attempts >= MAX_TRIES_PER_SLOT {
        return SlotDecision::GaveUp { slot, next: s.next_after(now) };
    }
    if let (Some(last), Some(delay)) = (st.last_attempt, retry_delay(st.attempts, MAX_TRIES_PER_SLOT)) {
        // A clock moved back to before the last try does not stall the retry; the tries stay
        // bounded either way.
        if now >= last && now < last + delay {
            return SlotDecision::Wait { until: last + delay };
        }
    }
    SlotDecision::Run { slot, attempt: st.attempts + 1 }
}

/// Records how a try for `slot` ended; true when its failure is to be notified (the first
/// failure of a slot, never a second time for the same slot).
pub fn record_attempt(st: &mut RunState, slot: DateTime<Utc>, now: DateTime<Utc>, ok: bool) -> bool {
    if st.slot != Some(slot) {
        st.slot = Some(slot);
        st.attempts = 0;
    }
    st.attempts += 1;
    st.last_attempt = Some(now);
    if ok {
        st.last_success = Some(now);
        return false;
    }
    if st.notified_slot == Some(slot) {
        return false;
    }
    st.notified_slot = Some(slot);
    true
}

/// One run of the backup folder's history, as the system's scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastRun {
    pub started: DateTime<Utc>,
    pub ok: bool,
    /// Started by a schedule (this app's, the Task Scheduler's, cron's), not by hand.
    pub scheduled: bool,
}

/// What a run started by the system's scheduler (the Task Scheduler or cron, every hour,
/// `backup --if-due`) should do, from the backup folder's history alone: the same decision as
/// the app's scheduler (`decide`), with the tries of a slot counted from the folder's failed
/// scheduled runs since that slot. So both can run side by side: a slot one of them backed up
/// is not backed up again by the other, and a failing slot is tried at most
/// `MAX_TRIES_PER_SLOT` times between them.
pub fn decide_from_history(s: &Schedule, history: &[PastRun], now: DateTime<Utc>) -> SlotDecision {
    // A run dated in the future (a clock that was ahead once) would hold the schedule off
    // until that date: not counted.
    let history: Vec<PastRun> = history.iter().filter(|r| r.started <= now + Duration::minutes(10)).copied().collect();
    let slot = s.latest_at_or_before(now);
    let failed: Vec<&PastRun> = history.iter().filter(|r| !r.ok && r.scheduled && r.started >= slot).collect();
    let st = RunState {
        last_success: history.iter().filter(|r| r.ok).map(|r| r.started).max(),
        slot: (!failed.is_empty()).then_some(slot),
        attempts: failed.len() as u32,
        last_attempt: failed.iter().map(|r| r.started).max(),
        notified_slot: None,
    };
    // A folder without any good backup is due at once, whenever its schedule began.
    decide(s, &st, DateTime::<Utc>::MIN_UTC, now)
}

/// No good backup for more than 26 hours.
pub fn overdue(last_success: Option<DateTime<Utc>>, first_start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_success.unwrap_or(first_start) > Duration::hours(OVERDUE_AFTER_HOURS)
}

#[cfg(test)]
mod history_tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_systems_scheduler_decides_from_the_folders_history() {
        let s = Schedule::daily("02:00", "Africa/Cairo").unwrap();
        // 02:00 in Cairo (UTC+2 in winter) is 00:00 UTC.
        let now = at("2026-12-01T09:30:00Z");
        let run = |t: &str, ok: bool, scheduled: bool| PastRun { started: at(t), ok, scheduled };
        // Never backed up: due now.
        assert!(matches!(decide_from_history(&s, &[], now), SlotDecision::Run { attempt: 1, .. }));
        // Today's slot done (by the app or by hand): wait for tomorrow's.
        let done = [run("2026-12-01T00:01:00Z", true, true)];
        assert_eq!(decide_from_history(&s, &done, now), SlotDecision::Wait { until: at("2026-12-02T00:00:00Z") });
        // Yesterday's only: today's slot is due (missed while the machine was off).
        let old = [run("2026-11-30T00:01:00Z", true, true)];
        assert!(matches!(decide_from_history(&s, &old, now), SlotDecision::Run { attempt: 1, .. }));
        // Two failed tries of today's slot: a third after the back-off, then no more.
        let two = [old[0], run("2026-12-01T00:00:30Z", false, true), run("2026-12-01T09:25:00Z", false, true)];
        assert!(matches!(decide_from_history(&s, &two, now), SlotDecision::Wait { .. }), "within the back-off");
        let later = at("2026-12-01T10:30:00Z");
        assert!(matches!(decide_from_history(&s, &two, later), SlotDecision::Run { attempt: 3, .. }));
        let three = [two[0], two[1], two[2], run("2026-12-01T10:30:00Z", false, true)];
        assert!(matches!(decide_from_history(&s, &three, later), SlotDecision::GaveUp { .. }));
        // A good run dated next year (a clock that was ahead) does not hold the schedule off.
        let ahead = [old[0], run("2027-06-01T00:00:00Z", true, true)];
        assert!(matches!(decide_from_history(&s, &ahead, now), SlotDecision::Run { attempt: 1, .. }));
        // A failed run by hand is not a try of the slot.
        let by_hand = [old[0], run("2026-12-01T08:00:00Z", false, false)];
        assert!(matches!(decide_from_history(&s, &by_hand, now), SlotDecision::Run { attempt: 1, .. }));
    }
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

    /// Drives `decide` with a fake clock, one look a minute, the way the desktop's scheduler
    /// does; `outcome(try number overall, now)` says whether a try succeeds. Returns the
    /// times of every try and how many failures were notified.
    fn simulate(
        s: &Schedule,
        st: &mut RunState,
        from: DateTime<Utc>,
        minutes: i64,
        mut outcome: impl FnMut(usize, DateTime<Utc>) -> bool,
    ) -> (Vec<DateTime<Utc>>, usize) {
        let first_start = from - Duration::days(30);
        let (mut runs, mut notified) = (Vec::new(), 0);
        for m in 0..minutes {
            let now = from + Duration::minutes(m);
            if let SlotDecision::Run { slot, .. } = decide(s, st, first_start, now) {
                let ok = outcome(runs.len(), now);
                runs.push(now);
                if record_attempt(st, slot, now, ok) {
                    notified += 1;
                }
            }
        }
        (runs, notified)
    }

    #[test]
    fn three_failures_then_quiet_until_the_next_slot() {
        // Regression: after three failed tries the next look started three more, all night.
        let s = Schedule::daily("02:00", "UTC").unwrap();
        let mut st = RunState { last_success: Some(utc(2026, 11, 26, 2, 1)), ..Default::default() };
        let (runs, notified) = simulate(&s, &mut st, utc(2026, 11, 27, 1, 0), 23 * 60, |_, _| false);
        assert_eq!(runs, vec![utc(2026, 11, 27, 2, 0), utc(2026, 11, 27, 2, 5), utc(2026, 11, 27, 2, 20)]);
        assert_eq!(notified, 1, "one notification per slot");
        // The next day's slot tries again, and notifies again (a new slot).
        let (runs, notified) = simulate(&s, &mut st, utc(2026, 11, 28, 0, 0), 24 * 60, |_, _| false);
        assert_eq!(runs.len(), 3);
        assert_eq!(notified, 1);
    }

    #[test]
    fn the_slot_state_survives_a_restart() {
        let s = Schedule::daily("02:00", "UTC").unwrap();
        let mut st = RunState { last_success: Some(utc(2026, 11, 26, 2, 1)), ..Default::default() };
        simulate(&s, &mut st, utc(2026, 11, 27, 1, 0), 120, |_, _| false);
        assert_eq!(st.attempts, 3);
        // The app restarts at 04:00: the persisted state comes back and nothing more runs.
        let reloaded: RunState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        let mut st = reloaded;
        let (runs, notified) = simulate(&s, &mut st, utc(2026, 11, 27, 4, 0), 600, |_, _| false);
        assert!(runs.is_empty() && notified == 0, "{runs:?}");
    }

    #[test]
    fn success_on_a_retry_ends_the_slot() {
        let s = Schedule::daily("02:00", "UTC").unwrap();
        let mut st = RunState { last_success: Some(utc(2026, 11, 26, 2, 1)), ..Default::default() };
        let (runs, notified) = simulate(&s, &mut st, utc(2026, 11, 27, 1, 0), 23 * 60, |n, _| n == 1);
        assert_eq!(runs, vec![utc(2026, 11, 27, 2, 0), utc(2026, 11, 27, 2, 5)]);
        assert_eq!(notified, 1);
        assert_eq!(st.last_success, Some(utc(2026, 11, 27, 2, 5)));
    }

    #[test]
    fn a_missed_slot_and_a_sleep_are_caught_up_once() {
        let s = Schedule::daily("02:00", "UTC").unwrap();
        // Off from the day before until 09:00: one run when it comes back.
        let mut st = RunState { last_success: Some(utc(2026, 11, 25, 2, 1)), ..Default::default() };
        let (runs, _) = simulate(&s, &mut st, utc(2026, 11, 27, 9, 0), 600, |_, _| true);
        assert_eq!(runs, vec![utc(2026, 11, 27, 9, 0)]);
        // Asleep across the slot (no looks from 01:00 to 06:00): caught up on waking.
        let mut st = RunState { last_success: Some(utc(2026, 11, 26, 2, 1)), ..Default::default() };
        simulate(&s, &mut st, utc(2026, 11, 27, 0, 0), 60, |_, _| true);
        let (runs, _) = simulate(&s, &mut st, utc(2026, 11, 27, 6, 0), 600, |_, _| true);
        assert_eq!(runs, vec![utc(2026, 11, 27, 6, 0)]);
    }

    #[test]
    fn a_clock_moved_backwards_neither_repeats_nor_storms() {
        let s = Schedule::daily("02:00", "UTC").unwrap();
        let mut st = RunState { last_success: Some(utc(2026, 11, 26, 2, 1)), ..Default::default() };
        simulate(&s, &mut st, utc(2026, 11, 27, 1, 0), 120, |_, _| true);
        assert_eq!(st.last_success, Some(utc(2026, 11, 27, 2, 0)));
        // The clock jumps back to 01:30, then runs on: no second run for the same day.
        let (runs, _) = simulate(&s, &mut st, utc(2026, 11, 27, 1, 30), 300, |_, _| true);
        assert!(runs.is_empty(), "{runs:?}");
        // A failing slot whose clock jumps back an hour between tries still tries at most 3 times.
        let mut st = RunState { last_success: Some(utc(2026, 11, 26, 2, 1)), ..Default::default() };
        let (a, _) = simulate(&s, &mut st, utc(2026, 11, 27, 2, 0), 30, |_, _| false);
        let (b, notified) = simulate(&s, &mut st, utc(2026, 11, 27, 2, 10), 600, |_, _| false);
        assert_eq!(a.len() + b.len(), 3, "{a:?} {b:?}");
        assert_eq!(notified, 0);
    }

    #[test]
    fn a_time_zone_change_runs_the_new_slot_at_most_once() {
        // Backed up at 02:00 UTC; at 10:00 UTC the admin moves the slot to 02:00 Cairo
        // (00:00 UTC, already covered today): nothing more today.
        let utc_slot = Schedule::daily("02:00", "UTC").unwrap();
        let mut st = RunState { last_success: Some(utc(2026, 11, 26, 2, 1)), ..Default::default() };
        simulate(&utc_slot, &mut st, utc(2026, 11, 27, 1, 0), 120, |_, _| true);
        let cairo = Schedule::daily("02:00", "Africa/Cairo").unwrap();
        let (runs, _) = simulate(&cairo, &mut st.clone(), utc(2026, 11, 27, 10, 0), 600, |_, _| true);
        assert!(runs.is_empty(), "{runs:?}");
        // Moved to 02:00 New York (07:00 UTC, after today's run): that slot runs once.
        let ny = Schedule::daily("02:00", "America/New_York").unwrap();
        let (runs, _) = simulate(&ny, &mut st, utc(2026, 11, 27, 10, 0), 600, |_, _| true);
        assert_eq!(runs, vec![utc(2026, 11, 27, 10, 0)]);
    }

    #[test]
    fn daylight_saving_days_run_once() {
        // Berlin: 2026-03-29 springs forward (02:30 does not exist), 2026-10-25 falls back
        // (02:30 happens twice). Three days around each, one look a minute: one run a day.
        let s = Schedule::daily("02:30", "Europe/Berlin").unwrap();
        for start in [utc(2026, 3, 27, 12, 0), utc(2026, 10, 23, 12, 0)] {
            let mut st = RunState { last_success: Some(start - Duration::hours(1)), ..Default::default() };
            let (runs, _) = simulate(&s, &mut st, start, 3 * 24 * 60, |_, _| true);
            let days: Vec<_> = runs.iter().map(|t| t.with_timezone(&chrono_tz::Europe::Berlin).date_naive()).collect();
            let mut unique = days.clone();
            unique.dedup();
            assert_eq!(days, unique, "one run per local day: {runs:?}");
            assert_eq!(runs.len(), 3, "{runs:?}");
        }
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
