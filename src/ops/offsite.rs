//! Off-site copies as operations: copy every verified backup a destination does not have yet
//! (newest first), check each copy before it counts (its SHA-256 read back, or its size), write
//! its catalog entry there last, notice copies that went missing or changed, apply the
//! destination's own retention, and bring a backup back from there (a new workstation with an
//! empty backup folder restores from the remote alone).
//!
//! A copy never changes the local backup: a failed or slow upload is recorded (and retried at
//! the next run), the backup stays good. Copies run under their own lock
//! (`<backups>/.offsite/.lock`), so a backup can start while an upload goes on.
//!
//! Depends on `remote`, `store` (catalog, lock, run log), `policy::retention` and `progress`.

use std::fs::OpenOptions;
use std::path::Path;

use chrono::{Duration, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::offsite::{CheckMode, OffsiteConfig, OffsiteKind};
use crate::policy::retention::{plan, Decision, RetentionPolicy};
use crate::progress::{Event, Progress};
use crate::remote::state::{self, CopyRecord, CopyState, CopyStatus};
use crate::remote::{Credentials, Remote};
use crate::store::catalog::{Catalog, CatalogEntry, Status, ARCHIVE_EXT, ENTRY_EXT};
use crate::store::lock::DestinationLock;
use crate::store::runlog::{MongoLog, RunRecord, Upload};

/// Opens a destination with its credentials: its keychain entry (in builds with the keychain),
/// else the environment (`AWS_*`, `AZURE_STORAGE_KEY`). A machine without a keychain service
/// (a server) uses the environment.
pub fn open_destination(cfg: &OffsiteConfig) -> Result<Remote> {
    let env = |k: &str| std::env::var(k).ok();
    #[allow(unused_mut)]
    let mut text: Option<zeroize::Zeroizing<String>> = None;
    #[cfg(feature = "keychain")]
    if cfg.kind != crate::offsite::OffsiteKind::Folder {
        match crate::store::keychain::Keychain::offsite(&cfg.name).get_text() {
            Ok(t) => text = t.map(zeroize::Zeroizing::new),
            Err(e) if Credentials::from_env(cfg.kind, env).is_none() => return Err(e),
            Err(_) => {}
        }
    }
    let creds = Credentials::resolve(cfg, text.as_deref().map(|s| s.as_str()), env)?;
    Remote::open(cfg, &creds)
}

/// Copies to every enabled destination of `cfg`, one after the other; a destination that
/// cannot be opened (no credentials, a folder not plugged in) is reported, not raised.
///
/// Every backup copied, and every one that failed, leaves a line in the local run log and
/// (with `log`) its `cloudStorage` in HR-SM's `BackupLog` document.
pub fn copy_all(
    cfg: &crate::config::Config,
    log: Option<&MongoLog>,
    progress: &dyn Progress,
) -> Result<Vec<CopyReport>> {
    let mut reports = Vec::new();
    // HR-SM's cloud variables that could not be read: said where copies are reported, never
    // in the way of a backup.
    if let Some(problem) = &cfg.offsite_problem {
        reports.push(CopyReport {
            destination: crate::offsite::ENV_DESTINATION.into(),
            error: Some(problem.clone()),
            ..Default::default()
        });
    }
    for d in cfg.offsite_destinations() {
        let report = match open_destination(&d) {
            Ok(remote) => match copy_to(&cfg.destination, &remote, log, progress) {
                Ok(r) => r,
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                // The local side (the state file, another copy run holding the lock): said for
                // this destination, the others still go.
                Err(e) => CopyReport { destination: d.name.clone(), error: Some(e.to_string()), ..Default::default() },
            },
            Err(e) => {
                let mut r = CopyReport { destination: d.name.clone(), ..Default::default() };
                let mut st = state::load(&cfg.destination, &d)?;
                st.last_run = Some(Utc::now());
                match e {
                    Error::OffsiteWaiting { reason, .. } => {
                        st.waiting = true;
                        st.waiting_reason = Some(reason.clone());
                        st.last_error = None;
                        r.waiting = Some(reason);
                    }
                    other => {
                        progress.event(Event::Warning(other.to_string()));
                        st.last_error = Some(other.to_string());
                        r.error = Some(other.to_string());
                    }
                }
                if cfg.destination.is_dir() {
                    state::save(&cfg.destination, &d.name, &st)?;
                }
                r
            }
        };
        reports.push(report);
    }
    Ok(reports)
}

/// The run log's line (and HR-SM's `cloudStorage`) for one copy: `id` copied, or failed with
/// `error`; a run that failed as a whole names no backup (`id` empty).
fn log_copy(
    backups: &Path,
    log: Option<&MongoLog>,
    d: &OffsiteConfig,
    id: &str,
    error: Option<&str>,
    started: chrono::DateTime<Utc>,
    progress: &dyn Progress,
) {
    let upload = Upload {
        destination: d.name.clone(),
        provider: match d.kind {
            OffsiteKind::S3 => "aws-s3",
            OffsiteKind::Azure => "azure-blob",
            OffsiteKind::Folder => "local",
        },
        bucket: match d.kind {
            OffsiteKind::Folder => d.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            _ => d.bucket.clone().unwrap_or_default(),
        },
        key: if id.is_empty() { String::new() } else { format!("{}{}", d.object_prefix(), archive_name(id)) },
    };
    let rec = RunRecord {
        upload: Some(upload),
        error: error.map(|e| format!("{}: {e}", d.name)),
        ..RunRecord::new("offsite-copy", id.to_string(), error.is_none(), started)
    };
    for w in crate::store::runlog::record(backups, log, &rec) {
        progress.event(Event::Warning(w));
    }
}

/// What one copy run did at one destination.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CopyReport {
    pub destination: String,
    /// Backups copied and checked in this run.
    pub copied: Vec<String>,
    /// Parts an interrupted earlier run had sent already (not sent again).
    pub resumed_parts: usize,
    /// Bytes sent in this run.
    pub bytes: u64,
    /// Backups removed there by its retention.
    pub removed: Vec<String>,
    /// Copies found missing or changed there: loud until copied again.
    pub problems: Vec<String>,
    /// Set when the destination is not there now (a folder on an unplugged disk).
    pub waiting: Option<String>,
    /// The error that stopped this run, if one did.
    pub error: Option<String>,
    /// The backup whose copy failed, when the error was one backup's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// Backups still to copy after this run.
    pub pending: usize,
}

