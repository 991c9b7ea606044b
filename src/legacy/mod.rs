//! The old backup service of HR-SM (its Node.js `backupService.js`), read: where its backups
//! are (`backups/{daily,weekly,monthly}/<id>.tar.gz.enc` with `backups/metadata/<id>.json`),
//! which keys may open them (the configured key, keys the admin gives, the old and new key of
//! `backups/metadata/key-rotation.json`, keys the service logged in `logs/backup.log`), and
//! how one of them becomes the content of one of our archives (`convert`). The old service
//! never had a working restore: this is the only way back to its backups.
//!
//! Nothing here writes outside the private spool it is given; `ops::import` writes the archive.
//!
//! Depends on `archive` (rules, manifest), `mongo` (the conversions), `store::spool`,
//! `digest`, `fsutil` and `error`.

pub mod cipher;
pub mod convert;
pub mod page;
pub mod unpack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub use convert::convert;

/// The environment variable the old service read its key from (ours reads it too).
pub const OLD_KEY_VARIABLE: &str = "BACKUP_ENCRYPTION_KEY";

/// A key that may open old backups, and where it was found. Its text never leaves this
/// struct: messages name the origin only.
pub struct KeyCandidate {
    pub origin: String,
    text: Zeroizing<String>,
}

impl KeyCandidate {
    pub fn new(origin: impl Into<String>, text: &str) -> Self {
        KeyCandidate { origin: origin.into(), text: Zeroizing::new(text.trim().to_string()) }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Debug for KeyCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("KeyCandidate").field("origin", &self.origin).finish_non_exhaustive()
    }
}

/// The candidate keys in the order they are tried, and the places searched for them.
#[derive(Debug, Default)]
pub struct KeyRing {
    pub candidates: Vec<KeyCandidate>,
    /// Each place looked at, with what it gave ("logs/backup.log: 1 key").
    pub searched: Vec<String>,
}

impl KeyRing {
    /// Adds a key unless the same text is already there (the first origin is the one shown).
    pub fn add(&mut self, origin: impl Into<String>, text: &str) -> bool {
        let c = KeyCandidate::new(origin, text);
        if c.text.is_empty() || self.candidates.iter().any(|k| *k.text == *c.text) {
            return false;
        }
        self.candidates.push(c);
        true
    }

    /// Adds the keys of a text given by the admin (`--keys-from FILE`): one per line; empty
    /// lines and `#` comments are skipped, and a `BACKUP_ENCRYPTION_KEY=` prefix (a copied
    /// `.env` line) and quotes are taken off. Returns how many were new.
    pub fn add_lines(&mut self, text: &str, shown: &str) -> usize {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let Some(key) = key_of_line(line) else { continue };
            if self.add(format!("line {} of {shown}", i + 1), &key) {
                n += 1;
            }
        }
        n
    }
}

/// The key of one line of a key list or `.env` file, if it holds one.
fn key_of_line(line: &str) -> Option<Zeroizing<String>> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let t = t.strip_prefix("export ").unwrap_or(t).trim();
    let t = match t.split_once('=') {
        Some((name, value)) if name.trim() == OLD_KEY_VARIABLE => value.trim(),
        // Another variable of a pasted `.env`; base64 padding (`...=`) only ends a key.
        Some(_) if !t.trim_end_matches('=').contains('=') && !t.contains(' ') => t,
        Some(_) => return None,
        None if t.contains(' ') => return None,
        None => t,
    };
    let t = t.trim_matches(|c| c == '"' || c == '\'');
    (!t.is_empty()).then(|| Zeroizing::new(t.to_string()))
}

/// What the old service's `metadata/<id>.json` says that matters here.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OldMetadata {
    pub timestamp: Option<DateTime<Utc>>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Size of the `.tar.gz.enc` file when it was written.
    pub size: Option<u64>,
    /// Component name (`hrms`, `uploads`, `config-files`, `rsa-keys`, `source-code`) to SHA-256.
    pub checksums: BTreeMap<String, String>,
    /// Inner file name (`hrms.archive`) to the component name its checksum is under.
    pub files: BTreeMap<String, String>,
}

