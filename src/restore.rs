//! Safe restore of file sources. Planned, then executed:
//! 1. plan from the manifest (first chunk only): what goes where, conflicts, free space;
//! 2. extract into a private staging folder inside the target, checking each file's SHA-256;
//! 3. only when the whole archive authenticated to its final chunk, move into place.
//!
//! A wrong key, a tampered or truncated archive, or a hostile entry (`..`, absolute names,
//! escaping links, hard links, devices) leaves the target as it was.
//!
//! Depends on `unpack`, `manifest`, `fsutil`, `progress` and `error`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::fsutil::{create_private_dir_all, create_private_file};
use crate::manifest::{Entry, EntryType, Manifest, FILES_PREFIX};
use crate::progress::{Event, Progress};
use crate::unpack::{read_archive, read_manifest, safe_name, Kind};

#[derive(Debug, Clone)]
pub struct FileRestoreOptions {
    /// Folder that receives `<source>/...`.
    pub target: PathBuf,
    /// Restore only this source.
    pub only: Option<String>,
    /// Replace files that already exist in the target.
    pub overwrite: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestorePlan {
    pub sources: Vec<String>,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Existing items that will be replaced (only with `overwrite`).
    pub replaced: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    pub target: PathBuf,
    pub plan: RestorePlan,
}

/// Step 1: reads the manifest and checks the target; writes nothing.
pub fn plan_file_restore(
    archive: &Path,
    key: &MasterKey,
    opts: &FileRestoreOptions,
) -> Result<(Manifest, RestorePlan)> {
    let manifest = read_manifest(archive, key)?;
    let plan = plan_from_manifest(&manifest, opts)?;
    Ok((manifest, plan))
}

fn selected<'m>(manifest: &'m Manifest, only: Option<&str>) -> impl Iterator<Item = &'m Entry> + 'm {
    let prefix = only.map(|s| (format!("{FILES_PREFIX}{s}"), format!("{FILES_PREFIX}{s}/")));
    manifest.entries.iter().filter(move |e| match &prefix {
        Some((root, under)) => e.path == *root || e.path.starts_with(under.as_str()),
        None => e.path.starts_with(FILES_PREFIX),
    })
}

/// Where an archive path goes, relative to the target (`files/a/b` -> `a/b`).
fn relative_target(path: &str) -> Result<PathBuf> {
    let rest = path
        .strip_prefix(FILES_PREFIX)
        .ok_or(Error::UnsafeEntry { path: path.into(), reason: "it is not under files/" })?;
    let name = safe_name(Path::new(rest)).map_err(|reason| Error::UnsafeEntry { path: path.into(), reason })?;
    Ok(PathBuf::from(name))
}

/// A link target must be relative and, resolved from the link's folder, stay inside the
/// link's source (the first component of `rel`) without passing through another link of the
/// archive (`links`): a chain of links could otherwise climb out step by step.
fn check_link(rel: &Path, target: &str, path: &str, links: &HashSet<PathBuf>) -> Result<()> {
    let unsafe_link = |reason| Error::UnsafeEntry { path: path.into(), reason };
    let t = Path::new(target);
    if t.is_absolute() {
        return Err(unsafe_link("it is a symbolic link to an absolute path"));
    }
    // Where the link resolves, component by component, starting in the link's folder.
    let mut at: Vec<&std::ffi::OsStr> = rel.components().map(|c| c.as_os_str()).collect();
    at.pop();
    for c in t.components() {
        match c {
            Component::ParentDir => {
                at.pop();
            }
            Component::Normal(n) => {
                at.push(n);
                if links.contains(&at.iter().collect::<PathBuf>()) {
                    return Err(unsafe_link("it is a symbolic link that goes through another link"));
                }
            }
            Component::CurDir => {}
            _ => return Err(unsafe_link("it is a symbolic link with an unusable target")),
        }
        // The source's own folder (one component) is as high as a link may point.
        if at.is_empty() {
            return Err(unsafe_link("it is a symbolic link that points outside its source"));
        }
    }
    Ok(())
}

/// The targets (relative to the restore folder) of every link among `entries`.
fn link_set<'m>(entries: impl Iterator<Item = &'m Entry>) -> Result<HashSet<PathBuf>> {
    entries.filter(|e| e.kind == EntryType::Symlink).map(|e| relative_target(&e.path)).collect()
}

