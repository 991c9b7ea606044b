//! The old backup service's backups (HR-SM's own `backups/` folder), looked at and imported
//! from the desktop: the engine's `legacy_scan` and `import_legacy`, as `hrsm-backup
//! import-legacy` runs them. Keys: the environment's BACKUP_ENCRYPTION_KEY, what the engine
//! finds in the installation (its `.env`, key rotation file, logs), and any the admin pastes;
//! none is kept, shown or logged (only where each was found).

use std::path::PathBuf;

use hrsm_backup::{
    import_legacy, legacy_scan, ImportOptions, ImportOutcome, ImportResult, KeyRing, PayloadOptions, SecretText,
};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};

use crate::commands::{blocking, CmdResult, CommandError};
use crate::jobs::{self, JobEvent};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyReport {
    /// The old `backups/` folder that was read.
    pub folder: String,
    /// Where keys were looked for, and what each place gave (never a key).
    pub keys_searched: Vec<String>,
    /// One per old backup, oldest first.
    pub backups: Vec<ImportOutcome>,
    /// Files of the old Backups page's folders that are none of its backups (not imported).
    pub skipped: Vec<String>,
    /// Nothing was written (a look before importing).
    pub dry_run: bool,
}

/// The installation folder the settings name, or the one typed on the page.
fn folder_of(state: &AppState, root: &str) -> PathBuf {
    if root.trim().is_empty() {
        state.config().hrsm_root
    } else {
        PathBuf::from(root.trim())
    }
}

fn key_ring(pasted: &str) -> KeyRing {
    let mut ring = KeyRing::default();
    match std::env::var(hrsm_backup::ENV_KEY).map(SecretText::new) {
        Ok(v) if !v.trim().is_empty() => {
            ring.add("BACKUP_ENCRYPTION_KEY of this computer", &v);
        }
        _ => {}
    }
    let pasted = SecretText::new(pasted.to_string());
    if !pasted.trim().is_empty() {
        let n = ring.add_lines(&pasted, "the keys you typed");
        ring.searched.push(format!("the keys you typed: {n}"));
    }
    ring
}

fn run<R: Runtime>(
    app: &AppHandle<R>,
    root: &str,
    keys: &str,
    dry_run: bool,
    sink: impl Fn(JobEvent) + Send + Sync,
) -> CmdResult<LegacyReport> {
    let state = app.state::<AppState>();
    // The site's main database: where the old Backups page kept its keys, and the name its
    // JSON exports are imported under.
    let main = jobs::backup_options(&state).mongo;
    // The scan may wait up to 5 s for that database (the Backups page's keys): say so at once.
    sink(JobEvent::Phase { name: "looking for the old backups and their keys".into() });
    let scan = legacy_scan(&folder_of(&state, root), key_ring(keys), main.as_ref())
        .map_err(|e| CommandError::new("usage", e.to_string()))?;
    let key = state.key().map_err(|m| CommandError::new("key", m))?;
    let cfg = state.config();
    let opts = ImportOptions {
        destination: cfg.destination.clone(),
        payload: PayloadOptions { level: cfg.compression_level, threads: cfg.threads, ..Default::default() },
        verify: cfg.verify_after_backup,
        dry_run,
    };
    let total = scan.backups.len();
    let mut backups = Vec::new();
    jobs::exclusive(app, if dry_run { "Looking at old backups…" } else { "Importing old backups…" }, |cancel| {
        let progress = jobs::forward(&sink, cancel);
        for (i, b) in scan.backups.iter().enumerate() {
            sink(JobEvent::Phase {
                name: format!("{} {} of {total}", if dry_run { "checking" } else { "importing" }, i + 1),
            });
            let mut o = import_legacy(b, &scan.keys, &opts, Some(&key), &progress, Box::new(rand::rngs::OsRng));
            // On screen in plain words; where a key is missing the page says where to type it.
            if let ImportResult::Failed { error, .. } = &mut o.result {
                *error = crate::commands::plain_words(error);
            }
            backups.push(o);
        }
        Ok(())
    })?;
    crate::tray::refresh(app);
    Ok(LegacyReport {
        folder: scan.backups_dir.display().to_string(),
        keys_searched: scan.keys.searched.iter().map(|k| crate::commands::plain_words(k)).collect(),
        skipped: scan.skipped.clone(),
        backups,
        dry_run,
    })
}

/// One of the two commands, off the async runtime, its progress to the page's channel.
async fn command<R: Runtime>(
    app: AppHandle<R>,
    root: String,
    keys: String,
    dry_run: bool,
    on_event: Channel<JobEvent>,
) -> CmdResult<LegacyReport> {
    blocking(move || {
        run(&app, &root, &keys, dry_run, move |e| {
            let _ = on_event.send(e);
        })
    })
    .await
}

/// Opens and checks every old backup (each is decrypted and converted in memory), writing
/// nothing: what would be imported, with what could not be recovered.
#[tauri::command]
pub async fn legacy_look<R: Runtime>(
    app: AppHandle<R>,
    root: String,
    keys: String,
    on_event: Channel<JobEvent>,
) -> CmdResult<LegacyReport> {
    command(app, root, keys, true, on_event).await
}

/// Imports them: each becomes one of our restore points (marked imported, with its original
/// date, never removed by retention). One already imported is not imported twice.
#[tauri::command]
pub async fn legacy_import<R: Runtime>(
    app: AppHandle<R>,
    root: String,
    keys: String,
    on_event: Channel<JobEvent>,
) -> CmdResult<LegacyReport> {
    command(app, root, keys, false, on_event).await
}
