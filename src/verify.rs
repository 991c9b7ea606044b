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

/// Prefix of the MongoDB part; checked by the MongoDB module's own rules.
pub const MONGO_PREFIX: &str = "mongo/";

pub fn verify_archive(
    path: &Path,
    key: &MasterKey,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    progress.event(Event::Phase("verifying"));
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let (mut files, mut bytes) = (0u64, 0u64);
    let (summary, expected) = read_archive(
        path,
        key,
        |m| {
            progress.event(Event::Total(m.file_bytes()));
            Ok(m.entries
                .iter()
                .map(|e| (e.path.clone(), e.clone()))
                .collect::<HashMap<String, Entry>>())
        },
        |expected, info, content| {
            if info.path.starts_with(MONGO_PREFIX) {
                return Ok(());
            }
            if !info.path.starts_with(FILES_PREFIX) {
                return Err(corrupt(format!(
                    "unexpected entry {:?} outside files/ and mongo/",
                    info.path
                )));
            }
            let Some(want) = expected.remove(&info.path) else {
                return Err(corrupt(format!(
                    "entry {:?} is not in the manifest (or appears twice)",
                    info.path
                )));
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
    if let Some(missing) = expected.keys().next() {
        return Err(corrupt(format!(
            "{} manifest entries are missing from the archive, e.g. {missing}",
            expected.len()
        )));
    }
    Ok(VerifyReport {
        manifest: summary.manifest,
        files,
        bytes,
        chunks: summary.chunks,
        entries: summary.entries,
    })
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