impl CopyReport {
    /// True when the run leaves every backup copied and every copy sound (waiting is not ok:
    /// the copies are not there yet).
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.problems.is_empty() && self.waiting.is_none() && self.pending == 0
    }
}

/// A backup id as this program makes them (`hrsm-<time>-<hex>`): nothing that could name a
/// path elsewhere.
fn valid_id(id: &str) -> bool {
    id.starts_with("hrsm-") && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn entry_name(id: &str) -> String {
    format!("{id}.{ENTRY_EXT}")
}

fn archive_name(id: &str) -> String {
    format!("{id}.{ARCHIVE_EXT}")
}

/// The backups a destination should hold: good, verified, with the SHA-256 the copy is checked
/// against, and young enough for its retention to keep (the newest always), newest first.
fn wanted(entries: &[CatalogEntry], cfg: &OffsiteConfig) -> Vec<CatalogEntry> {
    let cutoff = Utc::now() - Duration::days(cfg.retention.keep_days as i64);
    let mut good: Vec<&CatalogEntry> = entries
        .iter()
        .filter(|e| e.status == Status::Ok && e.archive.is_some() && e.verified && e.sha256.is_some())
        .collect();
    good.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id)));
    good.iter()
        .enumerate()
        .filter(|(i, e)| *i < cfg.retention.keep_min_verified.max(1) as usize || e.started >= cutoff)
        .map(|(_, e)| (*e).clone())
        .collect()
}

