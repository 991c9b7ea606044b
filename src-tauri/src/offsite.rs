//! Off-site copies in the desktop app: copies started after each good backup (and at start, to
//! retry what failed), in the background so that neither the next backup nor a restore waits
//! for a slow upload; loud notifications when one fails; the destinations' settings (with
//! their keys in the keychain, never in the settings file); and bringing a backup back from a
//! destination onto a new workstation. All copying, checking and fetching is the engine's.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use hrsm_backup::{
    copy_all, fetch_from_offsite, load_copy_state, remote_entries, CatalogEntry, CopyStatus, Credentials,
    OffsiteConfig, OffsiteKind, Remote,
};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};

use crate::commands::{blocking, CmdResult, CommandError};
use crate::jobs::JobEvent;
use crate::state::AppState;

/// One destination as the page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OffsiteStatus {
    pub name: String,
    /// "Amazon S3 or compatible, bucket hrsm-backups" / "Folder E:\HRSM".
    pub place: String,
    pub enabled: bool,
    /// ok | copying | failed | waiting | problem | never
    pub state: String,
    /// In words, for the admin; None when all is well.
    pub message: Option<String>,
    pub copies: usize,
    /// The backup ids copied and checked there (the history marks them).
    pub copied_ids: Vec<String>,
    pub last_run: Option<DateTime<Utc>>,
    /// The last run in the schedule's time zone, in words.
    pub last_run_local: Option<String>,
    /// s3 | azure | folder: the page says what protects copies there from deletion (a
    /// retention lock set on the bucket at the provider; nothing, for a folder).
    pub kind: OffsiteKind,
    /// Made from HR-SM's own settings on this computer, not from this app's: not editable here.
    pub from_env: bool,
    /// Backups not copied there yet.
    pub pending: usize,
}

fn place(d: &OffsiteConfig) -> String {
    match d.kind {
        OffsiteKind::S3 => format!("S3 storage, bucket {}", d.bucket.as_deref().unwrap_or("?")),
        OffsiteKind::Azure => format!(
            "Azure storage account {}, container {}",
            d.account.as_deref().unwrap_or("?"),
            d.bucket.as_deref().unwrap_or("?")
        ),
        OffsiteKind::Folder => {
            format!("Folder {}", d.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default())
        }
    }
}

/// The destinations' state for the dashboard and the settings.
pub fn statuses(state: &AppState) -> Vec<OffsiteStatus> {
    let cfg = state.config();
    let copying = state.copying.load(Ordering::Relaxed);
    let zone = state.schedule();
    let history = state.history();
    cfg.offsite
        .iter()
        .map(|d| {
            let st = load_copy_state(&cfg.destination, d).unwrap_or_default();
            let copied_ids: Vec<String> =
                st.copies.iter().filter(|(_, c)| c.status == CopyStatus::Copied).map(|(id, _)| id.clone()).collect();
            let problems = st.problems();
            let pending = hrsm_backup::pending_copies(&history, d, &st);
            // The oldest backup still waiting for its copy: past the overdue hours it is a failure.
            let waited_hours = history
                .iter()
                .filter(|e| e.status == hrsm_backup::Status::Ok && e.verified && !st.is_copied(&e.id))
                .map(|e| (Utc::now() - e.finished).num_hours())
                .max()
                .unwrap_or(0);
            // A folder that is there but is not the disk the copies went to (no marker) is said
            // as such, with what to click; otherwise the folder is simply not there.
            let not_the_disk = st.waiting_reason.as_deref().is_some_and(|r| r.contains("marker"));
            let why_waiting = if not_the_disk {
                "the folder is there, but it is not the disk the copies went to: plug in that disk, or, if this is a new disk, remove this off-site copy and add it again"
            } else {
                "the folder is not there (is the disk plugged in?)"
            };
            let (s, message) = if copying && d.enabled {
                let shown = state.copy_progress.lock().ok().and_then(|p| p.clone()).map(|(what, done, total)| {
                    let what = if what == "checking the copy" { "checking" } else { "copying" };
                    match (done.min(total) * 100).checked_div(total) {
                        Some(percent) => format!("{what}: {percent} %"),
                        None => format!("{what}…"),
                    }
                });
                ("copying", shown)
            } else if !problems.is_empty() {
                (
                    "problem",
                    Some(format!(
                        "{} cop{} went missing or changed there; they are copied again at the next run.",
                        problems.len(),
                        if problems.len() == 1 { "y" } else { "ies" }
                    )),
                )
            } else if let Some(e) = &st.last_error {
                ("failed", Some(e.clone()))
            } else if pending > 0 && d.enabled && waited_hours >= hrsm_backup::OVERDUE_AFTER_HOURS {
                (
                    "failed",
                    Some(format!(
                        "{pending} backup{} not copied for more than {} hours{}.",
                        if pending == 1 { " has been" } else { "s have been" },
                        hrsm_backup::OVERDUE_AFTER_HOURS,
                        if st.waiting { format!(" ({why_waiting})") } else { String::new() }
                    )),
                )
            } else if st.waiting {
                (
                    "waiting",
                    Some(format!("Waiting: {why_waiting}; the copy is made when it is there.")),
                )
            } else if st.last_run.is_none() {
                ("never", None)
            } else if pending > 0 && d.enabled {
                ("pending", Some(format!("{pending} backup{} still to copy.", if pending == 1 { "" } else { "s" })))
            } else {
                ("ok", None)
            };
            OffsiteStatus {
                name: d.name.clone(),
                place: place(d),
                enabled: d.enabled,
                state: s.into(),
                message: message.map(|m| crate::commands::plain_words(&m)),
                copies: copied_ids.len(),
                copied_ids,
                last_run: st.last_run,
                last_run_local: st.last_run.zip(zone.as_ref()).map(|(t, z)| z.local_label(t)),
                kind: d.kind,
                from_env: d.from_env,
                pending,
            }
        })
        .collect()
}