fn plan_from_manifest(manifest: &Manifest, opts: &FileRestoreOptions) -> Result<RestorePlan> {
    if let Some(only) = &opts.only {
        if !manifest.sources.iter().any(|s| &s.name == only) {
            let names: Vec<&str> = manifest.sources.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!("source {only:?} is not in this backup; it holds: {}", names.join(", "))));
        }
    }
    let mut plan = RestorePlan::default();
    let mut conflicts = Vec::new();
    let links = link_set(selected(manifest, opts.only.as_deref()))?;
    for e in selected(manifest, opts.only.as_deref()) {
        let rel = relative_target(&e.path)?;
        let dest = opts.target.join(&rel);
        if rel.components().count() == 1 {
            if e.kind != EntryType::Dir {
                return Err(Error::UnsafeEntry { path: e.path.clone(), reason: "a source's root must be a folder" });
            }
            plan.sources.push(rel.display().to_string());
        }
        let existing = fs::symlink_metadata(&dest).ok();
        match e.kind {
            EntryType::Dir => {
                plan.dirs += 1;
                if let Some(m) = existing {
                    if !m.is_dir() {
                        conflicts.push(dest.display().to_string());
                    }
                }
            }
            EntryType::File | EntryType::Symlink => {
                if e.kind == EntryType::File {
                    plan.files += 1;
                    plan.bytes += e.size.unwrap_or(0);
                } else {
                    plan.symlinks += 1;
                    check_link(&rel, e.target.as_deref().unwrap_or(""), &e.path, &links)?;
                }
                if let Some(m) = existing {
                    if m.is_dir() || !opts.overwrite {
                        conflicts.push(dest.display().to_string());
                    } else {
                        plan.replaced.push(dest.display().to_string());
                    }
                }
            }
        }
    }
    if !conflicts.is_empty() {
        let examples = conflicts.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        return Err(Error::RestoreConflict { target: opts.target.clone(), count: conflicts.len(), examples });
    }
    Ok(plan)
}

/// Free bytes for an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// The staging folder; removed on drop unless the restore completed.
struct Staging {
    dir: PathBuf,
    target: PathBuf,
    created_target: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        if self.created_target {
            let _ = fs::remove_dir(&self.target); // only if still empty
        }
    }
}

/// Restores file sources. See the module doc for the guarantees.
pub fn restore_files(
    archive: &Path,
    key: &MasterKey,
    opts: &FileRestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let (_, plan) = plan_file_restore(archive, key, opts)?;
    let created_target = !opts.target.exists();
    let existing_ancestor = opts.target.ancestors().find(|a| a.is_dir()).unwrap_or(Path::new("."));
    if let Some(free) = free_bytes(existing_ancestor) {
        if free < plan.bytes {
            return Err(Error::Usage(format!(
                "{} has {} MiB free but the restore needs {} MiB; free space or choose another folder",
                opts.target.display(),
                free >> 20,
                plan.bytes.div_ceil(1 << 20)
            )));
        }
    }
    create_private_dir_all(&opts.target)?;
    let staging = Staging {
        dir: opts.target.join(format!(".hrsm-restore-{}", std::process::id())),
        target: opts.target.clone(),
        created_target,
    };
    let _ = fs::remove_dir_all(&staging.dir);
    create_private_dir_all(&staging.dir)?;

    progress.event(Event::Phase("restoring"));
    progress.event(Event::Total(plan.bytes));
    let only = opts.only.clone();
    let (_, state) = read_archive(
        archive,
        key,
        |m| {
            let wanted: HashMap<String, Entry> =
                selected(m, only.as_deref()).map(|e| (e.path.clone(), e.clone())).collect();
            let link_set = link_set(wanted.values())?;
            Ok(Extract { wanted, links: Vec::new(), fixups: Vec::new(), link_set })
        },
        |st, info, content| {
            if !info.path.starts_with(FILES_PREFIX) {
                return Ok(()); // the MongoDB part is restored elsewhere
            }
            let reason = match info.kind {
                Kind::HardLink => Some("hard links are refused"),
                Kind::Other(_) => Some("device files, FIFOs and other special files are refused"),
                _ => None,
            };
            if let Some(reason) = reason {
                return Err(Error::UnsafeEntry { path: info.path.clone(), reason });
            }
            let Some(want) = st.wanted.remove(&info.path) else {
                if only.is_some() {
                    return Ok(()); // another source
                }
                return Err(Error::Corrupt {
                    path: archive.to_path_buf(),
                    reason: format!("entry {:?} is not in the manifest (or appears twice)", info.path),
                });
            };
            let rel = relative_target(&info.path)?;
            let dest = staging.dir.join(&rel);
            match (info.kind, want.kind) {
                (Kind::Dir, EntryType::Dir) => {
                    create_private_dir_all(&dest)?;
                }
                (Kind::File, EntryType::File) => {
                    if let Some(parent) = dest.parent() {
                        create_private_dir_all(parent)?;
                    }
                    let (size, sha) = write_file(&dest, content, progress)?;
                    if Some(size) != want.size || Some(&sha) != want.sha256.as_ref() {
                        return Err(Error::Corrupt {
                            path: archive.to_path_buf(),
                            reason: format!("{} does not match the manifest (size or SHA-256 differ)", info.path),
                        });
                    }
                }
                (Kind::Symlink, EntryType::Symlink) if info.link == want.target => {
                    let target = want.target.clone().unwrap_or_default();
                    check_link(&rel, &target, &info.path, &st.link_set)?;
                    // Links are made after every file: no write can go through one.
                    st.links.push((dest.clone(), target));
                }
                _ => {
                    return Err(Error::Corrupt {
                        path: archive.to_path_buf(),
                        reason: format!("{} has type {:?} but the manifest says {:?}", info.path, info.kind, want.kind),
                    })
                }
            }
            st.fixups.push((rel, want.kind, want.mode, want.mtime));
            Ok(())
        },
    )?;
    if let Some(missing) = state.wanted.keys().next() {
        return Err(Error::Corrupt {
            path: archive.to_path_buf(),
            reason: format!("{} manifest entries are missing from the archive, e.g. {missing}", state.wanted.len()),
        });
    }
    for (path, target) in &state.links {
        std::os::unix::fs::symlink(target, path).map_err(|e| Error::io("create link", path, e))?;
    }
    // Files and links get their mode and time in staging; folders after the move, deepest
    // first, because moving entries into a folder changes its mtime.
    for (rel, kind, mode, mtime) in &state.fixups {
        let p = staging.dir.join(rel);
        let t = filetime::FileTime::from_unix_time(*mtime, 0);
        match kind {
            EntryType::File => {
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode & 0o7777))
                    .map_err(|e| Error::io("set mode of", &p, e))?;
                filetime::set_file_mtime(&p, t).map_err(|e| Error::io("set time of", &p, e))?;
            }
            EntryType::Symlink => {
                filetime::set_symlink_file_times(&p, t, t).map_err(|e| Error::io("set time of", &p, e))?;
            }
            EntryType::Dir => {}
        }
    }
    sync_tree(&staging.dir);
    // Step 3: the archive checked out; move into place.
    let rd = fs::read_dir(&staging.dir).map_err(|e| Error::io("list", &staging.dir, e))?;
    for dent in rd {
        let dent = dent.map_err(|e| Error::io("list", &staging.dir, e))?;
        merge_move(&dent.path(), &opts.target.join(dent.file_name()))?;
    }
    let mut dirs: Vec<_> = state.fixups.iter().filter(|f| f.1 == EntryType::Dir).collect();
    dirs.sort_by_key(|f| std::cmp::Reverse(f.0.components().count()));
    for (rel, _, mode, mtime) in dirs {
        let p = opts.target.join(rel);
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode & 0o7777))
            .map_err(|e| Error::io("set mode of", &p, e))?;
        filetime::set_file_mtime(&p, filetime::FileTime::from_unix_time(*mtime, 0))
            .map_err(|e| Error::io("set time of", &p, e))?;
    }
    let mut staging = staging;
    staging.created_target = false;
    drop(staging);
    Ok(RestoreReport { target: opts.target.clone(), plan })
}