/// How many backups a destination should hold but does not yet (by this machine's record).
pub fn pending_copies(entries: &[CatalogEntry], cfg: &OffsiteConfig, st: &CopyState) -> usize {
    wanted(entries, cfg).iter().filter(|e| !st.is_copied(&e.id)).count()
}

/// Copies what `remote` lacks from the backup folder `backups`, checks the copies there, and
/// applies its retention. Errors of the destination (unreachable, refused) end up in the
/// report, not as `Err`: `Err` is for the local side (the folder, the lock).
pub fn copy_to(backups: &Path, remote: &Remote, log: Option<&MongoLog>, progress: &dyn Progress) -> Result<CopyReport> {
    let catalog = Catalog::existing(backups)?;
    if let Some(folder) = remote.folder() {
        // The same layout in the same place would make the backup folder its own "copy", and
        // the destination's retention would prune local backups.
        let (a, b) =
            (folder.canonicalize().unwrap_or(folder.clone()), backups.canonicalize().unwrap_or(backups.into()));
        if a.starts_with(&b) || b.starts_with(&a) {
            return Err(Error::Offsite {
                destination: remote.name().into(),
                message: format!(
                    "{} is the backup folder or shares it; a second folder must be somewhere else (another disk)",
                    folder.display()
                ),
            });
        }
    }
    crate::fsutil::create_private_dir_all(&state::state_dir(backups))?;
    let _lock = DestinationLock::acquire(&state::state_dir(backups), "an off-site copy")?;
    let name = remote.name().to_string();
    let mut st = state::load(backups, remote.config())?;
    let mut report = CopyReport { destination: name.clone(), ..Default::default() };
    st.last_run = Some(Utc::now());
    if remote.folder().is_some() {
        if let Some(reason) = check_marker(remote, &mut st, true)? {
            // Waiting is not a failure: an older error is not what stands now.
            st.waiting = true;
            st.waiting_reason = Some(reason.clone());
            st.last_error = None;
            report.waiting = Some(reason);
            state::save(backups, &name, &st)?;
            return Ok(report);
        }
    }
    st.waiting = false;
    st.waiting_reason = None;
    let listing = catalog.list()?;
    let result = (|| -> Result<()> {
        // First what is there: a copy gone or changed is reported (loudly: it may be someone
        // deleting backups) and sent again below.
        check_copies(remote, &mut st, &mut report)?;
        let todo: Vec<CatalogEntry> =
            wanted(&listing.entries, remote.config()).into_iter().filter(|e| !st.is_copied(&e.id)).collect();
        report.pending = todo.len();
        for entry in &todo {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let started = Utc::now();
            match copy_one(&catalog, remote, entry, progress) {
                Ok((size, resumed)) => {
                    log_copy(backups, log, remote.config(), &entry.id, None, started, progress);
                    report.copied.push(entry.id.clone());
                    report.bytes += size;
                    report.resumed_parts += resumed;
                    report.pending -= 1;
                    let checked = Some(match remote.config().check {
                        CheckMode::ReadBack => "read-back".to_string(),
                        CheckMode::Size => "size".to_string(),
                    });
                    st.copies.insert(
                        entry.id.clone(),
                        CopyRecord {
                            status: CopyStatus::Copied,
                            at: Utc::now(),
                            size,
                            checked,
                            error: None,
                            attempts: 0,
                        },
                    );
                    state::save(backups, &name, &st)?;
                }
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => {
                    report.failed = Some(entry.id.clone());
                    log_copy(backups, log, remote.config(), &entry.id, Some(&e.to_string()), started, progress);
                    let attempts = st.copies.get(&entry.id).map(|c| c.attempts).unwrap_or(0) + 1;
                    st.copies.insert(
                        entry.id.clone(),
                        CopyRecord {
                            status: CopyStatus::Failed,
                            at: Utc::now(),
                            size: entry.size,
                            checked: None,
                            error: Some(e.to_string()),
                            attempts,
                        },
                    );
                    state::save(backups, &name, &st)?;
                    // One failure stops the run: the next backups would meet the same network.
                    return Err(e);
                }
            }
        }
        let local_ok = listing
            .entries
            .iter()
            .rev()
            .find(|e| !e.is_imported() && !matches!(e.status, Status::Running | Status::Cancelled))
            .is_some_and(|e| e.status == Status::Ok);
        report.removed = apply_remote_retention(remote, &mut st, local_ok, progress)?;
        Ok(())
    })();
    if let Err(e) = result {
        if matches!(e, Error::Cancelled) {
            return Err(e);
        }
        progress.event(Event::Warning(e.to_string()));
        if report.failed.is_none() {
            // The run failed as a whole (unreachable, refused): a line of its own.
            log_copy(
                backups,
                log,
                remote.config(),
                "",
                Some(&e.to_string()),
                st.last_run.unwrap_or_else(Utc::now),
                progress,
            );
        }
        report.error = Some(e.to_string());
    }
    st.last_error = report.error.clone();
    state::save(backups, &name, &st)?;
    Ok(report)
}