/// Starts the copies in the background unless they run already. Nothing in the demo's sample
/// data leaves the machine unless the admin added a destination there himself.
pub fn spawn_copies<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    let cfg = state.config();
    if cfg.offsite_destinations().is_empty() || !cfg.destination.is_dir() {
        return;
    }
    if state.copying.swap(true, Ordering::SeqCst) {
        // A run is on: it goes round once more when done (this backup was not in its list).
        state.copy_again.store(true, Ordering::SeqCst);
        return;
    }
    crate::tray::refresh(app);
    let app = app.clone();
    std::thread::spawn(move || {
        let state = app.state::<AppState>();
        let progress = CopyProgress {
            app: app.clone(),
            done: Default::default(),
            total: Default::default(),
            last: std::sync::Mutex::new(std::time::Instant::now()),
        };
        // HR-SM's BackupLog learns of each copy (cloudStorage), when its MongoDB is ours.
        // The server and collection the backups themselves log to (the site's own settings,
        // the keychain's password), so both records land in the same place.
        let log = |_: &hrsm_backup::Config| {
            crate::jobs::backup_options(&state).mongo.and_then(|m| {
                m.log_collection.clone().map(|namespace| hrsm_backup::MongoLog { uri: m.uri.clone(), namespace })
            })
        };
        let mut result = copy_all(&cfg, log(&cfg).as_ref(), &progress);
        while state.copy_again.swap(false, Ordering::SeqCst) {
            let cfg = state.config();
            result = copy_all(&cfg, log(&cfg).as_ref(), &progress);
        }
        if let Ok(mut p) = state.copy_progress.lock() {
            *p = None;
        }
        // `copying` stays set until the failures are notified: the app does not restart
        // itself (relaunch) before.
        match result {
            Ok(reports) => {
                for r in reports.iter().filter(|r| r.error.is_some() || !r.problems.is_empty()) {
                    let what = r.error.clone().unwrap_or_else(|| r.problems.join("; "));
                    crate::notify::send(
                        "HR-SM off-site copy FAILED",
                        &format!(
                            "The copy to {} did not succeed: {}. Your backups on this computer are fine; open HR-SM Backup to see more.",
                            r.destination,
                            crate::commands::plain_words(&what)
                        ),
                        true,
                    );
                }
            }
            Err(e) => crate::notify::send(
                "HR-SM off-site copy FAILED",
                &format!("{}. Open HR-SM Backup to see more.", crate::commands::plain_words(&e.to_string())),
                true,
            ),
        }
        state.copying.store(false, Ordering::SeqCst);
        // A backup that ended while the failures were notified asked for another round.
        if state.copy_again.swap(false, Ordering::SeqCst) {
            spawn_copies(&app);
        }
        crate::tray::refresh(&app);
    });
}

/// The copy's progress for the dashboard ("copying… 40 %"): kept in the state, announced at
/// most once a second.
struct CopyProgress<R: Runtime> {
    app: AppHandle<R>,
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
    last: std::sync::Mutex<std::time::Instant>,
}