impl OldMetadata {
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let s = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let mut m = OldMetadata {
            timestamp: s("timestamp")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
            kind: s("type"),
            status: s("status"),
            size: obj.get("size").and_then(|v| v.as_u64()),
            ..Default::default()
        };
        if let Some(c) = obj.get("checksums").and_then(|v| v.as_object()) {
            for (k, v) in c {
                if let Some(h) = v.as_str() {
                    m.checksums.insert(k.clone(), h.to_ascii_lowercase());
                }
            }
        }
        for c in obj.get("components").and_then(|v| v.as_array()).into_iter().flatten() {
            let name = c.get("component").or_else(|| c.get("database")).and_then(|v| v.as_str());
            let file = c.get("path").and_then(|v| v.as_str()).and_then(|p| p.rsplit(['/', '\\']).next());
            if let (Some(name), Some(file)) = (name, file) {
                m.files.insert(file.to_string(), name.to_string());
            }
        }
        Ok(m)
    }
}

/// Which of HR-SM's old systems wrote a backup, and so how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The backup service: `<id>.tar.gz.enc`, a tar of parts with a metadata file.
    Service,
    /// The Backups page: `database-<ts>.gz[.enc]`, one `mongodump --archive --gzip`.
    PageArchive,
    /// The Backups page without mongodump: `database-<ts>.json.gz[.enc]`.
    PageJson,
    /// The Backups page's `files-`, `config-` and `incremental-<ts>.tar.gz`.
    PageFiles,
}

/// One backup of the old service or of the old Backups page (`page`).
#[derive(Debug, Clone, Serialize)]
pub struct LegacyBackup {
    /// The old file (`.tar.gz.enc`, or one of the page's files).
    pub file: PathBuf,
    /// Its name relative to the old `backups/` folder, e.g. `daily/daily-backup-....tar.gz.enc`.
    pub name: String,
    /// The old id (the file name without its extensions).
    pub id: String,
    /// `daily`, `weekly` or `monthly`: the metadata's type, else the folder; for the page's
    /// files, its folder (`database`, `full`, `files`, `configuration`, `incremental`).
    pub kind: String,
    /// When it was made: the metadata's timestamp, else the time in the id, else the file's.
    pub made: DateTime<Utc>,
    #[serde(skip)]
    pub metadata: Option<OldMetadata>,
    /// Why there is no metadata (missing or unreadable): a warning, not a failure.
    pub metadata_problem: Option<String>,
    pub format: Format,
    /// Whether it must be decrypted (the service's always are; the page's when `.enc`).
    pub encrypted: bool,
    /// The database a JSON export of the page is imported as (it names none).
    #[serde(skip)]
    pub database: Option<String>,
    /// The page's files of one run (a "full" run writes its database and its files with the
    /// same time), `file` first; empty for the service's backups.
    #[serde(skip)]
    pub parts: Vec<PagePart>,
}

/// One file of a run of the old Backups page.
#[derive(Debug, Clone)]
pub struct PagePart {
    pub file: PathBuf,
    /// Its name relative to the old `backups/` folder.
    pub name: String,
    /// Its stem (`database-<ts>`, `files-<ts>`...).
    pub stem: String,
    pub format: Format,
    pub encrypted: bool,
    /// The SHA-256 the page recorded of it in HR-SM's database, when it did.
    pub recorded_sha256: Option<String>,
}

impl LegacyBackup {
    /// The SHA-256 that identifies it: its file's, or for a run of several files, of their
    /// names and SHA-256s (so importing the same files again finds the earlier import). Each
    /// file is read once here, and checked on the way against the SHA-256 the Backups page
    /// recorded of it in HR-SM's database, when it did: a mismatch fails the import.
    pub fn fingerprint(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let hash = |file: &Path, recorded: Option<&String>| -> Result<String> {
            let (_, sha) = crate::digest::hash_file(file).map_err(|e| Error::io("read", file, e))?;
            match recorded {
                Some(want) if *want != sha => Err(Error::Corrupt {
                    path: file.to_path_buf(),
                    reason: format!(
                        "it does not match the SHA-256 the Backups page recorded for it in HR-SM's {}: it was \
                         changed or damaged; nothing of it was imported",
                        page::EXECUTIONS_COLLECTION
                    ),
                }),
                _ => Ok(sha),
            }
        };
        if self.parts.len() <= 1 {
            return hash(&self.file, self.parts.first().and_then(|p| p.recorded_sha256.as_ref()));
        }
        let mut h = Sha256::new();
        for p in &self.parts {
            let sha = hash(&p.file, p.recorded_sha256.as_ref())?;
            h.update(format!("{}\0{sha}\n", p.name));
        }
        Ok(hex::encode(h.finalize()))
    }
}

