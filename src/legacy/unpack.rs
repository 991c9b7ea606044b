//! Extracts a tar stream of an old backup (untrusted input) into a private spool folder, with
//! the rules our own restore applies (`archive::rules`): a name that is absolute or holds `..`
//! (or breaks any other name rule) fails the import; a symbolic link is created only when it
//! stays inside its source, and only after every file was written, so no write ever goes
//! through a link; hard links, devices and FIFOs are left out with a warning. Modes keep only
//! the permission bits; owners are never restored.
//!
//! Depends on `archive::rules`, `fsutil` and `error`.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::archive::rules::{check_link, check_name};
use crate::error::{Error, Result};

/// Where an entry goes: the source it belongs to and its name inside that source ("" for the
/// source's own folder). The entry is written to `<out>/<source>/<rest>`.
pub type Route<'a> = &'a dyn Fn(&str) -> (String, String);

/// What one extraction wrote.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Sources that received something, in first-seen order.
    pub sources: Vec<String>,
    pub files: u64,
    pub bytes: u64,
}

/// Extracts the (already decompressed) tar stream `r`. `what` names the stream in messages
/// (e.g. "uploads.tar.gz in daily/daily-backup-....tar.gz.enc"); `file` is the old backup.
pub fn extract_tar(
    r: impl Read,
    file: &Path,
    what: &str,
    out: &Path,
    route: Route,
    warnings: &mut Vec<String>,
) -> Result<Extracted> {
    let refuse = |name: &str, reason: &str| Error::Corrupt {
        path: file.to_path_buf(),
        reason: format!("{what}: the entry {name:?} is refused: {reason}; nothing of this backup was imported"),
    };
    let damaged = |e: io::Error| Error::Corrupt {
        path: file.to_path_buf(),
        reason: format!("{what} cannot be read: {e}; nothing of this backup was imported"),
    };
    let mut done = Extracted::default();
    let mut dirs: Vec<(PathBuf, u32, i64)> = Vec::new();
    let mut links: Vec<(String, PathBuf, String)> = Vec::new();
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName) {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let Ok(name) = String::from_utf8(raw.clone()) else {
            return Err(refuse(&String::from_utf8_lossy(&raw), "its name is not UTF-8"));
        };
        if name.starts_with('/') {
            return Err(refuse(&name, "it is an absolute path"));
        }
        let mut clean = name.trim_end_matches('/');
        while let Some(rest) = clean.strip_prefix("./") {
            clean = rest;
        }
        if clean.is_empty() || clean == "." {
            continue; // the stream's own top folder
        }
        let (source, rest) = route(clean);
        let archive_name = if rest.is_empty() { format!("files/{source}") } else { format!("files/{source}/{rest}") };
        if let Err(reason) = check_name(&archive_name).and_then(|()| check_name(clean)) {
            return Err(refuse(&name, reason));
        }
        if !done.sources.contains(&source) {
            done.sources.push(source.clone());
        }
        let dest = if rest.is_empty() { out.join(&source) } else { out.join(&source).join(&rest) };
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let mtime = entry.header().mtime().unwrap_or(0) as i64;
        match kind {
            tar::EntryType::Directory => {
                crate::fsutil::create_private_dir_all(&dest)?;
                dirs.push((dest, mode, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                if let Some(parent) = dest.parent() {
                    crate::fsutil::create_private_dir_all(parent)?;
                }
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_file() => fs::remove_file(&dest).map_err(|e| Error::io("replace", &dest, e))?,
                    Ok(_) => return Err(refuse(&name, "a folder of that name came first")),
                    Err(_) => {}
                }
                let f = crate::fsutil::create_private_file(&dest)?;
                let mut w = io::BufWriter::with_capacity(1 << 16, f);
                let n = io::copy(&mut entry, &mut w).map_err(damaged)?;
                let f = w.into_inner().map_err(|e| Error::io("write", &dest, e.into_error()))?;
                crate::fsutil::set_file_mode(&f, mode | 0o400).map_err(|e| Error::io("write", &dest, e))?;
                drop(f);
                filetime::set_file_mtime(&dest, filetime::FileTime::from_unix_time(mtime, 0))
                    .map_err(|e| Error::io("write", &dest, e))?;
                done.files += 1;
                done.bytes += n;
            }
            tar::EntryType::Symlink => {
                let target =
                    entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                links.push((archive_name, dest, target));
            }
            other => {
                let w = format!(
                    "{what}: {clean} left out: it is a {}, which a backup does not keep",
                    match other {
                        tar::EntryType::Link => "hard link",
                        tar::EntryType::Char | tar::EntryType::Block => "device",
                        tar::EntryType::Fifo => "FIFO",
                        _ => "special entry",
                    }
                );
                warnings.push(w);
            }
        }
    }
    // Links last, and only those that stay inside their source and pass through no other
    // link: nothing was written through them, and nothing will be.
    let names: HashSet<String> = links.iter().map(|(n, _, _)| n.clone()).collect();
    for (archive_name, dest, target) in links {
        if let Err(reason) = check_link(&archive_name, &target, &names) {
            warnings.push(format!("{what}: {archive_name} -> {target} left out: {reason}"));
            continue;
        }
        if let Some(parent) = dest.parent() {
            crate::fsutil::create_private_dir_all(parent)?;
        }
        if fs::symlink_metadata(&dest).is_ok() {
            warnings.push(format!("{what}: {archive_name} left out: a file or folder of that name came first"));
            continue;
        }
        crate::fsutil::symlink(Path::new(&target), &dest).map_err(|e| Error::io("create link", &dest, e))?;
    }
    // Folders get their mode and time after everything inside them was written, deepest first.
    dirs.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.components().count()));
    for (dir, mode, mtime) in dirs {
        // Keep the owner's access: the spool must stay readable to pack it.
        let _ = crate::fsutil::set_mode(&dir, mode | 0o700);
        let _ = filetime::set_file_mtime(&dir, filetime::FileTime::from_unix_time(mtime, 0));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            h.set_mtime(1_700_000_000);
            // Names are set raw: the tar crate's own setters refuse `..`, which is the point.
            let field = &mut h.as_old_mut().name;
            field[..name.len()].copy_from_slice(name.as_bytes());
            if !link.is_empty() {
                h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn route(name: &str) -> (String, String) {
        match name.split_once('/') {
            Some(("uploads", rest)) => ("uploads".into(), rest.into()),
            _ if name == "uploads" => ("uploads".into(), String::new()),
            _ => ("other".into(), name.into()),
        }
    }

    #[test]
    fn files_folders_and_safe_links_are_extracted() {
        let t = tempfile::tempdir().unwrap();
        let data = tar_of(&[
            ("./", tar::EntryType::Directory, b"", ""),
            ("uploads/", tar::EntryType::Directory, b"", ""),
            ("uploads/a/doc.pdf", tar::EntryType::Regular, b"%PDF", ""),
            ("uploads/link", tar::EntryType::Symlink, b"", "a/doc.pdf"),
            ("uploads/escape", tar::EntryType::Symlink, b"", "../../etc/passwd"),
            ("uploads/hard", tar::EntryType::Link, b"", "uploads/a/doc.pdf"),
            ("readme.txt", tar::EntryType::Regular, b"hi", ""),
        ]);
        let mut warnings = Vec::new();
        let done =
            extract_tar(&data[..], Path::new("old.enc"), "uploads.tar.gz", t.path(), &route, &mut warnings).unwrap();
        assert_eq!(done.files, 2);
        assert_eq!(done.sources, vec!["uploads", "other"]);
        assert_eq!(fs::read(t.path().join("uploads/a/doc.pdf")).unwrap(), b"%PDF");
        assert_eq!(fs::read_link(t.path().join("uploads/link")).unwrap(), Path::new("a/doc.pdf"));
        assert!(fs::symlink_metadata(t.path().join("uploads/escape")).is_err());
        assert_eq!(fs::read(t.path().join("other/readme.txt")).unwrap(), b"hi");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("escape") && w.contains("outside its source")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("hard link")), "{warnings:?}");
    }

    #[test]
    fn a_name_that_climbs_out_fails_before_it_is_written() {
        let t = tempfile::tempdir().unwrap();
        for bad in ["uploads/../../evil.txt", "../evil.txt", "/etc/evil.txt"] {
            let data = tar_of(&[(bad, tar::EntryType::Regular, b"x", "")]);
            let err = extract_tar(&data[..], Path::new("old.enc"), "uploads.tar.gz", t.path(), &route, &mut Vec::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains("is refused") && err.contains("nothing of this backup was imported"), "{err}");
        }
        assert!(!t.path().parent().unwrap().join("evil.txt").exists());
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 0);
    }
}
