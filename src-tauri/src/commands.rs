//! The commands the page calls (through ui/api.js, the one typed wrapper). Each turns its
//! arguments into engine calls and the engine's errors into a `CommandError` the page can
//! branch on (`kind`) and show (`message`). Long work reports over a `Channel<JobEvent>`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use hrsm_backup::mongo::{MongoRestoreOptions, MongoRestoreReport};
use hrsm_backup::test_restore;
use hrsm_backup::{
    read_manifest, recovery_text, verify_archive, Catalog, CatalogEntry, Config, FileRestoreOptions, Manifest,
    RestorePlan, RestoreReport, Schedule, SourceConfig,
};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use crate::jobs::{self, JobEvent};
use crate::state::{AppState, StatusDto};

/// An error the page can branch on: `kind` is one of key, mongo, config, busy, archive,
/// conflict, io, cancelled, usage, setup, demo, other. `message` is in the admin's words (the
/// page shows it as it is, never `kind`); `field` names the form field it is about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommandError {
    pub kind: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl CommandError {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        CommandError { kind: kind.into(), message: gui_words(&message.into()), field: None }
    }

    /// An error about one field of a form.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        CommandError { kind: "invalid".into(), message: message.into(), field: Some(field.into()) }
    }
}

/// The engine's messages are written for the command line and the config file too; on screen
/// the advice names what the admin can click instead. (A table here rather than GUI variants
/// of every engine message: the engine stays free of any one front end's wording.)
fn gui_words(message: &str) -> String {
    const PLAIN: &[(&str, &str)] = &[
        ("configuration: ", ""),
        ("encryption key: none of the", "None of the"),
        ("MONGODB_URI / mongodb.uri", "the MongoDB address in Settings"),
        ("in MONGODB_URI (and authSource)", "in Settings (MongoDB)"),
        ("import the key ", "import that key in Settings → Encryption key (the recovery key saved when it was made): "),
        (" with `hrsm-backup key import` or set BACKUP_ENCRYPTION_KEY", ""),
        (
            "; create one with `hrsm-backup key generate --key-file FILE` or set BACKUP_ENCRYPTION_KEY",
            "; import your recovery key in Settings → Encryption key",
        ),
        ("; create one with `hrsm-backup key generate`", ""),
        ("cancelled; nothing of this run was kept", "Cancelled. Nothing of this run was kept."),
    ];
    let mut out = message.to_string();
    for (from, to) in PLAIN {
        out = out.replace(from, to);
    }
    // An off-site copy without its key: what to click, not which command or variable.
    if let Some(i) = out.find("no credentials: ") {
        out = format!("{}its key is missing: enter it in Settings → Off-site copies (Change).", &out[..i]);
    }
    let mut chars = out.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => out,
    }
}

/// The page's words for an engine message (notifications and statuses use them too).
pub(crate) fn plain_words(message: &str) -> String {
    gui_words(message)
}

impl From<hrsm_backup::Error> for CommandError {
    fn from(e: hrsm_backup::Error) -> Self {
        use hrsm_backup::Error as E;
        let kind = match &e {
            E::Key(_) => "key",
            E::Mongo(_) | E::Tool { .. } => "mongo",
            E::Config(_) | E::Source { .. } => "config",
            E::Busy { .. } => "busy",
            E::Archive { .. } | E::Corrupt { .. } | E::UnsafeEntry { .. } => "archive",
            E::RestoreConflict { .. } => "conflict",
            E::Io { .. } | E::ChangedDuringBackup { .. } | E::NoSpace { .. } => "io",
            E::NoGoodBackup { .. } => "archive",
            E::Cancelled => "cancelled",
            E::Usage(_) | E::Disabled(_) => "usage",
            E::Offsite { .. } | E::OffsiteWaiting { .. } => "offsite",
        };
        CommandError::new(kind, e.to_string())
    }
}

pub(crate) type CmdResult<T> = Result<T, CommandError>;

/// Runs engine work off the async runtime's threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> CmdResult<T> + Send + 'static) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::new("other", format!("the job stopped unexpectedly: {e}")))?
}

// Every command that may touch the disk, D-Bus (keychain) or the network runs on a blocking
// worker thread (`blocking`), never on the main (UI) thread; only `cancel_backup`, which sets a
// flag, stays synchronous.

