//! Reads an archive: container -> gzip members -> tar. Checks that `manifest.json` comes first,
//! that every entry name is a safe relative path, and, at the end, that the container's final
//! chunk was reached with nothing after it. Callers (verify, restore) decide what to do with
//! each entry through a visitor.
//!
//! Depends on `container`, `manifest` and `error`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path};

use flate2::read::MultiGzDecoder;

use crate::archive::container::{ContainerReader, StickyError};
use crate::archive::crypto::MasterKey;
use crate::archive::manifest::{Manifest, MANIFEST_PATH};
use crate::error::{Error, Result};

/// Type of a tar entry, as far as restore cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// Devices, FIFOs and anything else.
    Other(u8),
}

#[derive(Debug, Clone)]
pub struct EntryInfo {
    /// Normalised relative name (no trailing `/`).
    pub path: String,
    pub kind: Kind,
    pub size: u64,
    pub link: Option<String>,
}

/// What reading the archive found.
#[derive(Debug, Clone)]
pub struct ReadSummary {
    pub manifest: Manifest,
    pub chunks: u64,
    pub entries: u64,
}

thread_local! {
    /// Archives opened for reading by this thread (operations read on the calling thread).
    static OPENS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times this thread has opened an archive to read it: lets a test prove that an
/// operation reads its archive once.
#[doc(hidden)]
pub fn archive_opens() -> u64 {
    OPENS.with(|c| c.get())
}

fn open_file(path: &Path) -> Result<File> {
    OPENS.with(|c| c.set(c.get() + 1));
    File::open(path).map_err(|e| Error::io("open archive", path, e))
}

/// Maps a failure anywhere in the stack to the most precise error: the container's reason if
/// the container failed (gzip and tar only see a generic io error), else the io error.
fn explain(path: &Path, sticky: &StickyError, e: io::Error, what: &str) -> Error {
    if let Some(u) = e.get_ref().and_then(|x| x.downcast_ref::<UnsafeName>()) {
        return Error::UnsafeEntry { path: u.path.clone(), reason: u.reason };
    }
    match sticky.get() {
        Some(source) => Error::Archive { path: path.to_path_buf(), source },
        None => Error::Corrupt { path: path.to_path_buf(), reason: format!("{what}: {e}") },
    }
}

/// Reads the whole archive. `on_manifest` sees the manifest before any other entry and makes
/// the state that `visit` then gets with every later entry and a reader over its content (it
/// may leave content unread). Returns the summary and the final state.
pub fn read_archive<T>(
    path: &Path,
    key: &MasterKey,
    on_manifest: impl FnOnce(&Manifest) -> Result<T>,
    mut visit: impl FnMut(&mut T, &EntryInfo, &mut dyn Read) -> Result<()>,
) -> Result<(ReadSummary, T)> {
    let file = open_file(path)?;
    let container = ContainerReader::open(BufReader::with_capacity(1 << 20, file), key)
        .map_err(|source| Error::Archive { path: path.to_path_buf(), source })?;
    let sticky = container.sticky_error();
    let header_key = container.info().key_id.to_string();
    let mut archive = tar::Archive::new(MultiGzDecoder::new(container));
    let mut manifest: Option<Manifest> = None;
    let mut on_manifest = Some(on_manifest);
    let mut state: Option<T> = None;
    let mut count = 0u64;
    {
        let entries = archive.entries().map_err(|e| explain(path, &sticky, e, "cannot read the tar stream"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| explain(path, &sticky, e, "cannot read the tar stream"))?;
            let info = describe(&mut entry).map_err(|e| explain(path, &sticky, e, "bad tar entry"))?;
            count += 1;
            if manifest.is_none() {
                if info.path != MANIFEST_PATH || info.kind != Kind::File {
                    return Err(Error::Corrupt {
                        path: path.to_path_buf(),
                        reason: format!("the first entry is {:?}, not {MANIFEST_PATH}", info.path),
                    });
                }
                if info.size > 1 << 30 {
                    return Err(Error::Corrupt {
                        path: path.to_path_buf(),
                        reason: "manifest.json is larger than 1 GiB".into(),
                    });
                }
                let mut bytes = Vec::with_capacity(info.size as usize);
                entry.read_to_end(&mut bytes).map_err(|e| explain(path, &sticky, e, "cannot read manifest.json"))?;
                let m =
                    Manifest::parse(&bytes).map_err(|reason| Error::Corrupt { path: path.to_path_buf(), reason })?;
                check_key_id(path, &m, &header_key)?;
                if let Some(f) = on_manifest.take() {
                    state = Some(f(&m)?);
                }
                manifest = Some(m);
                continue;
            }
            let Some(st) = state.as_mut() else { unreachable!("state is set with the manifest") };
            let mut reader = StickyRead { inner: &mut entry, sticky: &sticky };
            visit(st, &info, &mut reader).map_err(|e| match (&e, sticky.get()) {
                // A visitor's io error may really be the container failing underneath it.
                (Error::Io { .. } | Error::Corrupt { .. }, Some(source)) => {
                    Error::Archive { path: path.to_path_buf(), source }
                }
                _ => e,
            })?;
        }
    }
    // Tar's end marker is not the end of the archive: read on to the final chunk so that
    // truncation and appended data are caught here, not ignored.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| explain(path, &sticky, e, "bad data after the tar stream"))?;
    let container = rest.into_inner();
    if !container.is_complete() {
        return Err(Error::Archive {
            path: path.to_path_buf(),
            source: crate::archive::container::ContainerError::Truncated { chunks: container.chunks_read() },
        });
    }
    let manifest = manifest.ok_or_else(|| Error::Corrupt {
        path: path.to_path_buf(),
        reason: "the archive holds no manifest.json".into(),
    })?;
    let state = state.ok_or_else(|| Error::Corrupt {
        path: path.to_path_buf(),
        reason: "the archive holds no manifest.json".into(),
    })?;
    Ok((ReadSummary { manifest, chunks: container.chunks_read(), entries: count }, state))
}

/// Reads only as far as the manifest: fast (first chunk), for `inspect` and restore planning.
/// Authenticates what it reads, but does not check the rest of the archive.
pub fn read_manifest(path: &Path, key: &MasterKey) -> Result<Manifest> {
    let file = open_file(path)?;
    let container = ContainerReader::open(BufReader::new(file), key)
        .map_err(|source| Error::Archive { path: path.to_path_buf(), source })?;
    let sticky = container.sticky_error();
    let header_key = container.info().key_id.to_string();
    let mut archive = tar::Archive::new(MultiGzDecoder::new(container));
    let mut entries = archive.entries().map_err(|e| explain(path, &sticky, e, "cannot read the tar stream"))?;
    let mut entry = match entries.next() {
        Some(e) => e.map_err(|e| explain(path, &sticky, e, "cannot read the tar stream"))?,
        None => return Err(Error::Corrupt { path: path.to_path_buf(), reason: "the archive is empty".into() }),
    };
    let info = describe(&mut entry).map_err(|e| explain(path, &sticky, e, "bad tar entry"))?;
    if info.path != MANIFEST_PATH || info.size > 1 << 30 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("the first entry is {:?}, not {MANIFEST_PATH}", info.path),
        });
    }
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| explain(path, &sticky, e, "cannot read manifest.json"))?;
    let m = Manifest::parse(&bytes).map_err(|reason| Error::Corrupt { path: path.to_path_buf(), reason })?;
    check_key_id(path, &m, &header_key)?;
    Ok(m)
}

