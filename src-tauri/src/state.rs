//! The app's state: where its files live, the loaded config, the master key (or why there is
//! none), the small persisted record the scheduler needs (first start, last success, whether
//! the recovery key was exported), and the cancel flag of the running job.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use hrsm_backup::{Catalog, CatalogEntry, Config, EnvOverrides, MasterKey, Schedule, Status};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime};

/// Survives restarts: `<app data>/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Persisted {
    pub first_start: DateTime<Utc>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub key_exported: bool,
    pub notify_success: bool,
    pub overdue_notified: bool,
    pub last_restore_test: Option<DateTime<Utc>>,
    /// The scheduler's tries per slot (bounded, notified once), kept across restarts.
    #[serde(default)]
    pub run: hrsm_backup::RunState,
    /// The admin chose the sample data (and has not left it): the next start is a demo too.
    #[serde(default)]
    pub demo: bool,
    /// When the "export your recovery key" reminder was last shown (once a day at most).
    #[serde(default)]
    pub key_reminded: Option<DateTime<Utc>>,
}

impl Default for Persisted {
    fn default() -> Self {
        Persisted {
            first_start: Utc::now(),
            last_success: None,
            last_failure: None,
            last_error: None,
            key_exported: false,
            notify_success: false,
            overdue_notified: false,
            last_restore_test: None,
            run: Default::default(),
            demo: false,
            key_reminded: None,
        }
    }
}

pub struct AppState {
    /// The admin's own settings file; the demo's is `demo::config_path` and the demo never
    /// touches this one.
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub config: Mutex<Config>,
    pub key: Mutex<Result<MasterKey, String>>,
    pub persisted: Mutex<Persisted>,
    pub running: Mutex<Option<Arc<AtomicBool>>>,
    /// What the running job is, in words for the State card ("Restoring…").
    pub running_label: Mutex<&'static str>,
    pub demo: Mutex<Option<crate::demo::DemoServer>>,
    /// Why the environment could not be applied (a BACKUPS_ENABLED typo), shown while paused.
    pub env_problem: Option<String>,
    /// The saved state was damaged and was reset: said on the page until the next start.
    pub state_problem: Option<String>,
    pub history_cache: Mutex<Option<HistoryCache>>,
    /// What the page was told last (`events`).
    pub sent: crate::events::Sent,
    /// The one restore the last check allowed (token, request); taken by the restore.
    pub armed_restore: Mutex<Option<crate::commands::Armed>>,
    /// Off-site copies run in the background (crate::offsite); one run at a time.
    pub copying: std::sync::atomic::AtomicBool,
    /// Asked for while a copy ran: the run goes round once more.
    pub copy_again: std::sync::atomic::AtomicBool,
    /// The running copy's phase, bytes done and bytes in all (for the dashboard).
    pub copy_progress: Mutex<Option<(String, u64, u64)>>,
}

/// The last catalog listing and the folder state it was read at.
pub struct HistoryCache {
    dest: PathBuf,
    stamp: Option<std::time::SystemTime>,
    entries: Vec<CatalogEntry>,
}

/// What the dashboard and the tray show.
#[derive(Debug, Clone, Serialize)]
pub struct StatusDto {
    /// "setup", "healthy", "running", "failed", "overdue", "paused", "no-backup" or "no-key".
    pub state: String,
    /// The state in words ("Last run failed").
    pub label: String,
    pub last: Option<CatalogEntry>,
    pub last_good: Option<CatalogEntry>,
    pub next_run: Option<DateTime<Utc>>,
    pub schedule: String,
    pub backups_enabled: bool,
    pub key_id: Option<String>,
    pub key_error: Option<String>,
    pub key_exported: bool,
    pub destination: String,
    pub demo: bool,
    pub message: Option<String>,
    /// The schedule's time zone: the page shows every time in it.
    pub timezone: String,
    /// The next run in that zone, in words ("01 Dec 02:00 Africa/Cairo").
    pub next_run_local: Option<String>,
    /// The off-site destinations and how their copies stand.
    pub offsite: Vec<crate::offsite::OffsiteStatus>,
}