/// Forgets a destination removed from the settings: its record of copies and any unfinished
/// upload (the copies there stay). Waits for nothing: a copy running now makes it `Busy`.
pub fn forget(backups: &Path, name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::Usage(format!("{name:?} is not a destination name")));
    }
    let dir = state::state_dir(backups);
    if !dir.is_dir() {
        return Ok(());
    }
    let _lock = DestinationLock::acquire(&dir, "an off-site copy")?;
    state::forget(backups, name)
}

/// Carries a destination's record over to its new name (renamed in the settings), so its
/// copies stay counted instead of being sent again.
pub fn rename(backups: &Path, from: &str, to: &str) -> Result<()> {
    let dir = state::state_dir(backups);
    if !dir.is_dir() || from == to {
        return Ok(());
    }
    let _lock = DestinationLock::acquire(&dir, "an off-site copy")?;
    state::rename(backups, from, to)
}

/// The file that marks a second folder as the one the copies go to.
const MARKER: &str = ".hrsm-backup-destination";

#[derive(Serialize, serde::Deserialize)]
struct Marker {
    id: String,
    note: String,
}

/// A second folder on a removable disk or a share: when the disk is not mounted, its mount
/// point is often still there, empty, on the system disk. Copies written there would fill the
/// wrong disk and the copies made before would all look missing. The folder gets a marker file
/// at its first copy; a folder that once had copies but has no marker now is not that disk,
/// and the copy waits (`Some(reason)`). A record from before markers existed is taken for this
/// folder's only if the folder holds one of the copies it lists. A marker with another id (the
/// destination's record was started afresh on another disk) starts a fresh record. `write`:
/// false for the commands that only look (check), which never write a marker.
fn check_marker(remote: &Remote, st: &mut CopyState, write: bool) -> Result<Option<String>> {
    let copied: Vec<String> =
        st.copies.iter().filter(|(_, c)| c.status != CopyStatus::Failed).map(|(id, _)| id.clone()).collect();
    let found = remote.get_small(MARKER)?;
    let found_id = found.as_deref().map(|b| {
        serde_json::from_slice::<Marker>(b)
            .map(|m| m.id)
            .unwrap_or_else(|_| String::from_utf8_lossy(b).trim().to_string())
    });
    let not_the_disk = || {
        let folder = remote.folder().map(|p| p.display().to_string()).unwrap_or_default();
        Some(format!(
            "the folder {folder} is there but it is not the disk the copies went to (its marker file {MARKER} is missing): is the disk plugged in? If this is another disk, start the destination's record afresh"
        ))
    };
    match (found_id, st.marker.clone()) {
        (Some(id), Some(known)) if known != id => {
            if write {
                tracing::info!("{} holds another disk than before; its copies are counted afresh", remote.name());
                st.copies.clear();
                st.marker = Some(id);
            }
        }
        (Some(id), _) => st.marker = Some(id),
        (None, Some(_)) if !copied.is_empty() => return Ok(not_the_disk()),
        (None, None) if !copied.is_empty() => {
            let there: std::collections::HashSet<String> = remote.list()?.into_iter().map(|o| o.name).collect();
            if !copied.iter().any(|id| there.contains(&archive_name(id))) {
                return Ok(not_the_disk());
            }
            if write {
                write_marker(remote, st)?;
            }
        }
        (None, _) => {
            if write {
                write_marker(remote, st)?;
            }
        }
    }
    Ok(None)
}