/// The manifest names the key its archive was sealed with (FORMAT.md section 3.3).
fn check_key_id(path: &Path, m: &Manifest, header_key: &str) -> Result<()> {
    if m.key_id != header_key {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("the manifest names key {} but the archive is sealed with key {header_key}", m.key_id),
        });
    }
    Ok(())
}

struct StickyRead<'a, R> {
    inner: R,
    sticky: &'a StickyError,
}

impl<R: Read> Read for StickyRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| match self.sticky.get() {
            Some(c) => io::Error::new(io::ErrorKind::InvalidData, c),
            None => e,
        })
    }
}

fn describe<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<EntryInfo> {
    let raw = entry.path()?.into_owned();
    let path = safe_name(&raw).map_err(|reason| {
        io::Error::new(io::ErrorKind::InvalidData, UnsafeName { path: raw.display().to_string(), reason })
    })?;
    let h = entry.header();
    let kind = match h.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink,
        tar::EntryType::Link => Kind::HardLink,
        other => Kind::Other(other.as_byte()),
    };
    let link = match kind {
        Kind::Symlink | Kind::HardLink => entry.link_name()?.map(|l| l.to_string_lossy().into_owned()),
        _ => None,
    };
    Ok(EntryInfo { path, kind, size: entry.size(), link })
}

/// An entry name that would escape the target.
#[derive(Debug, thiserror::Error)]
#[error("unsafe entry name {path:?}: {reason}")]
pub struct UnsafeName {
    pub path: String,
    pub reason: &'static str,
}

/// A relative name of normal UTF-8 components joined by `/`, or the reason it is not.
pub fn safe_name(p: &Path) -> std::result::Result<String, &'static str> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or("the name is not valid UTF-8")?),
            Component::ParentDir => return Err("it contains '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("it is an absolute path"),
            Component::CurDir => return Err("it contains '.'"),
        }
    }
    if parts.is_empty() {
        return Err("the name is empty");
    }
    let name = parts.join("/");
    crate::archive::rules::check_name(&name)?;
    Ok(name)
}