struct Extract {
    /// Every link of the selection, for `check_link`.
    link_set: HashSet<PathBuf>,
    wanted: HashMap<String, Entry>,
    links: Vec<(PathBuf, String)>,
    fixups: Vec<(PathBuf, EntryType, u32, i64)>,
}

fn write_file(dest: &Path, content: &mut dyn io::Read, progress: &dyn Progress) -> Result<(u64, String)> {
    let mut f = create_private_file(dest)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = content.read(&mut buf).map_err(|e| Error::io("read archive entry for", dest, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).map_err(|e| Error::io("write", dest, e))?;
        size += n as u64;
        progress.event(Event::Advance(n as u64));
    }
    Ok((size, hex::encode(h.finalize())))
}

/// Moves `src` to `dst`, merging folders that exist on both sides. Never follows a link in the
/// target: the plan refused entries whose destination is a link or of another type.
fn merge_move(src: &Path, dst: &Path) -> Result<()> {
    match fs::symlink_metadata(dst) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::rename(src, dst).map_err(|e| Error::io("move into place", dst, e))
        }
        Err(e) => Err(Error::io("inspect", dst, e)),
        Ok(m) if m.is_dir() && fs::symlink_metadata(src).map(|s| s.is_dir()).unwrap_or(false) => {
            let rd = fs::read_dir(src).map_err(|e| Error::io("list", src, e))?;
            for dent in rd {
                let dent = dent.map_err(|e| Error::io("list", src, e))?;
                merge_move(&dent.path(), &dst.join(dent.file_name()))?;
            }
            fs::remove_dir(src).map_err(|e| Error::io("remove", src, e))
        }
        Ok(m) if !m.is_dir() => fs::rename(src, dst).map_err(|e| Error::io("replace", dst, e)),
        Ok(_) => {
            Err(Error::RestoreConflict { target: dst.to_path_buf(), count: 1, examples: dst.display().to_string() })
        }
    }
}

/// Flushes the restored data to disk before it is moved into place.
fn sync_tree(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; syncfs only flushes.
        unsafe { libc::syncfs(f.as_raw_fd()) };
    }
}
