//! The catalog: one small JSON file next to each archive (`<id>.json` beside `<id>.hrsmbk`),
//! written after the archive, atomically. Listing reads these summaries, never the archives,
//! so it stays fast however large the backups are. A failed run gets a catalog entry too (with
//! its error and no archive), so the history shows failures.
//!
//! Depends on `fsutil` and `error`.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::archive::manifest::Origin;
use crate::error::{Error, Result};
use crate::fsutil::{create_private_dir_all, write_atomic};

pub const ARCHIVE_EXT: &str = "hrsmbk";
pub const ENTRY_EXT: &str = "json";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    /// A backup in progress; one found when nobody holds the lock was interrupted.
    Running,
    /// An archive with no catalog entry (e.g. copied in by hand): not trusted until verified.
    Unindexed,
    /// Stopped by the admin: neither a backup nor a failure; nothing of it was kept.
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogEntry {
    pub id: String,
    pub status: Status,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub duration_ms: u64,
    /// File name of the archive in the destination folder; None for a failed run.
    pub archive: Option<String>,
    /// Archive size in bytes.
    pub size: u64,
    pub key_id: Option<String>,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    /// Files and their bytes in the backup.
    pub files: u64,
    pub bytes: u64,
    pub sources: Vec<String>,
    /// MongoDB databases and their total documents.
    #[serde(default)]
    pub databases: Vec<String>,
    #[serde(default)]
    pub documents: u64,
    pub error: Option<String>,
    pub host: String,
    pub app_version: String,
    #[serde(default)]
    pub warnings: u64,
    /// When a test restore of this backup last ran, and its error if it failed.
    #[serde(default)]
    pub restore_tested_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub restore_test_error: Option<String>,
    /// Set for a backup imported from the old backup service (`hrsm-backup import-legacy`):
    /// `started` is then the original date, and retention never removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// SHA-256 (hex) of the archive file as it was written (absent in entries of older versions
    /// and of archives this program did not write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Who started the run (absent in entries of older versions): a safety copy taken before a
    /// restore is listed as such.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<crate::store::runlog::Trigger>,
}

impl CatalogEntry {
    /// An entry with its id, status and start time; no archive, counts zero, this host and
    /// version. Callers set what they know on top (`CatalogEntry { size, ..new(..) }`).
    pub fn new(id: impl Into<String>, status: Status, started: DateTime<Utc>) -> Self {
        CatalogEntry {
            id: id.into(),
            status,
            started,
            finished: started,
            duration_ms: 0,
            archive: None,
            size: 0,
            key_id: None,
            verified: false,
            verified_at: None,
            files: 0,
            bytes: 0,
            sources: Vec::new(),
            databases: Vec::new(),
            documents: 0,
            error: None,
            host: crate::meta::host_name(),
            app_version: crate::meta::APP_VERSION.into(),
            warnings: 0,
            restore_tested_at: None,
            restore_test_error: None,
            origin: None,
            sha256: None,
            trigger: None,
        }
    }

    /// True for a good backup imported from the old backup service.
    pub fn is_imported(&self) -> bool {
        self.origin.is_some() && self.status == Status::Ok && self.archive.is_some()
    }
}

pub struct Catalog {
    dir: PathBuf,
}

/// What `list` found: entries sorted oldest first, and files it could not read.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<CatalogEntry>,
    pub problems: Vec<String>,
}

impl Catalog {
    /// Opens (creating, mode 0700) the destination folder.
    pub fn open(dir: &Path) -> Result<Self> {
        create_private_dir_all(dir)?;
        Ok(Catalog { dir: dir.to_path_buf() })
    }

