//! One old backup into a private spool folder, ready to be packed as one of our archives:
//! find the key that opens it, decrypt and extract it (untrusted: our path rules), check every
//! inner file's SHA-256 against the old metadata, then convert each part:
//!
//! | old inner file | becomes |
//! |---|---|
//! | `<db>.archive` (`mongodump --archive --gzip`) | `mongo/<db>/` as `mongodump --out` writes it, byte for byte |
//! | `<db>-export.json` | `mongo/<db>/`, types guessed from the JSON (`mongo::jsonexport`) |
//! | `uploads.tar.gz` | sources `uploads` and `server-uploads` |
//! | `configuration.tar.gz` | source `config` |
//! | `rsa-keys.encrypted` (encrypted again, same key) | source `license-keys` |
//! | `application-code.tar.gz` | source `application-code` |
//!
//! Depends on `legacy::{cipher, unpack}`, `mongo` (dump layout, archive reading, JSON export),
//! `digest`, `fsutil` and `error`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::cipher::{ciphers_for, Cipher, Fit, Variant};
use super::unpack::extract_tar;
use super::{Format, KeyRing, LegacyBackup};
use crate::error::{Error, Result};
use crate::mongo::{DatabasePart, MongoPart};
use crate::progress::{Event, Progress};

/// A file source of the converted backup: its name in the archive, its folder in the spool,
/// and where it came from (the manifest's `path`).
#[derive(Debug, Clone)]
pub struct ConvertedSource {
    pub name: String,
    pub dir: PathBuf,
    pub shown: String,
}

/// An old backup, converted into the spool.
#[derive(Debug)]
pub struct Converted {
    /// Where the key that opened it was found (or that it was not encrypted).
    pub key_origin: String,
    /// None: it was not encrypted (the Backups page's plain files).
    pub variant: Option<Variant>,
    pub sources: Vec<ConvertedSource>,
    /// The MongoDB part, with `mongo_dir` holding `<db>/...`.
    pub mongo: Option<MongoPart>,
    pub mongo_dir: PathBuf,
    /// What could not be recovered (the manifest's `origin.losses`).
    pub losses: Vec<String>,
    /// What an admin should know (the manifest's `warnings`).
    pub warnings: Vec<String>,
}

/// Where an entry of an inner tarball goes: (source, name inside it).
type RouteFn = Box<dyn Fn(&str) -> (String, String)>;

/// The file sources an old backup yields, in the order they go into the archive.
const SOURCE_ORDER: [&str; 6] =
    ["uploads", "server-uploads", "uploads-other", "config", "license-keys", "application-code"];

/// How the message begins when no key at hand opens an old file (the front ends then say how
/// to give one).
pub const NO_KEY_OPENS: &str = "none of the ";

/// What to give when no candidate opens a file: the service's key or the page's.
fn key_advice(backup: &LegacyBackup) -> &'static str {
    match backup.format {
        Format::Service => "Give the old service's key (its BACKUP_ENCRYPTION_KEY, 64 hex characters)",
        _ => {
            "Give the Backups page's key (64 hex characters: settings.encryption.encryptionKey of its \
             configuration in HR-SM's `backups` collection), or make HR-SM's database reachable so that it is \
             read from there"
        }
    }
}