fn write_marker(remote: &Remote, st: &mut CopyState) -> Result<()> {
    use rand::RngCore;
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let marker = Marker {
        id: id.clone(),
        note: "This folder holds off-site copies of HR-SM Backup. Keep this file: it tells the program that this is the disk the copies go to.".into(),
    };
    let json =
        serde_json::to_vec_pretty(&marker).map_err(|e| Error::Config(format!("cannot encode the marker: {e}")))?;
    remote.put_small(MARKER, json)?;
    st.marker = Some(id);
    Ok(())
}

/// Uploads one backup, checks it, then writes its catalog entry there: returns the archive's
/// size and the parts an earlier run had already sent.
fn copy_one(catalog: &Catalog, remote: &Remote, entry: &CatalogEntry, progress: &dyn Progress) -> Result<(u64, usize)> {
    let archive = catalog.archive_path(&entry.id);
    let object = archive_name(&entry.id);
    progress.event(Event::Phase("uploading"));
    let resume = state::upload_state_path(catalog.dir(), remote.name());
    let up = remote.upload_file(&archive, &object, &resume, progress)?;
    if up.size != entry.size {
        return Err(Error::Offsite {
            destination: remote.name().into(),
            message: format!(
                "{object}: {} bytes sent, but the backup has {}; the local file changed",
                up.size, entry.size
            ),
        });
    }
    progress.event(Event::Phase("checking the copy"));
    match remote.config().check {
        CheckMode::ReadBack => {
            progress.event(Event::Total(up.size));
            let (size, sha) = remote.read_back(&object, &|n| progress.event(Event::Advance(n.min(1 << 20))))?;
            if size != entry.size || Some(&sha) != entry.sha256.as_ref() {
                return Err(Error::Offsite {
                    destination: remote.name().into(),
                    message: format!(
                        "{object} read back differently from what was sent ({size} bytes, SHA-256 {}...); the copy does not count and is sent again next time",
                        &sha[..12]
                    ),
                });
            }
        }
        CheckMode::Size => {
            if remote.size_of(&object)? != Some(entry.size) {
                return Err(Error::Offsite {
                    destination: remote.name().into(),
                    message: format!("{object} has another size there than what was sent"),
                });
            }
        }
    }
    crate::fault::point("offsite-before-entry");
    let json = serde_json::to_vec_pretty(entry).map_err(|e| Error::Config(format!("cannot encode the entry: {e}")))?;
    remote.put_small(&entry_name(&entry.id), json)?;
    Ok((up.size, up.resumed_parts))
}

/// Looks at every copy recorded as done: gone, or another size, is a problem to report.
/// A copy recorded missing that is back (its archive and entry there, right size) counts again.
fn check_copies(remote: &Remote, st: &mut CopyState, report: &mut CopyReport) -> Result<()> {
    let objects = remote.list()?;
    let size_of = |name: &str| objects.iter().find(|o| o.name == name).map(|o| o.size);
    for (id, rec) in st.copies.iter_mut() {
        if !matches!(rec.status, CopyStatus::Copied | CopyStatus::Missing | CopyStatus::Changed) {
            continue;
        }
        let status = match (size_of(&archive_name(id)), size_of(&entry_name(id))) {
            // A copy found changed by a read-back stays changed until it is sent again: a size
            // that matches proves nothing about the bytes.
            (Some(size), Some(_)) if size == rec.size && rec.status != CopyStatus::Changed => CopyStatus::Copied,
            (Some(_), Some(_)) => CopyStatus::Changed,
            _ => CopyStatus::Missing,
        };
        if status != rec.status {
            rec.status = status;
            rec.at = Utc::now();
        }
        match status {
            CopyStatus::Missing => report.problems.push(format!("{id} is no longer there")),
            CopyStatus::Changed => report.problems.push(format!("{id} has changed there")),
            _ => {}
        }
    }
    Ok(())
}