/// What `scan` found in an old installation.
#[derive(Debug)]
pub struct LegacyScan {
    /// The old `backups/` folder.
    pub backups_dir: PathBuf,
    /// The installation root (with `logs/` and `.env`), when it could be told.
    pub root: Option<PathBuf>,
    /// Oldest first.
    pub backups: Vec<LegacyBackup>,
    pub keys: KeyRing,
    /// Files in the Backups page's folders that are none of its backups (not imported), with
    /// why: shown so that nothing is left behind without a word.
    pub skipped: Vec<String>,
}

/// The time in an old id: `daily-backup-2026-03-14T02-00-00-123Z` (the ISO time with `:` and
/// `.` made `-`); `system-backup-...` and `tenant-<t>-backup-...` likewise.
pub fn time_of_id(id: &str) -> Option<DateTime<Utc>> {
    let at = id.rfind("backup-")? + "backup-".len();
    let t = NaiveDateTime::parse_from_str(id.get(at..)?, "%Y-%m-%dT%H-%M-%S-%3fZ").ok()?;
    Some(t.and_utc())
}

/// Finds the old backups under `dir` (the installation root holding `backups/` and `logs/`,
/// or the `backups/` folder itself) and adds the keys found there to `keys`. The page's JSON
/// exports are imported as the main database of `main` (they name none), and the page's keys
/// are read from that database when one of its files is encrypted.
pub fn scan(dir: &Path, mut keys: KeyRing, main: Option<&crate::mongo::MongoSource>) -> Result<LegacyScan> {
    let main_database =
        main.and_then(|m| m.databases.first().cloned()).unwrap_or_else(|| crate::config::DEFAULT_MAIN_DB.to_string());
    let has_kinds = |d: &Path| {
        ["daily", "weekly", "monthly", "metadata"].iter().any(|k| d.join(k).is_dir()) || page::has_folders(d)
    };
    let (backups_dir, root) = if dir.join("backups").is_dir() && has_kinds(&dir.join("backups")) {
        (dir.join("backups"), Some(dir.to_path_buf()))
    } else if has_kinds(dir) {
        let parent = dir.parent().filter(|p| p.join("logs").is_dir() || p.join(".env").is_file());
        (dir.to_path_buf(), parent.map(Path::to_path_buf))
    } else {
        return Err(Error::Usage(format!(
            "{} holds no backups of the old backup service: give its backups/ folder (with daily/, weekly/, \
             monthly/ and metadata/, or the Backups page's database/, full/, files/...) or the HR-SM folder \
             that holds it",
            dir.display()
        )));
    };
    let mut backups = Vec::new();
    for kind in ["daily", "weekly", "monthly"] {
        let folder = backups_dir.join(kind);
        let Ok(rd) = std::fs::read_dir(&folder) else { continue };
        for dent in rd.flatten() {
            let name = dent.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".tar.gz.enc") else { continue };
            if !dent.file_type().map(|t| t.is_file()).unwrap_or(false) {
                continue;
            }
            let meta_path = backups_dir.join("metadata").join(format!("{id}.json"));
            let (metadata, metadata_problem) = match std::fs::read(&meta_path) {
                Ok(b) => match OldMetadata::parse(&b) {
                    Ok(m) => (Some(m), None),
                    Err(e) => (None, Some(format!("metadata/{id}.json is unreadable ({e})"))),
                },
                Err(_) => (None, Some(format!("metadata/{id}.json is missing"))),
            };
            let made = metadata
                .as_ref()
                .and_then(|m| m.timestamp)
                .or_else(|| time_of_id(id))
                .or_else(|| dent.metadata().ok().and_then(|m| m.modified().ok()).map(DateTime::<Utc>::from))
                .unwrap_or_else(Utc::now);
            let kind = metadata.as_ref().and_then(|m| m.kind.clone()).unwrap_or_else(|| kind.to_string());
            backups.push(LegacyBackup {
                file: dent.path(),
                name: format!("{}/{name}", folder.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
                id: id.to_string(),
                kind,
                made,
                metadata,
                metadata_problem,
                format: Format::Service,
                encrypted: true,
                database: None,
                parts: Vec::new(),
            });
        }
    }
    let skipped = page::scan(&backups_dir, &main_database, &mut backups);
    backups.sort_by(|a, b| a.made.cmp(&b.made).then_with(|| a.name.cmp(&b.name)));
    if let Some(root) = &root {
        keys_of_env_file(&root.join(".env"), &mut keys);
    }
    keys_of_rotation(&backups_dir.join("metadata").join("key-rotation.json"), &mut keys);
    let logs = root.as_ref().map(|r| r.join("logs")).filter(|l| l.is_dir());
    match logs {
        Some(logs) => keys_of_logs(&logs, &mut keys),
        None => keys.searched.push("logs/backup.log: not found next to the backups folder".into()),
    }
    if backups.iter().any(|b| b.format != Format::Service) {
        let want_keys = backups.iter().any(|b| b.encrypted && b.format != Format::Service);
        match main {
            Some(m) => {
                let sums = page::read_database(&m.uri, &main_database, want_keys, &mut keys);
                for b in backups.iter_mut() {
                    for p in b.parts.iter_mut() {
                        let file = p.name.rsplit('/').next().unwrap_or(&p.name);
                        p.recorded_sha256 = sums.get(file).cloned();
                    }
                }
            }
            None if want_keys => keys.searched.push(format!(
                "{main_database}.{} (the Backups page's settings): not read, MongoDB is switched off in the settings",
                page::SETTINGS_COLLECTION
            )),
            None => {}
        }
    }
    Ok(LegacyScan { backups_dir, root, backups, keys, skipped })
}