impl<R: Runtime> hrsm_backup::Progress for CopyProgress<R> {
    fn event(&self, e: hrsm_backup::Event) {
        use hrsm_backup::Event;
        let phase = match e {
            Event::Phase(p) => {
                self.done.store(0, Ordering::Relaxed);
                self.total.store(0, Ordering::Relaxed);
                Some(p)
            }
            Event::Total(n) => {
                self.total.store(n, Ordering::Relaxed);
                None
            }
            Event::Advance(n) => {
                self.done.fetch_add(n, Ordering::Relaxed);
                None
            }
            Event::Warning(_) | Event::Detail(_) => None,
        };
        let state = self.app.state::<AppState>();
        let (done, total) = (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed));
        if let Ok(mut p) = state.copy_progress.lock() {
            let what = phase.map(str::to_string).or_else(|| p.as_ref().map(|x| x.0.clone())).unwrap_or_default();
            *p = Some((what, done, total));
        }
        let due = self.last.lock().map(|mut l| {
            let due = l.elapsed().as_millis() >= 1000;
            if due {
                *l = std::time::Instant::now();
            }
            due
        });
        if due.unwrap_or(false) {
            crate::tray::refresh(&self.app);
        }
    }
}

/// A destination as the settings form sends it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OffsiteForm {
    /// The name it had before this edit (None for a new one).
    #[serde(default)]
    pub original_name: Option<String>,
    pub name: String,
    pub kind: OffsiteKind,
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub path: String,
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Megabits per second; absent or 0: no limit.
    #[serde(default)]
    pub upload_limit_mbps: Option<u32>,
}

fn default_keep_days() -> u32 {
    90
}
fn yes() -> bool {
    true
}

/// A destination as the form shows it.
pub fn form_of(d: &OffsiteConfig) -> OffsiteForm {
    OffsiteForm {
        original_name: Some(d.name.clone()),
        name: d.name.clone(),
        kind: d.kind,
        bucket: d.bucket.clone().unwrap_or_default(),
        prefix: d.prefix.clone(),
        endpoint: d.endpoint.clone().unwrap_or_default(),
        region: d.region.clone().unwrap_or_default(),
        account: d.account.clone().unwrap_or_default(),
        path: d.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        keep_days: d.retention.keep_days,
        enabled: d.enabled,
        upload_limit_mbps: d.upload_limit_mbps,
    }
}

/// The key typed into the form (kept only in memory and the keychain).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsiteSecret {
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key: String,
    #[serde(default)]
    pub account_key: String,
}

impl OffsiteSecret {
    fn is_empty(&self) -> bool {
        self.access_key_id.trim().is_empty()
            && self.secret_access_key.trim().is_empty()
            && self.account_key.trim().is_empty()
    }
}

/// The form as the engine's settings, each problem named by its field.
fn to_config(form: &OffsiteForm, base: Option<&OffsiteConfig>) -> CmdResult<OffsiteConfig> {
    let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let mut d = base.cloned().unwrap_or_else(|| {
        // A new destination takes the engine's defaults (retention, check).
        serde_json::from_value(serde_json::json!({"name": form.name, "kind": form.kind}))
            .unwrap_or_else(|_| unreachable!("a name and a kind make a destination"))
    });
    d.name = form.name.trim().to_string();
    d.kind = form.kind;
    d.enabled = form.enabled;
    d.bucket = opt(&form.bucket);
    d.prefix = form.prefix.trim().to_string();
    d.endpoint = opt(&form.endpoint);
    d.region = opt(&form.region);
    d.account = opt(&form.account);
    d.path = opt(&form.path).map(std::path::PathBuf::from);
    d.retention.keep_days = form.keep_days;
    d.upload_limit_mbps = form.upload_limit_mbps.filter(|&m| m > 0);
    if form.kind != OffsiteKind::Folder {
        d.path = None;
    }
    if d.name.is_empty() || !d.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(CommandError::field("offsiteName", "Use a short name of letters, digits, '.', '_' or '-'."));
    }
    if form.kind != OffsiteKind::Folder && d.bucket.is_none() {
        let what = if form.kind == OffsiteKind::Azure { "container" } else { "bucket" };
        return Err(CommandError::field("offsiteBucket", format!("Enter the {what} name.")));
    }
    if form.kind == OffsiteKind::Azure && d.account.is_none() {
        return Err(CommandError::field("offsiteAccount", "Enter the storage account name."));
    }
    if form.kind == OffsiteKind::Folder && d.path.is_none() {
        return Err(CommandError::field("offsitePath", "Choose the folder the copies go to."));
    }
    if let Some(e) = &d.endpoint {
        if !(e.starts_with("https://") || e.starts_with("http://")) {
            return Err(CommandError::field(
                "offsiteEndpoint",
                "Write the address as https://host (as your provider gives it).",
            ));
        }
    }
    if form.keep_days == 0 {
        return Err(CommandError::field("offsiteKeepDays", "Keep copies at least 1 day."));
    }
    d.validate().map_err(|e| CommandError::field("offsiteName", crate::commands::plain_words(&e.to_string())))?;
    Ok(d)
}