    /// Opens an existing destination without creating it.
    pub fn existing(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "{} is not a backup folder (it does not exist); check `destination` in the config",
                dir.display()
            )));
        }
        Ok(Catalog { dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn archive_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ARCHIVE_EXT}"))
    }

    fn entry_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ENTRY_EXT}"))
    }

    /// Writes (or replaces) an entry atomically.
    pub fn put(&self, entry: &CatalogEntry) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(entry).map_err(|e| Error::Config(format!("cannot encode catalog entry: {e}")))?;
        write_atomic(&self.entry_path(&entry.id), &bytes)
    }

    pub fn get(&self, id: &str) -> Result<Option<CatalogEntry>> {
        let p = self.entry_path(id);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Corrupt { path: p, reason: format!("catalog entry is not valid JSON: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &p, e)),
        }
    }

    /// The id of an archive file in this folder, from its file name.
    pub fn id_of(path: &Path) -> Option<String> {
        let name = path.file_name()?.to_str()?;
        name.strip_suffix(&format!(".{ARCHIVE_EXT}")).map(str::to_owned)
    }

    /// All entries, oldest first; archives without an entry show as `Unindexed`.
    pub fn list(&self) -> Result<Listing> {
        let mut listing = Listing::default();
        let mut archives = std::collections::BTreeSet::new();
        let mut ids = std::collections::HashSet::new();
        let rd = fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        for dent in rd {
            let dent = dent.map_err(|e| Error::io("list", &self.dir, e))?;
            let name = dent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue; // temp files and the lock
            }
            if let Some(id) = name.strip_suffix(&format!(".{ARCHIVE_EXT}")) {
                archives.insert(id.to_string());
            } else if name.ends_with(&format!(".{ENTRY_EXT}")) {
                match fs::read(dent.path())
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<CatalogEntry>(&b).map_err(|e| e.to_string()))
                {
                    Ok(mut e) => {
                        ids.insert(e.id.clone());
                        if let (Status::Ok, Some(a)) = (e.status, &e.archive) {
                            if !self.dir.join(a).exists() {
                                e.status = Status::Failed;
                                e.verified = false;
                                e.error = Some(format!("the archive {a} is missing"));
                            }
                        }
                        listing.entries.push(e);
                    }
                    Err(e) => listing.problems.push(format!("{}: {e}", dent.path().display())),
                }
            }
        }
        for id in archives.difference(&ids.into_iter().collect()) {
            let path = self.archive_path(id);
            let meta = fs::metadata(&path).map_err(|e| Error::io("read", &path, e))?;
            let when: DateTime<Utc> = meta.modified().map(DateTime::from).unwrap_or_else(|_| Utc::now());
            listing.entries.push(CatalogEntry {
                archive: Some(format!("{id}.{ARCHIVE_EXT}")),
                size: meta.len(),
                error: Some("no catalog entry; run `hrsm-backup verify` on it".into()),
                // Unknown: no run of this program wrote it.
                host: String::new(),
                app_version: String::new(),
                ..CatalogEntry::new(id.clone(), Status::Unindexed, when)
            });
        }
        listing.entries.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
        Ok(listing)
    }

    /// Turns runs a crash interrupted (`running` entries found while we hold the lock) into
    /// failed ones and removes whatever archive they left. Returns their ids.
    pub fn recover_interrupted(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for mut e in self.list()?.entries.into_iter().filter(|e| e.status == Status::Running) {
            let archive = self.archive_path(&e.id);
            match fs::remove_file(&archive) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io("remove", &archive, err)),
            }
            e.status = Status::Failed;
            e.archive = None;
            e.verified = false;
            e.error = Some("interrupted: the process stopped before the backup was complete".into());
            self.put(&e)?;
            ids.push(e.id);
        }
        Ok(ids)
    }

    /// Removes what a crashed run left behind: temp files (`.<name>.tmp`), dump spools
    /// (`.spool-<id>/`) and tool config files. Call it only while holding the lock.
    pub fn clean_leftovers(&self) -> Result<usize> {
        let mut n = 0;
        let rd = fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        for dent in rd.flatten() {
            let name = dent.file_name();
            let name = name.to_string_lossy();
            let gone = if name.starts_with('.') && name.ends_with(".tmp") {
                fs::remove_file(dent.path()).is_ok()
            } else if name.starts_with(".spool-") || name.starts_with(".mongotools-") {
                fs::remove_dir_all(dent.path()).or_else(|_| fs::remove_file(dent.path())).is_ok()
            } else {
                false
            };
            if gone {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A new backup id: `hrsm-<UTC time>-<4 random hex>`; sorts by time.
pub fn new_id(now: DateTime<Utc>, random: u16) -> String {
    format!("hrsm-{}-{random:04x}", now.format("%Y%m%dT%H%M%SZ"))
}