/// `BACKUP_ENCRYPTION_KEY=` in the installation's `.env` (where PM2 and dotenv sites keep it).
fn keys_of_env_file(path: &Path, keys: &mut KeyRing) {
    let Ok(text) = std::fs::read_to_string(path).map(Zeroizing::new) else {
        keys.searched.push(format!("{OLD_KEY_VARIABLE} in {}: no such file", path.display()));
        return;
    };
    let mut n = 0;
    for line in text.lines() {
        let t = line.trim();
        let t = t.strip_prefix("export ").unwrap_or(t);
        if t.split_once('=').map(|(k, _)| k.trim() == OLD_KEY_VARIABLE).unwrap_or(false) {
            if let Some(k) = key_of_line(t) {
                if keys.add(format!("{OLD_KEY_VARIABLE} in {}", path.display()), &k) {
                    n += 1;
                }
            }
        }
    }
    keys.searched.push(format!("{OLD_KEY_VARIABLE} in {}: {}", path.display(), count(n)));
}

/// The old and new key of the last rotation (`{timestamp, oldKey, newKey}`).
fn keys_of_rotation(path: &Path, keys: &mut KeyRing) {
    let shown = "backups/metadata/key-rotation.json";
    let Ok(bytes) = std::fs::read(path).map(Zeroizing::new) else {
        keys.searched.push(format!("{shown}: not found"));
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        keys.searched.push(format!("{shown}: not valid JSON"));
        return;
    };
    let day = v
        .get("timestamp")
        .and_then(|t| t.as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| format!(" of {}", t.format("%Y-%m-%d")))
        .unwrap_or_default();
    let mut n = 0;
    for (field, which) in [("oldKey", "old"), ("newKey", "new")] {
        if let Some(k) = v.get(field).and_then(|k| k.as_str()) {
            if keys.add(format!("the {which} key of key-rotation.json{day}"), k) {
                n += 1;
            }
        }
    }
    keys.searched.push(format!("{shown}: {}", count(n)));
}