/// The credentials to use: the ones typed now, else the stored ones (or the environment's).
fn credentials(state: &AppState, d: &OffsiteConfig, typed: &OffsiteSecret) -> CmdResult<Credentials> {
    if d.kind == OffsiteKind::Folder {
        return Ok(Credentials::None);
    }
    if !typed.is_empty() {
        return match d.kind {
            OffsiteKind::S3 => {
                if typed.access_key_id.trim().is_empty() {
                    return Err(CommandError::field("offsiteKeyId", "Enter the access key id."));
                }
                Credentials::s3(&typed.access_key_id, &typed.secret_access_key).map_err(|_| {
                    CommandError::field("offsiteSecret", "Enter the secret access key (one word, no spaces).")
                })
            }
            _ => Credentials::azure(&typed.account_key).map_err(|_| {
                CommandError::field("offsiteAccountKey", "Paste the account key as the Azure portal shows it.")
            }),
        };
    }
    let stored = if state.is_demo() {
        None
    } else {
        hrsm_backup::Keychain::offsite(&d.name).get_text().map_err(CommandError::from)?
    };
    Credentials::resolve(d, stored.as_deref(), |k| std::env::var(k).ok()).map_err(|_| {
        let field = if d.kind == OffsiteKind::S3 { "offsiteKeyId" } else { "offsiteAccountKey" };
        CommandError::field(field, "Enter the key this storage gave you.")
    })
}

/// Tries a destination (as typed, before saving): writes, reads and removes a test file.
#[tauri::command]
pub async fn offsite_test<R: Runtime>(
    app: AppHandle<R>,
    form: OffsiteForm,
    secret: Option<OffsiteSecret>,
) -> CmdResult<String> {
    blocking(move || {
        let state = app.state::<AppState>();
        let d = to_config(&form, None)?;
        let creds = credentials(&state, &d, &secret.unwrap_or_default())?;
        let remote = Remote::open(&d, &creds).map_err(CommandError::from)?;
        remote.probe().map_err(CommandError::from)?;
        Ok(format!("Connected: a test file was written, read back and removed at {}.", place(&d)))
    })
    .await
}

/// Adds or changes a destination; its key goes to the keychain.
#[tauri::command]
pub async fn offsite_save<R: Runtime>(
    app: AppHandle<R>,
    form: OffsiteForm,
    secret: Option<OffsiteSecret>,
) -> CmdResult<Vec<OffsiteStatus>> {
    blocking(move || {
        let state = app.state::<AppState>();
        let secret = secret.unwrap_or_default();
        if state.is_demo() && (form.kind != OffsiteKind::Folder || !secret.is_empty()) {
            return Err(CommandError::field(
                "offsiteKind",
                "With the sample data, copies can go to a folder only; leave the sample data to set up cloud storage.",
            ));
        }
        let mut cfg = state.config();
        let original = form.original_name.clone();
        let existing = original.as_deref().and_then(|n| cfg.offsite.iter().position(|d| d.name == n));
        if existing.is_some_and(|i| cfg.offsite[i].from_env) {
            return Err(CommandError::field(
                "offsiteName",
                "This off-site copy comes from HR-SM's own settings on this computer; change it there.",
            ));
        }
        let d = to_config(&form, existing.map(|i| &cfg.offsite[i]))?;
        if cfg.offsite.iter().enumerate().any(|(i, o)| o.name == d.name && Some(i) != existing) {
            return Err(CommandError::field("offsiteName", "Another off-site copy has this name; choose another."));
        }
        // A renamed destination keeps its key (stored under the old name) when none is typed.
        let renamed_from = original.clone().filter(|o| o != &d.name);
        if let (Some(old), false, true) = (&renamed_from, state.is_demo(), secret.is_empty()) {
            if let Some(text) = hrsm_backup::Keychain::offsite(old).get_text().map_err(CommandError::from)? {
                hrsm_backup::Keychain::offsite(&d.name).set_text(&text).map_err(CommandError::from)?;
            }
        }
        // The key is checked for shape now; an object store without any is refused.
        let creds = credentials(&state, &d, &secret)?;
        if !secret.is_empty() {
            hrsm_backup::Keychain::offsite(&d.name).set_text(&creds.to_secret_text()).map_err(CommandError::from)?;
        }
        match existing {
            Some(i) => cfg.offsite[i] = d.clone(),
            None => cfg.offsite.push(d.clone()),
        }
        if let (Some(old), false) = (&renamed_from, state.is_demo()) {
            let _ = hrsm_backup::Keychain::offsite(old).delete();
        }
        // Its record of copies follows the new name (else every backup would be sent again).
        if let Some(old) = &renamed_from {
            if let Err(e) = hrsm_backup::rename_offsite(&cfg.destination, old, &d.name) {
                tracing::info!("the record of off-site copy {old} stays under that name: {e}");
            }
        }
        state.save_config(cfg).map_err(CommandError::from)?;
        crate::tray::refresh(&app);
        let list = statuses(&state);
        // What it should hold goes there now, not at the next backup.
        if d.enabled {
            spawn_copies(&app);
        }
        Ok(list)
    })
    .await
}

