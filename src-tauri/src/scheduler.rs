//! The daily schedule: a thread that wakes at the next slot (or within a minute, to notice a
//! machine that slept, a changed setting or a clock jump), runs the backup when the engine's
//! `due` says so (which catches up a slot missed while the machine was off), retries with
//! back-off, nags about an overdue backup and an unexported key, and test-restores weekly.

use std::time::Duration;

use chrono::Utc;
use hrsm_backup::{decide_schedule, record_attempt, SlotDecision, Status};
use tauri::{AppHandle, Manager, Runtime};

use crate::state::AppState;

/// Set while the scheduler is at work (deciding, running a backup, recording its try,
/// notifying, test-restoring): the app does not restart itself then (`relaunch`).
static TICKING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn ticking() -> bool {
    TICKING.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
pub fn set_ticking(on: bool) {
    TICKING.store(on, std::sync::atomic::Ordering::SeqCst);
}

pub fn spawn<R: Runtime>(app: AppHandle<R>) {
    std::thread::spawn(move || loop {
        TICKING.store(true, std::sync::atomic::Ordering::SeqCst);
        let wait = tick(&app);
        TICKING.store(false, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(wait);
    });
}

/// One look at the clock; returns how long to sleep. What to do is the engine's pure
/// `decide_schedule` over the persisted run state: tries per slot are bounded (3) and survive
/// a restart, and a slot's failure is notified once.
fn tick<R: Runtime>(app: &AppHandle<R>) -> Duration {
    let state = app.state::<AppState>();
    crate::tray::refresh(app);
    let cfg = state.config();
    let now = Utc::now();
    let p = state.persisted();
    // Once a day at most, across restarts (the app restarts itself after its window closed).
    if state.key().is_ok()
        && !p.key_exported
        && p.key_reminded.map(|t| now - t > chrono::Duration::hours(24)).unwrap_or(true)
    {
        crate::notify::send("Export your recovery key", "Without a copy of the key, losing this workstation loses every backup. Open HR-SM Backup → Settings → Encryption key.", false);
        state.update_persisted(|p| p.key_reminded = Some(now));
    }
    let Some(schedule) = state.schedule() else { return Duration::from_secs(60) };
    // Before the first-run setup there is nothing of the admin's to back up.
    if !cfg.schedule.enabled || state.key().is_err() || state.needs_setup() {
        return Duration::from_secs(60);
    }
    let history = state.history();
    let last_success = history.iter().rev().find(|e| e.status == Status::Ok).map(|e| e.started).max(p.run.last_success);
    let mut run = p.run.clone();
    run.last_success = last_success;
    if let SlotDecision::Run { slot, .. } = decide_schedule(&schedule, &run, p.first_start, now) {
        if !state.is_running() {
            let result = crate::jobs::backup(app, |_| {}, hrsm_backup::Trigger::Scheduled);
            let busy = matches!(&result, Err(e) if e.kind == "busy");
            if !busy {
                // Another run holding the folder (the CLI, the Task Scheduler) is not a try.
                let ok = result.is_ok();
                let mut notify = false;
                state.update_persisted(|p| {
                    p.run.last_success = last_success;
                    notify = record_attempt(&mut p.run, slot, Utc::now(), ok);
                });
                if let (true, Err(e)) = (notify, &result) {
                    crate::notify::send(
                        "HR-SM backup FAILED",
                        &format!("{} It will be tried again; open HR-SM Backup for details.", e.message),
                        true,
                    );
                }
                weekly_test_restore(app);
            }
        }
    }
    let p = state.persisted();
    if hrsm_backup::overdue(last_success, p.first_start, Utc::now()) && !p.overdue_notified {
        crate::notify::send(
            "HR-SM backup is OVERDUE",
            "No good backup for more than 26 hours. Open HR-SM Backup and run one now.",
            true,
        );
        state.update_persisted(|p| p.overdue_notified = true);
    }
    let next = schedule.next_after(Utc::now());
    (next - Utc::now()).to_std().unwrap_or_default().clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Once a week, the latest good backup is restored into scratch databases and compared.
fn weekly_test_restore<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    if !state.config().mongodb.enabled {
        return;
    }
    let due = state.persisted().last_restore_test.map(|t| Utc::now() - t > chrono::Duration::days(7)).unwrap_or(true);
    let latest = state.history().into_iter().rev().find(|e| e.status == Status::Ok);
    if let (true, Some(entry), Ok(key)) = (due, latest, state.key()) {
        let dest = state.config().destination;
        let Some(archive) = entry.archive.map(|a| dest.join(a)) else { return };
        let uri = crate::commands::mongo_uri(&state);
        let r = crate::jobs::exclusive(app, "Testing a restore…", |cancel| {
            let progress = crate::jobs::forward(|_| {}, cancel);
            hrsm_backup::test_restore(&archive, &key, &uri, 4, crate::commands::run_log(&state).as_ref(), &progress)
                .map_err(crate::commands::CommandError::from)
        });
        match r {
            Ok(_) => state.update_persisted(|p| p.last_restore_test = Some(Utc::now())),
            // Another job holds the app: still due, tried after the next backup.
            Err(e) if e.kind == "busy" => {}
            Err(e) => crate::notify::send(
                "HR-SM test restore FAILED",
                &format!("The latest backup could not be restored: {}", e.message),
                true,
            ),
        }
    }
}