/// The catalog entries a destination holds (its `.json` objects), oldest first; objects that
/// are not entries of ours are skipped, unreadable entries reported as problems.
pub fn remote_entries(remote: &Remote) -> Result<(Vec<CatalogEntry>, Vec<String>)> {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for o in remote.list()? {
        let Some(_id) = o.name.strip_suffix(&format!(".{ENTRY_EXT}")).filter(|id| id.starts_with("hrsm-")) else {
            continue;
        };
        // An entry removed between the listing and the read is simply gone.
        if let Some(bytes) = remote.get_small(&o.name)? {
            match serde_json::from_slice::<CatalogEntry>(&bytes) {
                Ok(e) if Some(e.id.as_str()) == o.name.strip_suffix(&format!(".{ENTRY_EXT}")) && valid_id(&e.id) => {
                    entries.push(e)
                }
                Ok(e) => problems.push(format!("{} names another backup ({:?}); it is left alone", o.name, e.id)),
                Err(e) => problems.push(format!("{} is not a catalog entry: {e}", o.name)),
            }
        }
    }
    entries.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
    Ok((entries, problems))
}

/// The destination's retention: removes there what its policy lets go (entry first, then the
/// archive, so a listing never shows an entry without its archive).
fn apply_remote_retention(
    remote: &Remote,
    st: &mut CopyState,
    local_ok: bool,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    // Failures here must not cost old copies there, as locally.
    if !local_ok {
        return Ok(Vec::new());
    }
    let (entries, _) = remote_entries(remote)?;
    // Only this machine's copies: another workstation writing to the same place keeps its own,
    // and this one's retention never removes them.
    let host = crate::meta::host_name();
    let entries: Vec<CatalogEntry> = entries.into_iter().filter(|e| e.host == host).collect();
    let policy = RetentionPolicy::from(&remote.config().retention);
    let decisions: Vec<Decision> = plan(&policy, &entries, Utc::now());
    let mut removed = Vec::new();
    for d in decisions.iter().filter(|d| !d.keep) {
        // The store may protect a copy longer than this retention keeps it (a retention lock
        // set at the provider): it stays, said once per run, and is removed once it may be.
        if !remote.delete_unless_locked(&entry_name(&d.id))? || !remote.delete_unless_locked(&archive_name(&d.id))? {
            progress.event(Event::Warning(format!(
                "{} stays at {} for now: the store protects it (a retention lock) beyond this destination's retention",
                d.id,
                remote.name()
            )));
            continue;
        }
        st.copies.remove(&d.id);
        progress.event(Event::Warning(format!("removed {} from {} ({})", d.id, remote.name(), d.reason)));
        removed.push(d.id.clone());
    }
    Ok(removed)
}

/// Checks every copy a destination holds: its size, or (`read_back`) its whole SHA-256
/// against its entry. Returns the problems found (also recorded in the state).
pub fn check_remote(backups: &Path, remote: &Remote, read_back: bool, progress: &dyn Progress) -> Result<CopyReport> {
    let mut report = CopyReport { destination: remote.name().into(), ..Default::default() };
    let mut st = if backups.is_dir() { state::load(backups, remote.config())? } else { CopyState::default() };
    // An empty mount point is not the disk: nothing there is "missing" (and nothing is saved).
    if remote.folder().is_some() {
        if let Some(reason) = check_marker(remote, &mut st, false)? {
            report.waiting = Some(reason);
            return Ok(report);
        }
    }
    check_copies(remote, &mut st, &mut report)?;
    if read_back {
        let (entries, problems) = remote_entries(remote)?;
        report.problems.extend(problems);
        for e in entries {
            let Some(want) = &e.sha256 else { continue };
            progress.event(Event::Phase("checking the copy"));
            progress.event(Event::Total(e.size));
            let (size, sha) = remote.read_back(&archive_name(&e.id), &|_| ())?;
            progress.event(Event::Advance(size));
            if &sha != want || size != e.size {
                report.problems.push(format!("{} has changed there (its SHA-256 is not the backup's)", e.id));
                if let Some(rec) = st.copies.get_mut(&e.id) {
                    rec.status = CopyStatus::Changed;
                    rec.at = Utc::now();
                }
            }
        }
    }
    if backups.is_dir() {
        state::save(backups, remote.name(), &st)?;
    }
    Ok(report)
}