/// Removes a destination from the settings (its key from the keychain, its record of copies
/// from the backup folder); the copies there stay where they are.
#[tauri::command]
pub async fn offsite_remove<R: Runtime>(app: AppHandle<R>, name: String) -> CmdResult<Vec<OffsiteStatus>> {
    blocking(move || {
        let state = app.state::<AppState>();
        let mut cfg = state.config();
        if cfg.offsite.iter().any(|d| d.name == name && d.from_env) {
            return Err(CommandError::new(
                "usage",
                "This off-site copy comes from HR-SM's own settings on this computer; switch it off there.",
            ));
        }
        cfg.offsite.retain(|d| d.name != name);
        if !state.is_demo() {
            let _ = hrsm_backup::Keychain::offsite(&name).delete();
        }
        let backups = cfg.destination.clone();
        state.save_config(cfg).map_err(CommandError::from)?;
        // Its record goes too, so a destination added again under this name (a new disk)
        // starts afresh; a copy running now keeps it, which is harmless.
        if let Err(e) = hrsm_backup::forget_offsite(&backups, &name) {
            tracing::info!("the record of off-site copy {name} stays: {e}");
        }
        crate::tray::refresh(&app);
        Ok(statuses(&state))
    })
    .await
}

#[tauri::command]
pub async fn offsite_status<R: Runtime>(app: AppHandle<R>) -> CmdResult<Vec<OffsiteStatus>> {
    blocking(move || Ok(statuses(&app.state::<AppState>()))).await
}

/// Copies now (what failed, or a destination just added).
#[tauri::command]
pub async fn offsite_copy_now<R: Runtime>(app: AppHandle<R>) -> CmdResult<Vec<OffsiteStatus>> {
    blocking(move || {
        spawn_copies(&app);
        Ok(statuses(&app.state::<AppState>()))
    })
    .await
}

fn destination(state: &AppState, name: &str) -> CmdResult<(OffsiteConfig, Remote)> {
    let d =
        state.config().offsite.into_iter().find(|d| d.name == name).ok_or_else(|| {
            CommandError::new("usage", format!("There is no off-site copy named {name} in Settings."))
        })?;
    let creds = credentials(state, &d, &OffsiteSecret::default())?;
    let remote = Remote::open(&d, &creds).map_err(CommandError::from)?;
    Ok((d, remote))
}

/// The backups a destination holds that this computer does not (a new workstation sees all).
#[tauri::command]
pub async fn offsite_backups<R: Runtime>(app: AppHandle<R>, name: String) -> CmdResult<Vec<CatalogEntry>> {
    blocking(move || {
        let state = app.state::<AppState>();
        let (_, remote) = destination(&state, &name)?;
        let (entries, _) = remote_entries(&remote).map_err(CommandError::from)?;
        let here: std::collections::HashSet<String> =
            state.history().into_iter().filter(|e| e.status == hrsm_backup::Status::Ok).map(|e| e.id).collect();
        Ok(entries.into_iter().filter(|e| !here.contains(&e.id)).collect())
    })
    .await
}

/// Downloads one backup from a destination into the backups folder (checked as it arrives);
/// it then lists and restores like any other.
#[tauri::command]
pub async fn offsite_fetch<R: Runtime>(
    app: AppHandle<R>,
    name: String,
    id: String,
    on_event: Channel<JobEvent>,
) -> CmdResult<CatalogEntry> {
    blocking(move || {
        crate::jobs::exclusive(&app, "Downloading a backup…", |cancel| {
            let state = app.state::<AppState>();
            let (_, remote) = destination(&state, &name)?;
            let progress = crate::jobs::forward(
                move |e| {
                    let _ = on_event.send(e);
                },
                cancel,
            );
            let entry =
                fetch_from_offsite(&state.config().destination, &remote, &id, &progress).map_err(CommandError::from)?;
            Ok(entry)
        })
    })
    .await
}