/// Finds the candidate that opens `file` (judged from its first and last blocks only).
/// `advice` ends the message when none does.
pub fn find_key(
    file: &Path,
    shown: &str,
    expected_size: Option<u64>,
    keys: &KeyRing,
    advice: &str,
) -> Result<(Cipher, String)> {
    let corrupt = |reason: String| Error::Corrupt { path: file.to_path_buf(), reason };
    let mut f = File::open(file).map_err(|e| Error::io("read", file, e))?;
    let len = f.metadata().map_err(|e| Error::io("read", file, e))?.len();
    if let Some(size) = expected_size.filter(|s| *s != len) {
        return Err(corrupt(format!(
            "it is {len} bytes but the old service recorded {size}: the file is truncated or was changed; nothing of it was imported"
        )));
    }
    if len < 32 || (len - 16) % 16 != 0 {
        return Err(corrupt(format!(
            "it is {len} bytes, which no file of the old service can be (16 bytes, then whole 16-byte blocks): \
             it is truncated or not one of its backups; nothing of it was imported"
        )));
    }
    let (head, tail) = head_and_tail(&mut f, len).map_err(|e| Error::io("read", file, e))?;
    let mut start_only: Option<&str> = None;
    for cand in &keys.candidates {
        for c in ciphers_for(cand.text()) {
            match c.fit(&head, &tail) {
                Fit::Opens => return Ok((c, cand.origin.clone())),
                Fit::StartOnly => {
                    start_only.get_or_insert(&cand.origin);
                }
                Fit::No => {}
            }
        }
    }
    if let Some(origin) = start_only {
        return Err(corrupt(format!(
            "{origin} opens its start but not its end: the file is truncated or damaged; nothing of it was imported"
        )));
    }
    Err(Error::Key(format!(
        "{NO_KEY_OPENS}{} candidate key(s) opens {shown}. Searched: {}. {advice}",
        keys.candidates.len(),
        if keys.searched.is_empty() { "nothing".to_string() } else { keys.searched.join("; ") },
    )))
}

fn head_and_tail(f: &mut File, len: u64) -> std::io::Result<([u8; 32], [u8; 32])> {
    let mut head = [0u8; 32];
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(&mut head)?;
    let mut tail = [0u8; 32];
    f.seek(SeekFrom::Start(len - 32))?;
    f.read_exact(&mut tail)?;
    Ok((head, tail))
}

/// The component name the old service filed an inner file's checksum under.
fn default_component(name: &str) -> Option<String> {
    Some(match name {
        "uploads.tar.gz" => "uploads".into(),
        "configuration.tar.gz" => "config-files".into(),
        "rsa-keys.encrypted" => "rsa-keys".into(),
        "application-code.tar.gz" => "source-code".into(),
        _ => name.strip_suffix(".archive").or_else(|| name.strip_suffix("-export.json"))?.to_string(),
    })
}

/// Decrypts, checks and converts `backup` into `spool` (a private folder the caller removes).
pub fn convert(backup: &LegacyBackup, keys: &KeyRing, spool: &Path, progress: &dyn Progress) -> Result<Converted> {
    match backup.format {
        Format::Service => convert_service(backup, keys, spool, progress),
        _ => convert_page(backup, keys, spool, progress),
    }
}