/// Keys the old service logged: with the variable unset it made one and logged it
/// (`{"key":"<hex>","level":"warn","message":"Generated new backup encryption key. Store this
/// securely!","timestamp":...}`), and each rotation logged the new one (`"newKey"`). winston
/// writes one JSON object per line.
fn keys_of_logs(logs: &Path, keys: &mut KeyRing) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(logs)
        .map(|rd| {
            rd.flatten()
                .map(|d| d.path())
                .filter(|p| {
                    let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    n.starts_with("backup") && n.contains(".log") && !n.starts_with("backup-")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        keys.searched.push("logs/backup.log: not found".into());
    }
    for file in files {
        let shown = format!("logs/{}", file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        let Ok(text) = std::fs::read(&file).map(|b| Zeroizing::new(String::from_utf8_lossy(&b).into_owned())) else {
            keys.searched.push(format!("{shown}: unreadable"));
            continue;
        };
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            if !line.contains("ey\"") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let day = v
                .get("timestamp")
                .and_then(|t| t.as_str())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| format!(" on {}", t.format("%Y-%m-%d")))
                .unwrap_or_default();
            for field in ["key", "newKey", "oldKey"] {
                let Some(k) = v.get(field).and_then(|k| k.as_str()) else { continue };
                if k.len() == 64
                    && k.bytes().all(|b| b.is_ascii_hexdigit())
                    && keys.add(format!("the key logged in {shown}{day} (line {})", i + 1), k)
                {
                    n += 1;
                }
            }
        }
        keys.searched.push(format!("{shown}: {}", count(n)));
    }
}

fn count(n: usize) -> String {
    match n {
        0 => "no key".into(),
        1 => "1 key".into(),
        n => format!("{n} keys"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_give_their_time() {
        let t = time_of_id("daily-backup-2026-03-14T02-00-00-123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-14T02:00:00.123+00:00");
        assert!(time_of_id("tenant-acme-backup-2026-01-01T04-00-00-000Z").is_some());
        assert!(time_of_id("daily-backup-garbage").is_none());
    }

    #[test]
    fn metadata_maps_inner_files_to_their_checksums() {
        let m = OldMetadata::parse(
            br#"{"id":"daily-backup-2026-03-14T02-00-00-123Z","type":"weekly","timestamp":"2026-03-14T02:00:00.123Z",
            "components":[{"type":"mongodb","database":"hrms","path":"/srv/hr/backups/daily/x/hrms.archive"},
            {"type":"files","component":"uploads","path":"C:\\HR\\backups\\daily\\x\\uploads.tar.gz"}],
            "status":"completed","checksums":{"hrms":"AB","uploads":"cd"},"size":1234}"#,
        )
        .unwrap();
        assert_eq!(m.kind.as_deref(), Some("weekly"));
        assert_eq!(m.size, Some(1234));
        assert_eq!(m.files["hrms.archive"], "hrms");
        assert_eq!(m.files["uploads.tar.gz"], "uploads");
        assert_eq!(m.checksums["hrms"], "ab");
    }

    #[test]
    fn key_lists_and_logs_give_candidates_without_duplicates() {
        let mut ring = KeyRing::default();
        let a = "a".repeat(64);
        let text = format!("# old keys\n\n{a}\nBACKUP_ENCRYPTION_KEY=\"{}\"\n{a}\n", "b".repeat(64));
        assert_eq!(ring.add_lines(&text, "keys.txt"), 2);
        assert_eq!(ring.candidates[0].origin, "line 3 of keys.txt");
        assert_eq!(ring.candidates[1].origin, "line 4 of keys.txt");
        assert_eq!(ring.candidates[1].text(), "b".repeat(64));
        let t = tempfile::tempdir().unwrap();
        let logs = t.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let c = "c".repeat(64);
        std::fs::write(
            logs.join("backup.log"),
            format!(
                "{{\"level\":\"info\",\"message\":\"Starting comprehensive daily backup\",\"timestamp\":\"2026-01-10T02:00:00.000Z\"}}\n\
                 {{\"key\":\"{c}\",\"level\":\"warn\",\"message\":\"Generated new backup encryption key. Store this securely!\",\"timestamp\":\"2026-01-10T02:00:00.100Z\"}}\n"
            ),
        )
        .unwrap();
        keys_of_logs(&logs, &mut ring);
        assert_eq!(ring.candidates[2].origin, "the key logged in logs/backup.log on 2026-01-10 (line 2)");
        assert_eq!(ring.searched, vec!["logs/backup.log: 1 key"]);
        let debug = format!("{ring:?}");
        assert!(!debug.contains(&a) && !debug.contains(&c), "keys never show in Debug");
    }
}
