//! Runs engine jobs for the commands, the tray and the scheduler: one at a time in this app
//! (the engine's folder lock also keeps the CLI out), progress forwarded to a sink, cancel
//! through a flag, the outcome recorded for the scheduler and announced by notification.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;
use hrsm_backup::{run_backup, BackupOptions, CatalogEntry, Event, Progress};
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};

use crate::commands::CommandError;
use crate::state::AppState;

/// What the page sees of a running job (a tagged enum over a `tauri::ipc::Channel`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "camelCase")]
pub enum JobEvent {
    Started {
        id: Option<String>,
    },
    Phase {
        name: String,
    },
    Progress {
        done: u64,
        total: u64,
    },
    Warning {
        message: String,
    },
    /// What the phase is on now ("hrms.users: 5000 of about 12000 documents").
    Detail {
        text: String,
    },
    Finished {
        ok: bool,
        message: String,
    },
}

/// An instant a second back, so the first detail of a run is sent at once.
fn long_ago() -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_sub(std::time::Duration::from_secs(1)).unwrap_or(now)
}

/// Adapts the engine's progress to a sink, and the sink's cancel flag to the engine.
pub struct Forward<F: Fn(JobEvent) + Send + Sync> {
    sink: F,
    cancel: Arc<AtomicBool>,
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
    last_sent: std::sync::Mutex<std::time::Instant>,
    last_detail: std::sync::Mutex<std::time::Instant>,
}

