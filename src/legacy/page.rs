//! The files of HR-SM's older "Backups" page (its `backup.controller.js` and
//! `mongooseBackup.service.js`), found: each configured backup wrote into
//! `backups/<backupType>/` (`database`, `files`, `configuration`, `full`, `incremental`):
//!
//! - `database-<ts>.gz`: `mongodump --uri=<MONGODB_URI> --archive --gzip`, the URI's database;
//! - `database-<ts>.json.gz`: where mongodump was missing, `JSON.stringify` of
//!   `{<collection>: [documents]}`, gzip'd;
//! - either one with `.enc` after it when the configuration asked for encryption: AES-256-CBC
//!   with a 16-byte IV first, under a random 64-hex key the page kept in the configuration's
//!   own document (`settings.encryption.encryptionKey` in HR-SM's `backups` collection);
//! - `files-<ts>.tar.gz`, `config-<ts>.tar.gz`, `incremental-<ts>.tar.gz`: `tar -czf` of the
//!   paths the configuration listed, never encrypted.
//!
//! `<ts>` is the ISO time with `:` and `.` made `-`, as the service's ids. The page wrote no
//! metadata file: the file's integrity rests on the cipher's padding and gzip's CRC.
//!
//! Depends on `legacy` (its backup and key types), `mongo::client` (reading the keys) and
//! `error`.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{Format, KeyRing, LegacyBackup, PagePart};

/// The page's `backupType` folders.
pub const FOLDERS: [&str; 5] = ["database", "full", "files", "configuration", "incremental"];

/// The collection where the page kept its configurations (and their keys).
pub const SETTINGS_COLLECTION: &str = "backups";