/// Brings backup `id` back from `remote` into the backup folder: the archive streamed to a
/// temp file, its SHA-256 compared with the entry's, then renamed into place and the entry
/// written. The folder is created if it is gone (a new workstation).
pub fn fetch(backups: &Path, remote: &Remote, id: &str, progress: &dyn Progress) -> Result<CatalogEntry> {
    if !valid_id(id) {
        return Err(Error::Usage(format!("{id:?} is not a backup id; list what the off-site copy holds first")));
    }
    let catalog = Catalog::open(backups)?;
    let _lock = DestinationLock::acquire(backups, "a download from an off-site copy")?;
    let Some(bytes) = remote.get_small(&entry_name(id))? else {
        return Err(Error::Usage(format!("{} holds no backup {id}; list what it holds first", remote.name())));
    };
    let entry: CatalogEntry = serde_json::from_slice(&bytes).map_err(|e| Error::Offsite {
        destination: remote.name().into(),
        message: format!("{}: not a catalog entry: {e}", entry_name(id)),
    })?;
    if entry.sha256.is_none() {
        return Err(Error::Offsite {
            destination: remote.name().into(),
            message: format!(
                "{} carries no SHA-256, so the download could not be checked; it was not written by this program",
                entry_name(id)
            ),
        });
    }
    if entry.id != id {
        return Err(Error::Offsite {
            destination: remote.name().into(),
            message: format!("{} names another backup ({})", entry_name(id), entry.id),
        });
    }
    let target = catalog.archive_path(id);
    if target.exists() {
        return Err(Error::Usage(format!("{} is here already; restore it from this folder", target.display())));
    }
    let tmp = backups.join(format!(".fetch-{id}.tmp"));
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    progress.event(Event::Phase("downloading"));
    let got = remote.download_to(&archive_name(id), &mut out, &tmp, progress);
    drop(out);
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if got.size != entry.size || entry.sha256.as_ref().is_some_and(|want| want != &got.sha256) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Corrupt {
            path: target,
            reason: format!(
                "the copy at {} is not the backup that was made ({} bytes, SHA-256 {}...); it was changed or damaged there; choose another backup or another copy",
                remote.name(),
                got.size,
                &got.sha256[..12]
            ),
        });
    }
    std::fs::rename(&tmp, &target).map_err(|e| Error::io("rename", &tmp, e))?;
    crate::fsutil::sync_dir(backups)?;
    catalog.put(&entry)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, days_ago: i64, verified: bool) -> CatalogEntry {
        CatalogEntry {
            archive: Some(format!("{id}.hrsmbk")),
            verified,
            sha256: Some("00".into()),
            ..CatalogEntry::new(id, Status::Ok, Utc::now() - Duration::days(days_ago))
        }
    }

    #[test]
    fn wanted_is_verified_young_or_newest_first() {
        let cfg: OffsiteConfig = toml::from_str(
            "name = \"s3\"\nkind = \"s3\"\nbucket = \"b\"\n[retention]\nkeep_days = 10\nkeep_min_verified = 1",
        )
        .unwrap();
        let es = vec![
            entry("hrsm-a", 30, true),
            entry("hrsm-b", 20, true),
            entry("hrsm-c", 5, false),
            entry("hrsm-d", 2, true),
        ];
        let ids: Vec<String> = wanted(&es, &cfg).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["hrsm-d"]);
        // With nothing young enough, the newest verified one still goes.
        let ids: Vec<String> = wanted(&es[..2], &cfg).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["hrsm-b"]);
    }
}