/// The backup service's `<id>.tar.gz.enc`: a tar of parts, each checked against the metadata.
fn convert_service(backup: &LegacyBackup, keys: &KeyRing, spool: &Path, progress: &dyn Progress) -> Result<Converted> {
    let file = backup.file.as_path();
    let shown = backup.name.as_str();
    let corrupt = |reason: String| Error::Corrupt { path: file.to_path_buf(), reason };
    progress.event(Event::Phase("decrypting"));
    let meta = backup.metadata.as_ref();
    let (cipher, key_origin) = find_key(file, shown, meta.and_then(|m| m.size), keys, key_advice(backup))?;
    let mut warnings = Vec::new();
    let mut losses = Vec::new();
    if let Some(p) = &backup.metadata_problem {
        warnings.push(format!("{p}: the SHA-256 of the backup's parts could not be checked"));
    }
    // 1. The outer tar.gz, decrypted as it streams, into <spool>/old/content/.
    let old = spool.join("old");
    let f = File::open(file).map_err(|e| Error::io("read", file, e))?;
    let plain = cipher.decrypt(BufReader::with_capacity(1 << 20, f)).map_err(|e| Error::io("read", file, e))?;
    let outer =
        extract_tar(MultiGzDecoder::new(plain), file, shown, &old, &|n| ("content".into(), n.into()), &mut warnings)?;
    if outer.files == 0 {
        return Err(corrupt("it decrypts, but holds no file: nothing to import".into()));
    }
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    let content = old.join("content");
    let mut names: Vec<String> = std::fs::read_dir(&content)
        .map_err(|e| Error::io("list", &content, e))?
        .flatten()
        .filter(|d| d.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // 2. Every inner file against the SHA-256 the old service recorded.
    if let Some(m) = meta {
        for name in &names {
            let path = content.join(name);
            let Some(component) = m.files.get(name).cloned().or_else(|| default_component(name)) else { continue };
            match m.checksums.get(&component) {
                Some(want) => {
                    let (_, got) = crate::digest::hash_file(&path).map_err(|e| Error::io("read", &path, e))?;
                    if &got != want {
                        return Err(corrupt(format!(
                            "{name} does not match the SHA-256 the old service recorded for '{component}' in \
                             metadata/{}.json: it was changed or damaged; nothing of it was imported",
                            backup.id
                        )));
                    }
                }
                None => warnings.push(format!(
                    "{name}: metadata/{}.json records no SHA-256 for it, so it could not be checked",
                    backup.id
                )),
            }
        }
        for (name, component) in &m.files {
            if m.checksums.contains_key(component) && !names.contains(name) {
                return Err(corrupt(format!(
                    "metadata/{}.json lists {name} ('{component}') but the backup does not hold it: it is damaged; \
                     nothing of it was imported",
                    backup.id
                )));
            }
        }
    }
    // 3. Each part converted.
    progress.event(Event::Phase("converting"));
    let files_dir = spool.join("files");
    let mongo_dir = spool.join("mongo");
    crate::fsutil::create_private_dir_all(&files_dir)?;
    crate::fsutil::create_private_dir_all(&mongo_dir)?;
    let mut databases: Vec<(String, String, &'static str)> = Vec::new();
    let mut from: Vec<(String, String)> = Vec::new();
    for name in &names {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let path = content.join(name);
        let within = |e: Error| match e {
            Error::Corrupt { reason, .. } => corrupt(format!("{name}: {reason}")),
            other => other,
        };
        let mut add_db = |db: String, version: String, how: &'static str| {
            add_database(&mut databases, db, version, how)
                .map_err(|db| corrupt(format!("it holds database {db} twice; nothing of it was imported")))
        };
        if name.ends_with(".archive") {
            let skipped = take_archive(&path, &mongo_dir, progress, &mut add_db).map_err(within)?;
            warnings.extend(skipped.into_iter().map(|w| format!("{name}: {w}")));
        } else if let Some(db) = name.strip_suffix("-export.json") {
            if crate::archive::rules::check_name(db).is_err() || db.contains('/') {
                return Err(corrupt(format!("{name}: {db:?} cannot be a database name")));
            }
            let export = crate::mongo::json_export_to_dump_dir(&path, db, &mongo_dir, progress).map_err(within)?;
            losses.extend(export.losses);
            add_db(db.to_string(), String::new(), "its JSON export (types guessed from the text; see the losses)")?;
        } else {
            let route: RouteFn = match name.as_str() {
                "uploads.tar.gz" => Box::new(|n: &str| match n.split_once('/').unwrap_or((n, "")) {
                    ("uploads", rest) => ("uploads".into(), rest.into()),
                    ("server-uploads", rest) => ("server-uploads".into(), rest.into()),
                    _ => ("uploads-other".into(), n.into()),
                }),
                "configuration.tar.gz" => Box::new(|n: &str| ("config".into(), n.into())),
                "application-code.tar.gz" => Box::new(|n: &str| ("application-code".into(), n.into())),
                "rsa-keys.encrypted" => Box::new(|n: &str| match n.split_once('/').unwrap_or((n, "")) {
                    ("keys", rest) => ("license-keys".into(), rest.into()),
                    _ => ("license-keys".into(), n.into()),
                }),
                _ => {
                    warnings.push(format!("{name} left out: it is not a part the old backup service writes"));
                    losses.push(format!("{name}: not a part the old backup service writes; left out"));
                    continue;
                }
            };
            let what = format!("{name} in {shown}");
            let raw = File::open(&path).map_err(|e| Error::io("read", &path, e))?;
            let plain: Box<dyn Read> = if name == "rsa-keys.encrypted" {
                let c = inner_cipher(&path, &cipher, keys).map_err(within)?;
                Box::new(c.decrypt(BufReader::new(raw)).map_err(|e| Error::io("read", &path, e))?)
            } else {
                Box::new(BufReader::with_capacity(1 << 20, raw))
            };
            let done = extract_tar(MultiGzDecoder::new(plain), file, &what, &files_dir, &*route, &mut warnings)?;
            for s in done.sources {
                from.push((s, name.clone()));
            }
        }
        // The converted part is in place: its source is no longer needed (disk space).
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir_all(&old);
    let mut sources = Vec::new();
    for name in SOURCE_ORDER {
        if let Some((_, inner)) = from.iter().find(|(s, _)| s == name) {
            let sub = match name {
                "uploads" | "server-uploads" => format!("/{name}"),
                "license-keys" => "/keys".to_string(),
                _ => String::new(),
            };
            sources.push(ConvertedSource {
                name: name.to_string(),
                dir: files_dir.join(name),
                shown: format!("{inner}{sub} in {shown}"),
            });
        }
    }
    let mongo = mongo_part(
        &mongo_dir,
        &databases,
        &format!("the old backup service's {shown}"),
        "the old backup service dumped each database on its own: no point-in-time guarantee",
    )?;
    if sources.is_empty() && mongo.is_none() {
        return Err(corrupt("it holds no part the old backup service writes: nothing to import".into()));
    }
    Ok(Converted { key_origin, variant: Some(cipher.variant), sources, mongo, mongo_dir, losses, warnings })
}

/// A `mongodump --archive` (gzip'd or not) into `mongo_dir` in the `--out` layout, each of its
/// databases added through `add_db`; returns a warning per namespace of the server itself left
/// out.
fn take_archive(
    path: &Path,
    mongo_dir: &Path,
    progress: &dyn Progress,
    add_db: &mut dyn FnMut(String, String, &'static str) -> Result<()>,
) -> Result<Vec<String>> {
    let done = crate::mongo::archive_to_dump_dir(path, mongo_dir, progress)?;
    for db in done.databases {
        add_db(db, done.server_version.clone(), "its mongodump archive (documents, indexes and options as they were)")?;
    }
    Ok(done
        .skipped
        .into_iter()
        .map(|ns| format!("{ns} left out: a namespace of the server itself, which a restore never writes"))
        .collect())
}

/// A database converted, with its server version and how it was kept; Err(its name) when
/// the backup already held one of that name.
fn add_database(
    list: &mut Vec<(String, String, &'static str)>,
    db: String,
    version: String,
    how: &'static str,
) -> std::result::Result<(), String> {
    if list.iter().any(|(d, _, _)| *d == db) {
        return Err(db);
    }
    list.push((db, version, how));
    Ok(())
}

/// The MongoDB part of a converted backup: each database `(name, server version, how it was
/// kept)` described from its spooled dump.
fn mongo_part(
    mongo_dir: &Path,
    databases: &[(String, String, &'static str)],
    from: &str,
    consistency: &str,
) -> Result<Option<MongoPart>> {
    if databases.is_empty() {
        return Ok(None);
    }
    let scans = crate::mongo::dump::Scans::default();
    let mut parts: Vec<DatabasePart> = Vec::new();
    for (db, version, _) in databases {
        let version = if version.is_empty() { "unknown" } else { version.as_str() };
        parts.push(crate::mongo::dump::describe_spool(mongo_dir, db, version, &scans)?);
    }
    let how: Vec<String> = databases.iter().map(|(db, _, how)| format!("{db} from {how}")).collect();
    Ok(Some(MongoPart {
        method: "import".into(),
        method_note: Some(format!("converted from {from}: {}", how.join("; "))),
        uri: "(not recorded by the old backup service)".into(),
        consistent: false,
        consistency: consistency.into(),
        cluster_time: None,
        databases: parts,
    }))
}

/// One run of the old Backups page (`legacy::page`): each of its files (a mongodump archive,
/// a JSON export, a tar of files), decrypted first when it is `.enc`, into one spool. The page
/// kept no checksum beside its files: the cipher's padding and gzip's CRC are what tell a
/// damaged file.
fn convert_page(backup: &LegacyBackup, keys: &KeyRing, spool: &Path, progress: &dyn Progress) -> Result<Converted> {
    let files_dir = spool.join("files");
    let mongo_dir = spool.join("mongo");
    crate::fsutil::create_private_dir_all(&files_dir)?;
    crate::fsutil::create_private_dir_all(&mongo_dir)?;
    let mut out = Converted {
        key_origin: String::new(),
        variant: None,
        sources: Vec::new(),
        mongo: None,
        mongo_dir: mongo_dir.clone(),
        losses: Vec::new(),
        warnings: Vec::new(),
    };
    let mut origins: Vec<String> = Vec::new();
    let mut databases: Vec<(String, String, &'static str)> = Vec::new();
    for part in &backup.parts {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let origin = convert_page_part(backup, part, keys, spool, &mut out, &mut databases, progress)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    out.key_origin = origins.join("; ");
    let shown = backup.name.as_str();
    out.mongo = mongo_part(
        &mongo_dir,
        &databases,
        &format!("the old Backups page's {shown}"),
        "mongodump of one database: no point-in-time guarantee across databases",
    )?;
    if out.sources.is_empty() && out.mongo.is_none() {
        let file = backup.file.clone();
        return Err(Error::Corrupt {
            path: file,
            reason: "it decrypts and decompresses, but holds nothing to import".into(),
        });
    }
    Ok(out)
}

/// One file of a page run into the run's spool; returns where its key was found.
fn convert_page_part(
    backup: &LegacyBackup,
    part: &super::PagePart,
    keys: &KeyRing,
    spool: &Path,
    out: &mut Converted,
    databases: &mut Vec<(String, String, &'static str)>,
    progress: &dyn Progress,
) -> Result<String> {
    let file = part.file.as_path();
    let shown = part.name.as_str();
    let corrupt = |reason: String| Error::Corrupt { path: file.to_path_buf(), reason };
    progress.event(Event::Phase(if part.encrypted { "decrypting" } else { "reading" }));
    let (cipher, key_origin) = if part.encrypted {
        let (c, origin) = find_key(file, shown, None, keys, key_advice(backup))?;
        (Some(c), origin)
    } else {
        (None, "not encrypted (the Backups page wrote it without encryption)".to_string())
    };
    if let Some(c) = &cipher {
        out.variant.get_or_insert(c.variant);
    }
    let raw = File::open(file).map_err(|e| Error::io("read", file, e))?;
    let raw = BufReader::with_capacity(1 << 20, raw);
    let gzipped: Box<dyn Read> = match &cipher {
        Some(c) => Box::new(c.decrypt(raw).map_err(|e| Error::io("read", file, e))?),
        None => Box::new(raw),
    };
    // A recorded SHA-256 was checked when the import read the file first
    // (`LegacyBackup::fingerprint`).
    if part.recorded_sha256.is_none() {
        out.warnings.push(format!(
            "HR-SM's database holds no SHA-256 of {shown}: it was checked by {}gzip's own CRC only",
            if cipher.is_some() { "its cipher's padding and " } else { "" }
        ));
    }
    let files_dir = spool.join("files");
    let damaged = |e: std::io::Error| {
        corrupt(format!("it does not decompress ({e}): the file is truncated or damaged; nothing of it was imported"))
    };
    let within = |e: Error| match e {
        Error::Corrupt { reason, .. } => corrupt(reason),
        other => other,
    };
    let mut add_db = |db: String, version: String, how: &'static str| {
        add_database(databases, db, version, how)
            .map_err(|db| corrupt(format!("the run holds database {db} twice; nothing of it was imported")))
    };
    match part.format {
        Format::PageArchive => {
            // Kept gzip'd as it was (the archive reader decompresses it), in the private spool.
            let path = spool.join(format!("{}.archive.gz", part.stem));
            copy_checked(gzipped, &path).map_err(|e| e.either(damaged, |e| Error::io("write", &path, e)))?;
            progress.event(Event::Phase("converting"));
            let skipped = take_archive(&path, &out.mongo_dir, progress, &mut add_db).map_err(within)?;
            let _ = std::fs::remove_file(&path);
            out.warnings.extend(skipped);
        }
        Format::PageJson => {
            let path = spool.join(format!("{}.json", part.stem));
            copy_checked(MultiGzDecoder::new(gzipped), &path)
                .map_err(|e| e.either(damaged, |e| Error::io("write", &path, e)))?;
            progress.event(Event::Phase("converting"));
            let db = backup.database.as_deref().unwrap_or(crate::config::DEFAULT_MAIN_DB);
            let export =
                crate::mongo::json_export_to_dump_dir_flat(&path, db, &out.mongo_dir, progress).map_err(within)?;
            let _ = std::fs::remove_file(&path);
            out.losses.push(format!(
                "{db}: the Backups page's JSON export does not name its database (it was imported as {db}) \
                 nor say which collections were views or time series (each came back as a plain collection)"
            ));
            out.losses.extend(export.losses);
            add_db(db.to_string(), String::new(), "its JSON export (types guessed from the text; see the losses)")?;
        }
        // `Service` is never a part of a page run.
        Format::PageFiles | Format::Service => {
            let source = if part.stem.starts_with("config-") { "config" } else { "files" };
            if out.sources.iter().any(|s| s.name == source) {
                return Err(corrupt(format!("the run holds two {source} archives; nothing of it was imported")));
            }
            progress.event(Event::Phase("converting"));
            extract_tar(
                MultiGzDecoder::new(gzipped),
                file,
                shown,
                &files_dir,
                &|n: &str| (source.into(), n.into()),
                &mut out.warnings,
            )?;
            if part.stem.starts_with("incremental-") {
                out.losses.push(format!(
                    "{source}: {shown} holds only the files changed since the run before it (an incremental \
                     backup): restore the full backup before it first"
                ));
            }
            if files_dir.join(source).is_dir() {
                out.sources.push(ConvertedSource {
                    name: source.into(),
                    dir: files_dir.join(source),
                    shown: shown.to_string(),
                });
            }
        }
    }
    Ok(key_origin)
}

/// A read error (the input: decryption, decompression) or a write error (the spool).
enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

impl CopyError {
    fn either<T>(self, read: impl FnOnce(std::io::Error) -> T, write: impl FnOnce(std::io::Error) -> T) -> T {
        match self {
            CopyError::Read(e) => read(e),
            CopyError::Write(e) => write(e),
        }
    }
}

/// Copies `r` into a new private file at `path`, telling read errors (a wrong padding, a cut
/// gzip stream) from write errors (the spool's disk).
fn copy_checked(mut r: impl Read, path: &Path) -> std::result::Result<(), CopyError> {
    use std::io::Write;
    let f =
        crate::fsutil::create_private_file(path).map_err(|e| CopyError::Write(std::io::Error::other(e.to_string())))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
    out.flush().map_err(CopyError::Write)?;
    Ok(())
}

/// The cipher of `rsa-keys.encrypted`, encrypted again "the same way with the same key": the
/// outer file's first, then any candidate.
fn inner_cipher(path: &Path, outer: &Cipher, keys: &KeyRing) -> Result<Cipher> {
    let corrupt = |reason: String| Error::Corrupt { path: path.to_path_buf(), reason };
    let mut f = File::open(path).map_err(|e| Error::io("read", path, e))?;
    let len = f.metadata().map_err(|e| Error::io("read", path, e))?.len();
    if len < 32 || (len - 16) % 16 != 0 {
        return Err(corrupt(format!("it is {len} bytes: truncated")));
    }
    let (head, tail) = head_and_tail(&mut f, len).map_err(|e| Error::io("read", path, e))?;
    if outer.fit(&head, &tail) == Fit::Opens {
        return Ok(outer.clone());
    }
    for cand in &keys.candidates {
        for c in ciphers_for(cand.text()) {
            if c.fit(&head, &tail) == Fit::Opens {
                return Ok(c);
            }
        }
    }
    Err(corrupt("it does not open with the key of the backup nor with any other candidate key".into()))
}