/// The time in a page file's stem: `database-2026-03-14T02-00-00-123Z`.
pub fn time_of_stem(stem: &str) -> Option<DateTime<Utc>> {
    let (_, ts) = stem.split_once('-')?;
    Some(NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H-%M-%S-%3fZ").ok()?.and_utc())
}

/// What a file name says it is: its format, whether it is encrypted, and its stem.
fn classify(name: &str) -> Option<(Format, bool, &str)> {
    let (rest, encrypted) = match name.strip_suffix(".enc") {
        Some(r) => (r, true),
        None => (name, false),
    };
    if let Some(stem) = rest.strip_suffix(".json.gz").filter(|s| s.starts_with("database-")) {
        return Some((Format::PageJson, encrypted, stem));
    }
    if let Some(stem) = rest.strip_suffix(".gz").filter(|s| s.starts_with("database-")) {
        return Some((Format::PageArchive, encrypted, stem));
    }
    let stem = rest.strip_suffix(".tar.gz")?;
    ["files-", "config-", "incremental-"].iter().any(|p| stem.starts_with(p)).then_some((
        Format::PageFiles,
        encrypted,
        stem,
    ))
}

/// Whether `dir` holds one of the page's folders with one of its files in it (a folder named
/// `files` alone says nothing).
pub fn has_folders(dir: &Path) -> bool {
    FOLDERS.iter().any(|f| {
        std::fs::read_dir(dir.join(f))
            .map(|rd| rd.flatten().any(|d| classify(&d.file_name().to_string_lossy()).is_some()))
            .unwrap_or(false)
    })
}

/// A file of a run with the time it was made, when known.
type Dated = (PagePart, Option<DateTime<Utc>>);

/// The page's files under `backups_dir`, one backup per run: the files of one folder with the
/// same time in their names (a "full" run writes its database and its files). A JSON export
/// names no database: it is imported as `main_database` (what the page's URI named on HR-SM's
/// own defaults). Returns the files of those folders that are none of the page's backups.
pub fn scan(backups_dir: &Path, main_database: &str, out: &mut Vec<LegacyBackup>) -> Vec<String> {
    let mut skipped = Vec::new();
    for folder in FOLDERS {
        let Ok(rd) = std::fs::read_dir(backups_dir.join(folder)) else { continue };
        // (the time in the names, else the whole stem) -> the run's files.
        let mut runs: std::collections::BTreeMap<String, Vec<Dated>> = Default::default();
        for dent in rd.flatten() {
            let name = dent.file_name().to_string_lossy().into_owned();
            if !dent.file_type().map(|t| t.is_file()).unwrap_or(false) {
                continue;
            }
            let Some((format, encrypted, stem)) = classify(&name) else {
                skipped.push(format!("{folder}/{name}: not one of the Backups page's files; not imported"));
                continue;
            };
            let made = time_of_stem(stem)
                .or_else(|| dent.metadata().ok().and_then(|m| m.modified().ok()).map(DateTime::<Utc>::from));
            let run = time_of_stem(stem).map(|_| stem.split_once('-').map(|(_, t)| t).unwrap_or(stem)).unwrap_or(stem);
            let part = PagePart {
                file: dent.path(),
                name: format!("{folder}/{name}"),
                stem: stem.to_string(),
                format,
                encrypted,
                recorded_sha256: None,
            };
            runs.entry(run.to_string()).or_default().push((part, made));
        }
        for (_, mut parts) in runs {
            // The database first (it names the run), then the files, each kind once.
            parts.sort_by_key(|(p, _)| (p.format == Format::PageFiles, p.name.clone()));
            let made = parts.iter().find_map(|(_, m)| *m).unwrap_or_else(Utc::now);
            let parts: Vec<PagePart> = parts.into_iter().map(|(p, _)| p).collect();
            let Some(first) = parts.first() else { continue };
            let name = match parts.len() {
                1 => first.name.clone(),
                _ => format!(
                    "{folder}/{}",
                    parts.iter().map(|p| p.name.rsplit('/').next().unwrap_or(&p.name)).collect::<Vec<_>>().join(" + ")
                ),
            };
            out.push(LegacyBackup {
                file: first.file.clone(),
                name,
                id: first.stem.clone(),
                kind: folder.to_string(),
                made,
                metadata: None,
                metadata_problem: None,
                format: first.format,
                encrypted: parts.iter().any(|p| p.encrypted),
                database: parts.iter().any(|p| p.format == Format::PageJson).then(|| main_database.to_string()),
                parts,
            });
        }
    }
    skipped
}

/// Where the page recorded each run (`backupFile`, `checksum`: the SHA-256 of the file as it
/// wrote it).
pub const EXECUTIONS_COLLECTION: &str = "backupexecutions";

/// What HR-SM's database says of the page's files: adds the keys the page kept in
/// `<db>.backups` (`settings.encryption.encryptionKey` of each configuration, active or not:
/// a removed configuration's files may still be there) when `want_keys`, and returns the
/// SHA-256 it recorded of each file (`<db>.backupexecutions`), by file name. The server is
/// asked once, briefly: an unreachable one is noted among the places searched.
pub fn read_database(
    uri: &str,
    db: &str,
    want_keys: bool,
    keys: &mut KeyRing,
) -> std::collections::HashMap<String, String> {
    use bson::{doc, Document};
    let shown = format!("{db}.{SETTINGS_COLLECTION} (the Backups page's settings)");
    let client = match crate::mongo::client::connect_within(uri, std::time::Duration::from_secs(5)) {
        Ok(c) => c,
        Err(e) => {
            keys.searched.push(format!("{shown}: could not be read ({e})"));
            return Default::default();
        }
    };
    let read = |coll: &str, filter: Document, projection: Document| -> crate::error::Result<Vec<Document>> {
        let what = format!("read {db}.{coll}");
        let cursor = client
            .database(db)
            .collection::<Document>(coll)
            .find(filter)
            .projection(projection)
            .run()
            .map_err(|e| crate::mongo::client::explain(uri, &what, e))?;
        cursor.map(|d| d.map_err(|e| crate::mongo::client::explain(uri, &what, e))).collect()
    };
    // Each read on its own: a role that may read one collection and not the other still
    // gives what it can.
    if want_keys {
        match read(
            SETTINGS_COLLECTION,
            doc! {"settings.encryption.encryptionKey": {"$type": "string"}},
            doc! {"name": 1, "settings.encryption.encryptionKey": 1},
        ) {
            Ok(list) => {
                let mut n = 0;
                for d in list {
                    let name = d.get_str("name").unwrap_or("unnamed").to_string();
                    let key = zeroize::Zeroizing::new(
                        d.get_document("settings")
                            .and_then(|s| s.get_document("encryption"))
                            .and_then(|e| e.get_str("encryptionKey"))
                            .unwrap_or_default()
                            .to_string(),
                    );
                    if keys.add(
                        format!("the key of the Backups page's configuration {name:?} in {db}.{SETTINGS_COLLECTION}"),
                        &key,
                    ) {
                        n += 1;
                    }
                }
                keys.searched.push(format!("{shown}: {}", super::count(n)));
            }
            Err(e) => keys.searched.push(format!("{shown}: could not be read ({e})")),
        }
    }
    let mut sums = std::collections::HashMap::new();
    match read(
        EXECUTIONS_COLLECTION,
        doc! {"backupFile": {"$type": "string"}, "checksum": {"$type": "string"}},
        doc! {"backupFile": 1, "checksum": 1},
    ) {
        Ok(list) => {
            for d in list {
                if let (Ok(file), Ok(sum)) = (d.get_str("backupFile"), d.get_str("checksum")) {
                    if sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                        sums.insert(file.to_string(), sum.to_ascii_lowercase());
                    }
                }
            }
        }
        Err(e) => tracing::warn!(
            "{db}.{EXECUTIONS_COLLECTION} (the Backups page's run log) could not be read ({e}): its files are checked \
             without the SHA-256 it recorded"
        ),
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_file_names_say_what_they_hold() {
        assert_eq!(
            classify("database-2026-03-14T02-00-00-123Z.gz.enc"),
            Some((Format::PageArchive, true, "database-2026-03-14T02-00-00-123Z"))
        );
        assert_eq!(classify("database-x.json.gz"), Some((Format::PageJson, false, "database-x")));
        assert_eq!(classify("config-x.tar.gz"), Some((Format::PageFiles, false, "config-x")));
        assert_eq!(classify("incremental-x.tar.gz"), Some((Format::PageFiles, false, "incremental-x")));
        assert_eq!(classify("notes.gz"), None);
        assert_eq!(classify("daily-backup-x.tar.gz.enc"), None);
        let t = time_of_stem("files-2026-03-14T02-00-00-123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-14T02:00:00.123+00:00");
        assert!(time_of_stem("database-yesterday").is_none());
    }
}