impl<F: Fn(JobEvent) + Send + Sync> Progress for Forward<F> {
    fn event(&self, e: Event) {
        match e {
            Event::Phase(p) => {
                self.done.store(0, Ordering::Relaxed);
                self.total.store(0, Ordering::Relaxed);
                (self.sink)(JobEvent::Phase { name: p.to_string() });
            }
            Event::Total(n) => self.total.store(n, Ordering::Relaxed),
            Event::Advance(n) => {
                let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
                // At most ten updates a second: the page needs no more.
                if let Ok(mut last) = self.last_sent.lock() {
                    if last.elapsed().as_millis() >= 100 {
                        *last = std::time::Instant::now();
                        (self.sink)(JobEvent::Progress { done, total: self.total.load(Ordering::Relaxed) });
                    }
                }
            }
            Event::Warning(w) => (self.sink)(JobEvent::Warning { message: w }),
            // At most four a second (several collections export at once).
            Event::Detail(text) => {
                if let Ok(mut last) = self.last_detail.lock() {
                    if last.elapsed().as_millis() >= 250 {
                        *last = std::time::Instant::now();
                        (self.sink)(JobEvent::Detail { text });
                    }
                }
            }
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Backup options from the config, exactly as the CLI builds them.
pub fn backup_options(state: &AppState) -> BackupOptions {
    let mut cfg = state.config();
    // The demo's sample data never meets the real site's passwords or environment.
    let demo = state.is_demo();
    let keychain = |entry: hrsm_backup::Keychain| if demo { None } else { entry.get_text().ok().flatten() };
    let stored = keychain(hrsm_backup::Keychain::mongodb_uri());
    let license = keychain(hrsm_backup::Keychain::license_uri());
    // The site's own settings where the admin's settings and the environment are silent.
    if cfg.hrsm_root.is_dir() {
        let env = if demo { Default::default() } else { hrsm_backup::EnvOverrides::from_process() };
        let _ = cfg.apply_env(&env);
        let found = hrsm_backup::discover(&cfg.hrsm_root);
        hrsm_backup::apply_discovery(&mut cfg, &found, &env);
    }
    // The site's own password when its files were read (it follows a change there), else
    // the keychain's (what "Use these settings" or Settings stored).
    let has_password = |u: &str| hrsm_backup::mongo::client::split_uri(u).and_then(|p| p.password).is_some();
    let stored = stored.filter(|_| !has_password(&cfg.mongodb.uri));
    let license = license.filter(|_| !cfg.mongodb.license_uri.as_deref().is_some_and(has_password));
    BackupOptions::from_config_with(&cfg, stored, license)
}

/// The app's "one job at a time" slot; released on drop, so a panicking job cannot leave the
/// app busy for good.
pub(crate) struct Busy<'a>(&'a AppState);

impl<'a> Busy<'a> {
    pub(crate) fn claim(state: &'a AppState, label: &'static str) -> Result<(Self, Arc<AtomicBool>), CommandError> {
        let cancel = Arc::new(AtomicBool::new(false));
        let mut running = state.running.lock().map_err(|_| CommandError::new("other", "state poisoned"))?;
        if running.is_some() {
            return Err(CommandError::new("busy", "A backup or restore is already running; wait for it to finish."));
        }
        *running = Some(cancel.clone());
        if let Ok(mut l) = state.running_label.lock() {
            *l = label;
        }
        Ok((Busy(state), cancel))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.0.running.lock() {
            *r = None;
        }
    }
}

/// Runs one backup now (blocking: call it from a blocking thread).
/// `notify_failure`: the scheduler notifies a failure itself, once per slot.
pub fn backup<R: Runtime>(
    app: &AppHandle<R>,
    sink: impl Fn(JobEvent) + Send + Sync,
    trigger: hrsm_backup::Trigger,
) -> Result<CatalogEntry, CommandError> {
    // The admin's own runs fail loudly at once; the schedule's after its retries.
    let notify_failure = trigger == hrsm_backup::Trigger::Manual;
    let state = app.state::<AppState>();
    if state.needs_setup() {
        return Err(CommandError::new(
            "setup",
            "HR-SM Backup is not set up yet: open it and choose your HR-SM installation, or try it with sample data.",
        ));
    }
    let key = state.key().map_err(|m| CommandError::new("key", m))?;
    let (busy, cancel) = Busy::claim(&state, "Backing up…")?;
    crate::tray::refresh(app);
    sink(JobEvent::Started { id: None });
    let progress = Forward {
        sink,
        cancel,
        done: Default::default(),
        total: Default::default(),
        last_sent: std::sync::Mutex::new(std::time::Instant::now()),
        last_detail: std::sync::Mutex::new(long_ago()),
    };
    let opts = BackupOptions { trigger, ..backup_options(&state) };
    let result = run_backup(&opts, &key, &progress, Box::new(rand::rngs::OsRng));
    // Everything that follows from the run (its record, the off-site copies, the notification)
    // is done before the app's job slot is given back: the app may restart itself as soon as
    // it is free (relaunch). The page hears the end last, with the slot free.
    let outcome = match result {
        Ok(done) => {
            state.update_persisted(|p| {
                p.last_success = Some(Utc::now());
                p.run.last_success = p.last_success;
                p.last_error = None;
                p.overdue_notified = false;
            });
            // Off-site copies follow in the background: the backup is done either way.
            crate::offsite::spawn_copies(app);
            if state.persisted().notify_success {
                crate::notify::send(
                    "Backup done",
                    &format!("{} files and {} documents are safe.", done.entry.files, done.entry.documents),
                    false,
                );
            }
            drop(busy);
            (progress.sink)(JobEvent::Finished {
                ok: true,
                message: format!(
                    "Backup {} {}.",
                    done.entry.id,
                    if done.entry.verified { "written and verified" } else { "written (verification is off)" }
                ),
            });
            Ok(done.entry)
        }
        Err(e) => {
            let err = CommandError::from(e);
            if err.kind != "cancelled" {
                state.update_persisted(|p| {
                    p.last_failure = Some(Utc::now());
                    p.last_error = Some(err.message.clone());
                });
            }
            if notify_failure && err.kind != "cancelled" {
                crate::notify::send(
                    "HR-SM backup FAILED",
                    &format!("{} Open HR-SM Backup to retry.", err.message),
                    true,
                );
            }
            drop(busy);
            (progress.sink)(JobEvent::Finished { ok: false, message: err.message.clone() });
            Err(err)
        }
    };
    crate::tray::refresh(app);
    outcome
}

/// Marks the app busy for a restore or verify and clears it afterwards.
pub fn exclusive<R: Runtime, T>(
    app: &AppHandle<R>,
    label: &'static str,
    f: impl FnOnce(Arc<AtomicBool>) -> Result<T, CommandError>,
) -> Result<T, CommandError> {
    let state = app.state::<AppState>();
    let (busy, cancel) = Busy::claim(&state, label)?;
    crate::tray::refresh(app);
    let r = f(cancel);
    drop(busy);
    crate::tray::refresh(app);
    r
}

pub fn forward<F: Fn(JobEvent) + Send + Sync>(sink: F, cancel: Arc<AtomicBool>) -> Forward<F> {
    Forward {
        sink,
        cancel,
        done: Default::default(),
        total: Default::default(),
        last_sent: std::sync::Mutex::new(std::time::Instant::now()),
        last_detail: std::sync::Mutex::new(long_ago()),
    }
}