/// The state's words, one place for the page, the tray and notifications.
pub fn state_label(state: &str) -> &'static str {
    match state {
        "setup" => "Not set up yet",
        "healthy" => "Healthy",
        "running" => "Backing up…",
        "failed" => "Last run failed",
        "overdue" => "Overdue",
        "paused" => "Paused",
        "no-backup" => "No backup yet",
        "no-key" => "No encryption key",
        "copy-failed" => "Off-site copy failed",
        _ => "Unknown",
    }
}

impl AppState {
    /// Loads (or, on a first run with nothing configured, prepares the demo) and finds the key.
    pub fn start<R: Runtime>(app: &AppHandle<R>) -> Result<Self, Box<dyn std::error::Error>> {
        let data_dir = std::env::var_os("HRSM_DESKTOP_DATA").map(PathBuf::from).unwrap_or(app.path().app_data_dir()?);
        std::fs::create_dir_all(&data_dir)?;
        let config_path = std::env::var_os("HRSM_BACKUP_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("hrsm-backup.toml"));
        // A dump spool left by a run that died with the app (plaintext HR data) goes now.
        hrsm_backup::clean_spool_leftovers();
        let retired = crate::demo::retire_old_demo_config(&config_path, &data_dir);
        let state = Self::with_paths(config_path, data_dir, None)?;
        let asked = std::env::args().any(|a| a == "--demo");
        if asked || retired || state.persisted().demo {
            if let Err(problem) = state.enter_demo() {
                eprintln!("hrsm-backup-desktop: {problem}");
            }
        }
        Ok(state)
    }

    /// Whether the sample data is what the app shows and backs up now.
    pub fn is_demo(&self) -> bool {
        self.demo.lock().map(|d| d.is_some()).unwrap_or(false)
    }

    /// Nothing configured yet (no settings file, no MONGODB_URI) and not in the demo: the page
    /// shows the first-run setup and nothing runs on a schedule.
    pub fn needs_setup(&self) -> bool {
        !self.is_demo()
            && !self.config_path.exists()
            && ["MONGODB_URI", "MONGO_URI"].iter().all(|v| std::env::var_os(v).is_none_or(|x| x.is_empty()))
    }

    /// The settings file the app reads and writes now: the demo's while in the demo.
    pub fn active_config_path(&self) -> PathBuf {
        if self.is_demo() {
            crate::demo::config_path(&self.data_dir)
        } else {
            self.config_path.clone()
        }
    }

    /// Starts the sample data and switches to it (the admin's settings file is not touched).
    pub fn enter_demo(&self) -> Result<(), String> {
        if self.is_demo() {
            return Ok(());
        }
        let (server, cfg) = crate::demo::start(&self.data_dir)?;
        // The environment's MONGODB_URI is the real site's: never applied to the demo.
        if let Ok(mut c) = self.config.lock() {
            *c = cfg;
        }
        if let Ok(mut d) = self.demo.lock() {
            *d = Some(server);
        }
        self.update_persisted(|p| p.demo = true);
        Ok(())
    }

    /// Stops the sample data's server and goes back to the admin's own settings (or to the
    /// first-run setup when there are none).
    pub fn leave_demo(&self) -> Result<(), String> {
        if let Ok(mut d) = self.demo.lock() {
            *d = None;
        }
        self.update_persisted(|p| p.demo = false);
        let cfg = load_effective(&self.config_path).map_err(|e| e.to_string())?;
        if let Ok(mut c) = self.config.lock() {
            *c = cfg;
        }
        Ok(())
    }

    pub fn with_paths(
        config_path: PathBuf,
        data_dir: PathBuf,
        demo: Option<crate::demo::DemoServer>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut config = if config_path.exists() { Config::load(&config_path)? } else { Config::default() };
        let env_problem = apply_env(&mut config);
        let (persisted, state_problem) = load_persisted(&data_dir);
        let state = AppState {
            config_path,
            data_dir,
            config: Mutex::new(config),
            key: Mutex::new(Err("not loaded yet".into())),
            persisted: Mutex::new(persisted),
            running: Mutex::new(None),
            running_label: Mutex::new("Backing up…"),
            demo: Mutex::new(demo),
            env_problem,
            state_problem,
            history_cache: Mutex::new(None),
            sent: Default::default(),
            armed_restore: Mutex::new(None),
            copying: Default::default(),
            copy_again: Default::default(),
            copy_progress: Mutex::new(None),
        };
        state.save_persisted();
        let key = crate::keys::ensure_key(&state);
        if let Ok(mut k) = state.key.lock() {
            *k = key;
        }
        Ok(state)
    }

    /// Saves the settings (the demo's while in the demo) and makes them the ones in use, with
    /// the environment applied again as at start.
    pub fn save_config(&self, cfg: Config) -> hrsm_backup::Result<()> {
        cfg.save(&self.active_config_path())?;
        let mut effective = cfg;
        if !self.is_demo() {
            apply_env(&mut effective);
        }
        if let Ok(mut c) = self.config.lock() {
            *c = effective;
        }
        Ok(())
    }

    pub fn config(&self) -> Config {
        self.config.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn persisted(&self) -> Persisted {
        self.persisted.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Changes the persisted state and writes it while still holding its lock: writers from
    /// several threads (the scheduler, commands, the tray) are serialised, in order.
    pub fn update_persisted(&self, f: impl FnOnce(&mut Persisted)) {
        if let Ok(mut p) = self.persisted.lock() {
            f(&mut p);
            write_persisted(&self.data_dir, &p);
        }
    }

    fn save_persisted(&self) {
        self.update_persisted(|_| {});
    }

    pub fn key(&self) -> Result<MasterKey, String> {
        self.key.lock().map_err(|_| "key state poisoned".to_string()).and_then(|k| k.clone())
    }

    pub fn is_running(&self) -> bool {
        self.running.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    pub fn schedule(&self) -> Option<Schedule> {
        let c = self.config();
        Schedule::daily(&c.schedule.time, &c.schedule.timezone).ok()
    }

    /// The catalog entries (empty if the folder does not exist yet). Cached: the listing is
    /// read again only when the folder changed (its modification time moves with every entry
    /// written, renamed or removed, whoever does it: this app, the CLI, the Task Scheduler).
    pub fn history(&self) -> Vec<CatalogEntry> {
        let dest = self.config().destination;
        let stamp = std::fs::metadata(&dest).and_then(|m| m.modified()).ok();
        if let Ok(cache) = self.history_cache.lock() {
            if let Some(c) = cache.as_ref().filter(|c| c.dest == dest && c.stamp == stamp && stamp.is_some()) {
                return c.entries.clone();
            }
        }
        let entries = Catalog::existing(&dest).and_then(|c| c.list()).map(|l| l.entries).unwrap_or_default();
        if let Ok(mut cache) = self.history_cache.lock() {
            *cache = Some(HistoryCache { dest, stamp, entries: entries.clone() });
        }
        entries
    }

    /// Changes whenever the history does: the page is told to reload it.
    pub fn history_stamp(&self) -> Option<std::time::SystemTime> {
        std::fs::metadata(self.config().destination).and_then(|m| m.modified()).ok()
    }

    pub fn status(&self) -> StatusDto {
        let cfg = self.config();
        let p = self.persisted();
        let history = self.history();
        // A cancelled run is neither a backup nor a failure: the state looks past it.
        let last = history.iter().rev().find(|e| !matches!(e.status, Status::Running | Status::Cancelled)).cloned();
        let last_good = history.iter().rev().find(|e| e.status == Status::Ok).cloned();
        let last_success = last_good.as_ref().map(|e| e.finished).or(p.last_success);
        let now = Utc::now();
        let schedule = self.schedule();
        let key = self.key();
        let state = if self.needs_setup() {
            "setup"
        } else if key.is_err() {
            "no-key"
        } else if self.is_running() {
            "running"
        } else if !cfg.schedule.enabled {
            "paused"
        } else if last.as_ref().map(|e| e.status == Status::Failed).unwrap_or(false) {
            "failed"
        } else if hrsm_backup::overdue(last_success, p.first_start, now) {
            "overdue"
        } else if last_good.is_none() {
            "no-backup"
        } else {
            "healthy"
        };
        let message = match state {
            "setup" => Some("Choose your HR-SM installation to start, or try the app with sample data.".to_string()),
            "paused" => Some(match &self.env_problem {
                Some(problem) => format!("Backups are paused: {problem}."),
                None => "Backups are paused: the daily backup is turned off in Settings (or by this computer's BACKUPS_ENABLED setting).".to_string(),
            }),
            "failed" => last.as_ref().and_then(|e| e.error.clone()),
            "overdue" => Some(format!("No good backup for more than {} hours.", hrsm_backup::OVERDUE_AFTER_HOURS)),
            _ => self.state_problem.clone(),
        };
        // A good local backup whose off-site copy failed is not healthy: the copy is what survives
        // a dead disk.
        let offsite = crate::offsite::statuses(self);
        let broken_copy = offsite.iter().find(|o| o.enabled && matches!(o.state.as_str(), "failed" | "problem"));
        let (state, message) = match broken_copy {
            Some(o) if state == "healthy" => (
                "copy-failed",
                Some(format!("The copy to {} did not succeed: {}", o.name, o.message.clone().unwrap_or_default())),
            ),
            _ => (state, message),
        };
        let next_run =
            schedule.as_ref().filter(|_| cfg.schedule.enabled && state != "setup").map(|s| s.next_after(now));
        StatusDto {
            state: state.into(),
            label: if state == "running" {
                self.running_label.lock().map(|l| *l).unwrap_or("Busy…").into()
            } else {
                state_label(state).into()
            },
            last,
            last_good,
            next_run,
            next_run_local: next_run.zip(schedule.as_ref()).map(|(t, s)| s.local_label(t)),
            timezone: schedule.as_ref().map(|s| s.zone_name().to_string()).unwrap_or_else(|| "UTC".into()),
            schedule: schedule.map(|s| s.label).unwrap_or_else(|| "invalid schedule".into()),
            backups_enabled: cfg.schedule.enabled,
            key_id: key.as_ref().ok().map(|k| k.id().to_string()),
            key_error: key.err(),
            key_exported: p.key_exported,
            destination: cfg.destination.display().to_string(),
            demo: self.is_demo(),
            message,
            offsite,
        }
    }
}

/// Applies the environment (HR-SM's variables) to the admin's settings. A BACKUPS_ENABLED the
/// engine cannot read pauses backups and says why on the page: guessing "on" (or "off") from a
/// typo is what the engine refuses to do.
pub fn apply_env(config: &mut Config) -> Option<String> {
    config.apply_env(&EnvOverrides::from_process()).err().map(|e| {
        config.schedule.enabled = false;
        e.to_string()
    })
}

/// The admin's settings file (or the defaults) with the environment applied.
fn load_effective(path: &std::path::Path) -> hrsm_backup::Result<Config> {
    let mut config = if path.exists() { Config::load(path)? } else { Config::default() };
    apply_env(&mut config);
    Ok(config)
}

const STATE_FILE: &str = "state.json";

fn write_persisted(data_dir: &std::path::Path, p: &Persisted) {
    if let Ok(bytes) = serde_json::to_vec_pretty(p) {
        if let Err(e) = hrsm_backup::write_atomic(&data_dir.join(STATE_FILE), &bytes) {
            eprintln!("hrsm-backup-desktop: cannot save the app state: {e}");
        }
    }
}

/// Reads `state.json`. A missing file is a first start. A damaged one is never silently taken
/// for a first start (that would, for one, forget that the key was exported without saying
/// so): it is kept aside as `state.json.damaged-<time>`, the state starts over on the safe
/// side (key not exported, so the page asks for an export again), and the admin is told.
pub fn load_persisted(data_dir: &std::path::Path) -> (Persisted, Option<String>) {
    let path = data_dir.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Persisted::default(), None),
        Err(e) => {
            let msg = format!("The app's saved state could not be read ({e}); it starts over for this session.");
            return (Persisted::default(), Some(msg));
        }
    };
    match serde_json::from_slice::<Persisted>(&bytes) {
        Ok(p) => (p, None),
        Err(_) => {
            let aside = data_dir.join(format!("{STATE_FILE}.damaged-{}", Utc::now().format("%Y%m%dT%H%M%SZ")));
            let _ = std::fs::rename(&path, &aside);
            let msg = format!(
                "The app's saved state was damaged and has been reset (the damaged copy is kept as {}). Your backups are not affected; please export the recovery key again to be safe.",
                aside.display()
            );
            eprintln!("hrsm-backup-desktop: {msg}");
            crate::notify::send("HR-SM Backup: saved state was damaged", &msg, true);
            (Persisted::default(), Some(msg))
        }
    }
}