#[tauri::command]
pub async fn status<R: Runtime>(app: AppHandle<R>) -> CmdResult<StatusDto> {
    static FIRST: std::sync::Once = std::sync::Once::new();
    // The first status the page asks for marks "page ready" (bench/desktop-idle.sh reads it).
    FIRST.call_once(|| eprintln!("hrsm-backup-desktop: page ready"));
    blocking(move || Ok(app.state::<AppState>().status())).await
}

#[tauri::command]
pub async fn backup_now<R: Runtime>(app: AppHandle<R>, on_event: Channel<JobEvent>) -> CmdResult<CatalogEntry> {
    blocking(move || {
        jobs::backup(
            &app,
            move |e| {
                let _ = on_event.send(e);
            },
            hrsm_backup::Trigger::Manual,
        )
    })
    .await
}

#[tauri::command]
pub fn cancel_backup(state: State<'_, AppState>) -> bool {
    match state.running.lock().ok().and_then(|r| r.clone()) {
        Some(flag) => {
            flag.store(true, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

#[tauri::command]
pub async fn history<R: Runtime>(app: AppHandle<R>) -> CmdResult<Vec<CatalogEntry>> {
    blocking(move || Ok(app.state::<AppState>().history())).await
}

fn archive_of(state: &AppState, id: &str) -> CmdResult<PathBuf> {
    let dest = state.config().destination;
    let catalog = Catalog::existing(&dest)?;
    let entry = catalog
        .get(id)?
        .ok_or_else(|| CommandError::new("usage", format!("backup {id} is not in {}", dest.display())))?;
    let name =
        entry.archive.ok_or_else(|| CommandError::new("usage", format!("backup {id} failed and has no archive")))?;
    Ok(catalog.dir().join(name))
}

#[tauri::command]
pub async fn backup_details<R: Runtime>(app: AppHandle<R>, id: String) -> CmdResult<Manifest> {
    blocking(move || {
        let state = app.state::<AppState>();
        let key = state.key().map_err(|m| CommandError::new("key", m))?;
        Ok(read_manifest(&archive_of(&state, &id)?, &key)?)
    })
    .await
}

/// What to restore and where.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequest {
    pub id: String,
    /// Folder for the file sources; None restores no files (unless `files_in_place`).
    pub files_to: Option<String>,
    /// Files back into the folders they were backed up from ("as it was").
    #[serde(default)]
    pub files_in_place: bool,
    pub only: Option<String>,
    #[serde(default)]
    pub overwrite: bool,
    /// (from, to) databases; empty restores no MongoDB data.
    #[serde(default)]
    pub databases: Vec<(String, String)>,
    #[serde(default)]
    pub collections: Vec<String>,
    /// Restore the expiry (TTL) indexes paused, so that documents of an old backup past their
    /// expiry are not deleted by the server within a minute; turned back on with
    /// `resume_expiry`.
    #[serde(default)]
    pub pause_ttl: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preflight {
    pub backup_id: String,
    pub files: Option<RestorePlan>,
    pub collections: Vec<PreflightCollection>,
    /// The word the admin must type to go ahead.
    pub confirm_word: String,
    /// Arms exactly one restore of exactly this request; any other request, a second use or a
    /// newer check disarms it.
    pub confirm_token: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightCollection {
    pub from: String,
    pub to: String,
    pub name: String,
    /// "collection" or "timeseries" (whose `documents` are groups of measurements).
    pub kind: String,
    pub documents: u64,
    /// The target collection exists now and will be replaced.
    pub replaces: bool,
    /// Its expiry rules, in words ("deleted 90 days after their createdAt"): the server
    /// deletes restored documents past them within a minute, unless they are paused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expiry: Vec<String>,
}

/// A TTL index in an admin's words.
fn expiry_words(t: &hrsm_backup::mongo::TtlIndex) -> String {
    let s = t.seconds;
    let after = match s {
        0 => return format!("deleted at the time in their {}", t.field),
        s if s % 86_400 == 0 => format!("{} day{}", s / 86_400, if s == 86_400 { "" } else { "s" }),
        s if s % 3_600 == 0 => format!("{} hour{}", s / 3_600, if s == 3_600 { "" } else { "s" }),
        s if s % 60 == 0 => format!("{} minute{}", s / 60, if s == 60 { "" } else { "s" }),
        s => format!("{s} seconds"),
    };
    format!("deleted {after} after their {}", t.field)
}

/// Where run-log documents go (the configured collection on the configured server).
pub fn run_log(state: &AppState) -> Option<hrsm_backup::MongoLog> {
    let uri = mongo_uri(state);
    state.config().mongodb.log_namespace(&uri).map(|namespace| hrsm_backup::MongoLog { uri, namespace })
}

/// The MongoDB URI with its password: the keychain's, else the settings' (which has none). The
/// demo's own server only: a restore in the demo must never reach the real site.
pub fn mongo_uri(state: &AppState) -> String {
    if state.is_demo() {
        return state.config().mongodb.uri;
    }
    hrsm_backup::Keychain::mongodb_uri().get_text().ok().flatten().unwrap_or_else(|| state.config().mongodb.uri)
}

fn preflight_inner(state: &AppState, req: &RestoreRequest) -> CmdResult<Preflight> {
    let key = state.key().map_err(|m| CommandError::new("key", m))?;
    let archive = archive_of(state, &req.id)?;
    let manifest = read_manifest(&archive, &key)?;
    // One plan per server the databases go back to (the license server's own, if another).
    let mut preview: Option<hrsm_backup::RestorePreview> = None;
    for r in engine_requests(state, req, &manifest) {
        let p = hrsm_backup::plan_restore(&archive, &key, &r, true)?;
        match &mut preview {
            None => preview = Some(p),
            Some(all) => all.collections.extend(p.collections),
        }
    }
    let Some(preview) = preview else {
        return Err(CommandError::new("usage", "Choose files, databases or both to restore."));
    };
    let collections = preview
        .collections
        .into_iter()
        .map(|c| PreflightCollection {
            from: c.from,
            to: c.to,
            name: c.name,
            kind: c.kind,
            documents: c.documents,
            replaces: c.replaces.unwrap_or(false),
            expiry: c.ttl.iter().map(expiry_words).collect(),
        })
        .collect::<Vec<PreflightCollection>>();
    let token = hex_token();
    // Anything live replaced: a safety copy of it is taken first (the restore can be undone).
    let replaces =
        collections.iter().any(|c| c.replaces) || preview.files.as_ref().is_some_and(|f| !f.replaced.is_empty());
    if let Ok(mut armed) = state.armed_restore.lock() {
        *armed = Some(Armed { token: token.clone(), request: req.clone(), replaces });
    }
    Ok(Preflight {
        backup_id: preview.backup_id,
        files: preview.files,
        collections,
        confirm_word: "RESTORE".into(),
        confirm_token: token,
    })
}

fn hex_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The one restore the last check allowed.
pub struct Armed {
    token: String,
    request: RestoreRequest,
    /// The check found live data the restore replaces.
    replaces: bool,
}

/// Takes the one restore the last check armed: it must be this request, with its token.
/// Returns whether it replaces live data.
fn disarm(state: &AppState, request: &RestoreRequest, token: &str) -> CmdResult<bool> {
    let armed = state.armed_restore.lock().ok().and_then(|mut a| a.take());
    match armed {
        Some(a) if a.token == token && &a.request == request => Ok(a.replaces),
        _ => Err(CommandError::new(
            "usage",
            "Check the restore again first (\"Check first\"): each check allows one restore of exactly what it showed.",
        )),
    }
}

/// The servers a restore goes back to, reached as the backups reach them (the site's own
/// settings, the keychain's passwords): the main one, and the license server's own when it is
/// another.
fn restore_servers(state: &AppState) -> (String, Option<String>) {
    match crate::jobs::backup_options(state).mongo {
        Some(m) => (m.uri.clone(), m.other_servers.first().map(|o| o.uri.clone())),
        None => (mongo_uri(state), None),
    }
}

/// The page's restore request in the engine's terms (one place for preflight and restore):
/// the first carries the files and the main server's databases, a second one the databases
/// that came from the license server's own, which go back there.
fn engine_requests(
    state: &AppState,
    req: &RestoreRequest,
    manifest: &hrsm_backup::Manifest,
) -> Vec<hrsm_backup::RestoreRequest> {
    let cfg = state.config();
    let files = if req.files_in_place {
        Some(FileRestoreOptions {
            target: PathBuf::new(),
            only: req.only.clone(),
            overwrite: req.overwrite,
            in_place: true,
        })
    } else {
        req.files_to.as_ref().map(|dir| FileRestoreOptions {
            target: dir.into(),
            only: req.only.clone(),
            overwrite: req.overwrite,
            in_place: false,
        })
    };
    let (main, other) = restore_servers(state);
    let mongo = (!req.databases.is_empty()).then(|| MongoRestoreOptions {
        uri: main.clone(),
        databases: req.databases.clone(),
        collections: (!req.collections.is_empty()).then(|| req.collections.clone()),
        threads: 4,
        log_collection: cfg.mongodb.log_namespace(&main),
        pause_ttl: req.pause_ttl,
    });
    let mut groups = mongo.map(|m| hrsm_backup::split_by_server(manifest, m, other)).unwrap_or_default().into_iter();
    let mut out = vec![hrsm_backup::RestoreRequest { files, mongo: groups.next() }];
    out.extend(groups.map(|g| hrsm_backup::RestoreRequest { files: None, mongo: Some(g) }));
    out
}

#[tauri::command]
pub async fn restore_preflight<R: Runtime>(app: AppHandle<R>, request: RestoreRequest) -> CmdResult<Preflight> {
    blocking(move || preflight_inner(&app.state::<AppState>(), &request)).await
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreResult {
    pub files: Option<RestoreReport>,
    pub mongo: Option<MongoRestoreReport>,
    /// The safety copy of what was replaced, taken just before (restoring it undoes this).
    pub safety: Option<CatalogEntry>,
}

/// A backup of the current data, made inside the restore's busy slot before anything is
/// replaced; its phases show as "safety copy: …". Retention does not run (nothing is removed in
/// the middle of a restore). If it fails, the restore does not start.
fn safety_copy<F: Fn(JobEvent) + Send + Sync + Clone + 'static>(
    state: &AppState,
    key: &hrsm_backup::MasterKey,
    sink: F,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> CmdResult<CatalogEntry> {
    let labelled = {
        let sink = sink.clone();
        move |e| match e {
            JobEvent::Phase { name } => sink(JobEvent::Phase { name: format!("safety copy: {name}") }),
            other => sink(other),
        }
    };
    let progress = jobs::forward(labelled, cancel);
    let opts = hrsm_backup::BackupOptions {
        trigger: hrsm_backup::Trigger::BeforeRestore,
        retention: None,
        ..jobs::backup_options(state)
    };
    hrsm_backup::run_backup(&opts, key, &progress, Box::new(rand::rngs::OsRng)).map(|done| done.entry).map_err(|e| {
        CommandError::new(
            "safety",
            format!(
                "Nothing was restored: a safety copy of the current data could not be made first ({}).",
                gui_words(&e.to_string())
            ),
        )
    })
}

#[tauri::command]
pub async fn restore<R: Runtime>(
    app: AppHandle<R>,
    request: RestoreRequest,
    confirm: String,
    token: String,
    on_event: Channel<JobEvent>,
) -> CmdResult<RestoreResult> {
    blocking(move || {
        // Disarmed whatever happens next: a second click needs a new check.
        let replaces = disarm(&app.state::<AppState>(), &request, &token)?;
        if confirm.trim() != "RESTORE" {
            return Err(CommandError::new("usage", "Type RESTORE to confirm."));
        }
        let app2 = app.clone();
        jobs::exclusive(&app, "Restoring…", move |cancel| {
            let state = app2.state::<AppState>();
            // The engine plans and checks from the manifest inside its one read of the
            // archive: no second preflight here.
            let key = state.key().map_err(|m| CommandError::new("key", m))?;
            let archive = archive_of(&state, &request.id)?;
            let sink = {
                let ch = on_event.clone();
                move |e| {
                    let _ = ch.send(e);
                }
            };
            let _ = on_event.send(JobEvent::Started { id: Some(request.id.clone()) });
            let manifest = read_manifest(&archive, &key)?;
            let requests = engine_requests(&state, &request, &manifest);
            if requests[0].files.is_none() && requests[0].mongo.is_none() {
                return Err(CommandError::new("usage", "Choose files, databases or both to restore."));
            }
            let safety = if replaces { Some(safety_copy(&state, &key, sink.clone(), cancel.clone())?) } else { None };
            let progress = jobs::forward(sink, cancel);
            let (mut files, mut mongo) = (None, None::<MongoRestoreReport>);
            for (i, req) in requests.iter().enumerate() {
                let outcome = hrsm_backup::restore(&archive, &key, req, &progress).map_err(|e| {
                    let e = CommandError::from(e);
                    if i == 0 {
                        return e;
                    }
                    // The main server's part is in place: say so, and what did not come back.
                    CommandError::new(
                        &e.kind,
                        format!(
                            "The main server's data was restored, but the license server's database could not be: {}",
                            e.message
                        ),
                    )
                })?;
                files = files.or(outcome.files);
                match (&mut mongo, outcome.mongo) {
                    (Some(all), Some(more)) => {
                        all.collections.extend(more.collections);
                        all.views.extend(more.views);
                        all.ttl_paused.extend(more.ttl_paused);
                        all.warnings.extend(more.warnings);
                    }
                    (slot, more) => {
                        if slot.is_none() {
                            *slot = more;
                        }
                    }
                }
            }
            let _ = on_event.send(JobEvent::Finished { ok: true, message: "Restore complete.".into() });
            Ok(RestoreResult { files, mongo, safety })
        })
        .inspect_err(|e| {
            crate::notify::send("HR-SM restore FAILED", &e.message, true);
        })
    })
    .await
}

/// Turns back on the expiry rules a restore of backup `id` paused (into `databases`, as the
/// restore mapped them): returns what was turned back on.
#[tauri::command]
pub async fn resume_expiry<R: Runtime>(
    app: AppHandle<R>,
    id: String,
    databases: Vec<(String, String)>,
) -> CmdResult<Vec<String>> {
    blocking(move || {
        let state = app.state::<AppState>();
        let key = state.key().map_err(|m| CommandError::new("key", m))?;
        let manifest = read_manifest(&archive_of(&state, &id)?, &key)?;
        let (main, other) = restore_servers(&state);
        let opts = MongoRestoreOptions {
            uri: main,
            databases,
            collections: None,
            threads: 1,
            log_collection: None,
            pause_ttl: false,
        };
        let mut done = Vec::new();
        for group in hrsm_backup::split_by_server(&manifest, opts, other) {
            done.extend(hrsm_backup::mongo::resume_ttl(&group.uri, &manifest, &group.databases)?);
        }
        Ok(done)
    })
    .await
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifySummary {
    pub files: u64,
    pub chunks: u64,
    pub collections_tested: usize,
}

#[tauri::command]
pub async fn verify<R: Runtime>(
    app: AppHandle<R>,
    id: String,
    restore_test: bool,
    on_event: Channel<JobEvent>,
) -> CmdResult<VerifySummary> {
    blocking(move || {
        let app2 = app.clone();
        jobs::exclusive(&app, "Checking a backup…", move |cancel| {
            let state = app2.state::<AppState>();
            let key = state.key().map_err(|m| CommandError::new("key", m))?;
            let archive = archive_of(&state, &id)?;
            let progress = jobs::forward(
                move |e| {
                    let _ = on_event.send(e);
                },
                cancel,
            );
            let r = verify_archive(&archive, &key, &progress)?;
            let tested = if restore_test {
                let t = test_restore(&archive, &key, &mongo_uri(&state), 4, run_log(&state).as_ref(), &progress)?;
                state.update_persisted(|p| p.last_restore_test = Some(chrono::Utc::now()));
                t.collections.len()
            } else {
                0
            };
            Ok(VerifySummary { files: r.files, chunks: r.chunks, collections_tested: tested })
        })
        .inspect_err(|e| crate::notify::send("HR-SM verification FAILED", &e.message, true))
    })
    .await
}

/// The settings the page edits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SettingsDto {
    pub mongodb_enabled: bool,
    /// Shown without its password; a password typed here goes to the keychain.
    pub mongodb_uri: String,
    pub databases: Vec<String>,
    pub sources: Vec<SourceDto>,
    pub destination: String,
    pub schedule_enabled: bool,
    pub schedule_time: String,
    pub schedule_timezone: String,
    pub keep_days: u32,
    pub keep_min_verified: u32,
    pub notify_success: bool,
    /// The HR-SM installation folder (shown; changed through "Use these settings").
    #[serde(default)]
    pub hrsm_root: String,
    /// The off-site destinations (shown; changed through their own form, crate::offsite).
    #[serde(default)]
    pub offsite: Vec<crate::offsite::OffsiteForm>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceDto {
    pub name: String,
    pub path: String,
    /// Only what matches one of these (relative to `path`); empty: everything.
    #[serde(default)]
    pub include: Vec<String>,
    /// Left out.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Checks the form in the admin's words, naming the field: nothing is saved when one is wrong.
fn check_form(s: &SettingsDto) -> CmdResult<()> {
    use std::path::Path;
    let absolute = |p: &str| Path::new(p).is_absolute();
    if s.destination.trim().is_empty() {
        return Err(CommandError::field("destination", "Choose the folder the backups go to."));
    }
    if !absolute(s.destination.trim()) {
        return Err(CommandError::field(
            "destination",
            "Give the whole folder path (for example /srv/hrsm-backups or D:\\Backups), or choose it with the button.",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, src) in s.sources.iter().enumerate() {
        let name = src.name.trim();
        if name.is_empty() {
            return Err(CommandError::field(
                &format!("sources.{i}.name"),
                "Give this folder a short name (letters, digits, - or _).",
            ));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            || name.starts_with('.')
            || name.len() > 64
        {
            return Err(CommandError::field(
                &format!("sources.{i}.name"),
                format!("\"{name}\" cannot be a name: use up to 64 letters, digits, - or _."),
            ));
        }
        if !names.insert(name.to_string()) {
            return Err(CommandError::field(
                &format!("sources.{i}.name"),
                format!("Two folders are called \"{name}\"; each needs its own name."),
            ));
        }
        if src.path.trim().is_empty() {
            return Err(CommandError::field(
                &format!("sources.{i}.path"),
                "Choose the folder to back up, or remove this row.",
            ));
        }
        if !absolute(src.path.trim()) {
            return Err(CommandError::field(
                &format!("sources.{i}.path"),
                "Give the whole folder path, or choose it with the button.",
            ));
        }
        for (which, globs) in [("include", &src.include), ("exclude", &src.exclude)] {
            for g in globs {
                if globset::Glob::new(g).is_err() {
                    return Err(CommandError::field(
                        &format!("sources.{i}.{which}"),
                        format!("\"{g}\" is not a valid pattern (for example *.pdf or config/**)."),
                    ));
                }
            }
        }
    }
    if hrsm_backup::Schedule::daily(&s.schedule_time, "UTC").is_err() {
        return Err(CommandError::field("scheduleTime", "Give the time as hours and minutes, for example 02:00."));
    }
    if hrsm_backup::Schedule::daily(&s.schedule_time, &s.schedule_timezone).is_err() {
        return Err(CommandError::field("scheduleTimezone", "Choose a time zone from the list."));
    }
    if s.keep_days == 0 || s.keep_days > 3650 {
        return Err(CommandError::field("keepDays", "Keep backups for 1 to 3650 days."));
    }
    if s.keep_min_verified == 0 || s.keep_min_verified > 1000 {
        return Err(CommandError::field(
            "keepMinVerified",
            "Always keep at least 1 (and at most 1000) checked backups.",
        ));
    }
    if s.mongodb_enabled && s.mongodb_uri.trim().is_empty() {
        return Err(CommandError::field(
            "mongodbUri",
            "Give the MongoDB address (it starts with mongodb://), or turn MongoDB off.",
        ));
    }
    Ok(())
}

#[tauri::command]
pub async fn get_settings<R: Runtime>(app: AppHandle<R>) -> CmdResult<SettingsDto> {
    blocking(move || {
        let state = app.state::<AppState>();
        let mut s = settings_of(&state);
        // Before the set-up the built-in folder is relative to wherever the app was started:
        // propose one in the admin's documents instead (shown, saved only with the set-up).
        if state.needs_setup() && !std::path::Path::new(&s.destination).is_absolute() {
            let base = app.path().document_dir().or_else(|_| app.path().home_dir()).unwrap_or(state.data_dir.clone());
            s.destination = base.join("HR-SM Backups").display().to_string();
        }
        Ok(s)
    })
    .await
}

pub(crate) fn settings_of(state: &AppState) -> SettingsDto {
    let c = state.config();
    SettingsDto {
        mongodb_enabled: c.mongodb.enabled,
        mongodb_uri: hrsm_backup::mongo::client::redact_uri(&mongo_uri(state)),
        databases: c.mongodb.databases.clone(),
        sources: c
            .file_sources()
            .into_iter()
            .map(|s| SourceDto {
                name: s.name,
                path: s.path.display().to_string(),
                include: s.include,
                exclude: s.exclude,
            })
            .collect(),
        destination: c.destination.display().to_string(),
        schedule_enabled: c.schedule.enabled,
        schedule_time: c.schedule.time.clone(),
        schedule_timezone: c.schedule.timezone.clone(),
        keep_days: c.retention.keep_days,
        keep_min_verified: c.retention.keep_min_verified,
        notify_success: state.persisted().notify_success,
        hrsm_root: c.hrsm_root.display().to_string(),
        offsite: c.offsite.iter().filter(|d| !d.from_env).map(crate::offsite::form_of).collect(),
    }
}

#[tauri::command]
pub async fn set_settings<R: Runtime>(app: AppHandle<R>, settings: SettingsDto) -> CmdResult<SettingsDto> {
    blocking(move || save_settings(&app, &app.state::<AppState>(), settings)).await
}

fn save_settings<R: Runtime>(app: &AppHandle<R>, state: &AppState, settings: SettingsDto) -> CmdResult<SettingsDto> {
    check_form(&settings)?;
    Schedule::daily(&settings.schedule_time, &settings.schedule_timezone)?;
    let mut cfg: Config = state.config();
    use hrsm_backup::mongo::client::{split_uri, with_password, without_password};
    // The page shows a stored password as `***`: put the real one back before saving.
    let mut uri = settings.mongodb_uri.clone();
    if split_uri(&uri).and_then(|p| p.password) == Some("***") {
        let stored = hrsm_backup::Keychain::mongodb_uri().get_text()?.unwrap_or_default();
        match split_uri(&stored).and_then(|p| p.password) {
            Some(password) => uri = with_password(&uri, password),
            None => {
                return Err(CommandError::new(
                    "config",
                    "type the MongoDB password again: none is stored in the keychain",
                ))
            }
        }
    }
    hrsm_backup::mongo::client::check_uri(&uri)
        .map_err(|e| CommandError::field("mongodbUri", gui_words(&e.to_string())))?;
    if state.is_demo() {
        // The keychain holds the real site's password: the sample data neither needs nor
        // clears it.
        if split_uri(&uri).and_then(|p| p.password).is_some() {
            return Err(CommandError::new(
                "config",
                "The sample data's database has no password. To back up your own HR-SM, leave the sample data first.",
            ));
        }
    } else if split_uri(&uri).and_then(|p| p.password).is_some() {
        hrsm_backup::Keychain::mongodb_uri().set_text(&uri)?;
    } else {
        // Nothing secret to keep; a keychain that cannot be reached has nothing of ours either.
        let _ = hrsm_backup::Keychain::mongodb_uri().delete();
    }
    cfg.mongodb.uri = without_password(&uri);
    cfg.mongodb.enabled = settings.mongodb_enabled;
    cfg.mongodb.databases = settings.databases.clone();
    // A source the page shows unchanged keeps what the page does not edit (optional or not,
    // what an unreadable file does), and the site's default sources stay the defaults when
    // nothing changed, so saving the schedule never changes what a backup reads.
    let before = cfg.file_sources();
    let sources: Vec<SourceConfig> = settings
        .sources
        .iter()
        .map(|s| {
            let base = before
                .iter()
                .find(|b| b.name == s.name.trim() && b.path == std::path::Path::new(s.path.trim()))
                .cloned()
                .unwrap_or_else(|| SourceConfig::folder(s.name.trim(), s.path.trim()));
            SourceConfig { include: s.include.clone(), exclude: s.exclude.clone(), ..base }
        })
        .collect();
    if cfg.sources.is_some() || sources != before {
        cfg.sources = Some(sources);
    }
    cfg.destination = PathBuf::from(settings.destination.trim());
    cfg.schedule.enabled = settings.schedule_enabled;
    cfg.schedule.time = settings.schedule_time.clone();
    cfg.schedule.timezone = settings.schedule_timezone.clone();
    cfg.retention.keep_days = settings.keep_days;
    cfg.retention.keep_min_verified = settings.keep_min_verified;
    state.save_config(cfg)?;
    state.update_persisted(|p| p.notify_success = settings.notify_success);
    crate::tray::refresh(app);
    Ok(settings_of(state))
}

#[tauri::command]
pub async fn export_key<R: Runtime>(app: AppHandle<R>) -> CmdResult<String> {
    blocking(move || {
        let key = app.state::<AppState>().key().map_err(|m| CommandError::new("key", m))?;
        // The page shows it, so it must cross the IPC bridge as a plain string.
        Ok(recovery_text(&key).to_string())
    })
    .await
}

/// Prints the page as laid out for print (the recovery sheet the page has just filled in)
/// through the system's print dialog: Tauri's print of the web view (on Linux WebKitGTK's print
/// operation, on Windows the web view's own print). Not `window.print()` from the page: under
/// WebKitGTK driven by the end-to-end test it opened no dialog at all. A sync command: it runs
/// on the main thread, where GTK's dialog runs, and returns when it closes (on Windows, wry's
/// print is the page's own `window.print()` and returns at once).
#[tauri::command]
pub fn print_sheet<R: Runtime>(window: tauri::WebviewWindow<R>) -> CmdResult<()> {
    window.print().map_err(|e| {
        CommandError::new(
            "other",
            format!("The print dialog could not be opened ({e}). Use \"Save to file…\" instead."),
        )
    })
}

/// Writes the recovery key to a file the admin picked (mode 0600, never overwriting).
#[tauri::command]
pub async fn save_key_file<R: Runtime>(app: AppHandle<R>, path: String) -> CmdResult<()> {
    blocking(move || save_key_to(&app.state::<AppState>(), path)).await
}

fn save_key_to(state: &AppState, path: String) -> CmdResult<()> {
    let key = state.key().map_err(|m| CommandError::new("key", m))?;
    let path = PathBuf::from(path);
    if path.exists() {
        return Err(CommandError::new("usage", format!("{} already exists; choose a new file", path.display())));
    }
    let mut text = recovery_text(&key);
    text.push('\n');
    hrsm_backup::write_atomic(&path, text.as_bytes())?;
    Ok(())
}

#[tauri::command]
pub async fn confirm_key_exported<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    blocking(move || {
        app.state::<AppState>().update_persisted(|p| p.key_exported = true);
        crate::tray::refresh(&app);
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn import_key<R: Runtime>(app: AppHandle<R>, text: String) -> CmdResult<String> {
    blocking(move || import_key_text(&app, &app.state::<AppState>(), text)).await
}

fn import_key_text<R: Runtime>(app: &AppHandle<R>, state: &AppState, text: String) -> CmdResult<String> {
    let text = hrsm_backup::SecretText::new(text);
    let current = state.key().ok();
    let key = crate::keys::import(&text, current.as_ref(), state.persisted().key_exported)
        .map_err(|m| CommandError::new("key", m))?;
    let id = key.id().to_string();
    if let Ok(mut k) = state.key.lock() {
        *k = Ok(key);
    }
    state.update_persisted(|p| p.key_exported = true);
    crate::tray::refresh(app);
    Ok(id)
}

#[tauri::command]
pub async fn logs<R: Runtime>(app: AppHandle<R>) -> CmdResult<Vec<String>> {
    blocking(move || {
        let path = app.state::<AppState>().config().destination.join(hrsm_backup::LOCAL_LOG);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        Ok(lines[lines.len().saturating_sub(200)..].to_vec())
    })
    .await
}
