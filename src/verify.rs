//! Verification: reads an archive end to end (every chunk MAC, gzip, tar) and checks every
//! file against the manifest's size and SHA-256, that nothing is missing and nothing extra.
//!
//! Depends on `unpack`, `manifest`, `progress` and `error`.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::manifest::{Entry, EntryType, Manifest, FILES_PREFIX};
use crate::mongo::{MongoPart, MONGO_PREFIX};
use crate::progress::{Event, Progress};
use crate::unpack::{read_archive, Kind};

#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub manifest: Manifest,
    pub files: u64,
    pub bytes: u64,
    pub chunks: u64,
    pub entries: u64,
}

pub fn verify_archive(path: &Path, key: &MasterKey, progress: &dyn Progress) -> Result<VerifyReport> {
    progress.event(Event::Phase("verifying"));
    let corrupt = |reason: String| Error::Corrupt { path: path.to_path_buf(), reason };
    let (mut files, mut bytes) = (0u64, 0u64);
    let (summary, (expected, mongo)) = read_archive(
        path,
        key,
        |m| {
            progress.event(Event::Total(m.file_bytes()));
            let files = m.entries.iter().map(|e| (e.path.clone(), e.clone())).collect::<HashMap<String, Entry>>();
            let mongo = mongo_files(m).map_err(corrupt)?;
            Ok((files, mongo))
        },
        |(expected, mongo), info, content| {
            if let Some(rel) = info.path.strip_prefix(MONGO_PREFIX) {
                let Some((size, sha)) = mongo.remove(rel) else {
                    return Err(corrupt(format!("entry {:?} is not in the manifest (or appears twice)", info.path)));
                };
                let got =
                    hash_stream(content, progress).map_err(|e| corrupt(format!("cannot read {}: {e}", info.path)))?;
                if info.kind != Kind::File || got != (size, sha) {
                    return Err(corrupt(format!("{} does not match the manifest (size or SHA-256 differ)", info.path)));
                }
                bytes += size;
                return Ok(());
            }
            if !info.path.starts_with(FILES_PREFIX) {
                return Err(corrupt(format!("unexpected entry {:?} outside files/ and mongo/", info.path)));
            }
            let Some(want) = expected.remove(&info.path) else {
                return Err(corrupt(format!("entry {:?} is not in the manifest (or appears twice)", info.path)));
            };
            match (info.kind, want.kind) {
                (Kind::File, EntryType::File) => {
                    let (size, sha) = hash_stream(content, progress)
                        .map_err(|e| corrupt(format!("cannot read {}: {e}", info.path)))?;
                    if Some(size) != want.size || Some(&sha) != want.sha256.as_ref() {
                        return Err(corrupt(format!(
                            "{} does not match the manifest (size or SHA-256 differ)",
                            info.path
                        )));
                    }
                    files += 1;
                    bytes += size;
                }
                (Kind::Dir, EntryType::Dir) => {}
                (Kind::Symlink, EntryType::Symlink) if info.link == want.target => {}
                _ => {
                    return Err(corrupt(format!(
                        "{} has type {:?} but the manifest says {:?}",
                        info.path, info.kind, want.kind
                    )))
                }
            }
            Ok(())
        },
    )?;
    if let Some(missing) = expected.keys().chain(mongo.keys()).next() {
        return Err(corrupt(format!(
            "{} manifest entries are missing from the archive, e.g. {missing}",
            expected.len()
        )));
    }
    Ok(VerifyReport { manifest: summary.manifest, files, bytes, chunks: summary.chunks, entries: summary.entries })
}

/// Size and SHA-256 (hex) of a stream, reporting progress.
pub fn hash_stream(r: &mut dyn Read, progress: &dyn Progress) -> io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
        progress.event(Event::Advance(n as u64));
    }
    Ok((size, hex::encode(h.finalize())))
}

/// The MongoDB files the manifest promises: path under `mongo/` -> (size, SHA-256).
pub fn mongo_files(m: &Manifest) -> std::result::Result<HashMap<String, (u64, String)>, String> {
    let Some(v) = &m.mongo else { return Ok(HashMap::new()) };
    let part: MongoPart =
        serde_json::from_value(v.clone()).map_err(|e| format!("the manifest's mongo part is invalid: {e}"))?;
    Ok(part
        .databases
        .iter()
        .flat_map(|d| d.files.iter())
        .map(|f| (f.path.clone(), (f.size, f.sha256.clone())))
        .collect())
}
