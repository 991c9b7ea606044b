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
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::archive::manifest::{Entry, EntryType, Manifest, FILES_PREFIX};
use crate::archive::rules::{self, size_lie};
use crate::archive::unpack::{safe_name, EntryInfo, Kind};
use crate::digest::HashingReader;
use crate::error::{Error, Result};
use crate::fsutil::{create_private_dir_all, create_private_file};
use crate::progress::{Event, Progress};

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

/// The archive names of every link among `entries`, for `rules::check_link`.
fn link_set<'m>(entries: impl Iterator<Item = &'m Entry>) -> HashSet<String> {
    entries.filter(|e| e.kind == EntryType::Symlink).map(|e| e.path.clone()).collect()
}

fn check_link(path: &str, target: &str, links: &HashSet<String>) -> Result<()> {
    rules::check_link(path, target, links).map_err(|reason| Error::UnsafeEntry { path: path.into(), reason })
}

pub(crate) fn plan_from_manifest(manifest: &Manifest, opts: &FileRestoreOptions) -> Result<RestorePlan> {
    if let Some(only) = &opts.only {
        if !manifest.sources.iter().any(|s| &s.name == only) {
            let names: Vec<&str> = manifest.sources.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!("source {only:?} is not in this backup; it holds: {}", names.join(", "))));
        }
    }
    let mut plan = RestorePlan::default();
    let mut conflicts = Vec::new();
    // Items of another type (a folder where the backup has a file, a link...): never replaced.
    let mut blocked = false;
    let links = link_set(selected(manifest, opts.only.as_deref()));
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
                        blocked = true;
                    }
                }
            }
            EntryType::File | EntryType::Symlink => {
                if e.kind == EntryType::File {
                    plan.files += 1;
                    plan.bytes += e.size.unwrap_or(0);
                } else {
                    plan.symlinks += 1;
                    check_link(&e.path, e.target.as_deref().unwrap_or(""), &links)?;
                }
                if let Some(m) = existing {
                    let other_type = m.is_dir() || (m.file_type().is_symlink() != (e.kind == EntryType::Symlink));
                    if other_type || !opts.overwrite {
                        conflicts.push(dest.display().to_string());
                        blocked |= other_type;
                    } else {
                        plan.replaced.push(dest.display().to_string());
                    }
                }
            }
        }
    }
    if !conflicts.is_empty() {
        let examples = conflicts.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        return Err(Error::RestoreConflict {
            target: opts.target.clone(),
            count: conflicts.len(),
            examples,
            replaceable: !blocked,
        });
    }
    Ok(plan)
}

/// Free bytes for an unprivileged writer on the file system holding `dir` (fs4: statvfs on
/// Unix, GetDiskFreeSpaceEx on Windows).
fn free_bytes(dir: &Path) -> Option<u64> {
    fs4::available_space(dir).ok()
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

/// The file side of a restore, fed the archive's entries one by one by `ops::restore` (in the
/// same read as the MongoDB side). Made from the manifest, before any other entry is read:
/// the plan's checks (conflicts, free space) pass before anything is written.
pub(crate) struct FileSink {
    archive: PathBuf,
    opts: FileRestoreOptions,
    plan: RestorePlan,
    staging: Staging,
    st: Extract,
}

impl FileSink {
    /// Plans from the manifest, checks free space, and makes the private staging folder.
    pub(crate) fn prepare(archive: &Path, manifest: &Manifest, opts: &FileRestoreOptions) -> Result<Self> {
        let plan = plan_from_manifest(manifest, opts)?;
        let created_target = !opts.target.exists();
        let existing_ancestor = opts.target.ancestors().find(|a| a.is_dir()).unwrap_or(Path::new("."));
        if let Some(free) = free_bytes(existing_ancestor) {
            if free < plan.bytes {
                return Err(Error::NoSpace {
                    path: opts.target.clone(),
                    free_mib: free >> 20,
                    need_mib: plan.bytes.div_ceil(1 << 20),
                });
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
        let wanted: HashMap<String, Entry> =
            selected(manifest, opts.only.as_deref()).map(|e| (e.path.clone(), e.clone())).collect();
        let link_set = link_set(wanted.values());
        Ok(FileSink {
            archive: archive.to_path_buf(),
            opts: opts.clone(),
            plan,
            staging,
            st: Extract { wanted, links: Vec::new(), fixups: Vec::new(), link_set },
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.plan.bytes
    }

    /// One entry of the `files/` area, extracted into staging and checked against the manifest.
    pub(crate) fn entry(&mut self, info: &EntryInfo, content: &mut dyn Read, progress: &dyn Progress) -> Result<()> {
        let archive = &self.archive;
        let st = &mut self.st;
        let reason = match info.kind {
            Kind::HardLink => Some("hard links are refused"),
            Kind::Other(_) => Some("device files, FIFOs and other special files are refused"),
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(Error::UnsafeEntry { path: info.path.clone(), reason });
        }
        let Some(want) = st.wanted.remove(&info.path) else {
            if self.opts.only.is_some() {
                return Ok(()); // another source
            }
            return Err(Error::Corrupt {
                path: archive.to_path_buf(),
                reason: format!("entry {:?} is not in the manifest (or appears twice)", info.path),
            });
        };
        let rel = relative_target(&info.path)?;
        let dest = self.staging.dir.join(&rel);
        match (info.kind, want.kind) {
            (Kind::Dir, EntryType::Dir) => {
                create_private_dir_all(&dest)?;
            }
            (Kind::File, EntryType::File) => {
                // The tar header's size is known before a byte is written: a size that
                // disagrees with the manifest stops here, not after filling the disk.
                if Some(info.size) != want.size {
                    return Err(size_lie(archive, &info.path, info.size, want.size));
                }
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
                check_link(&info.path, &target, &st.link_set)?;
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
    }

    /// After the whole archive authenticated: links, modes and times in staging, then the
    /// move into place.
    pub(crate) fn finish(self) -> Result<RestoreReport> {
        let FileSink { archive, opts, plan, staging, st: state } = self;
        if let Some(missing) = state.wanted.keys().min() {
            return Err(Error::Corrupt {
                path: archive.to_path_buf(),
                reason: format!("{} manifest entries are missing from the archive, e.g. {missing}", state.wanted.len()),
            });
        }
        for (path, target) in &state.links {
            crate::fsutil::symlink(Path::new(target), path).map_err(|e| Error::io("create link", path, e))?;
        }
        // Files and links get their mode and time in staging; folders after the move, deepest
        // first, because moving entries into a folder changes its mtime.
        for (rel, kind, mode, mtime) in &state.fixups {
            let p = staging.dir.join(rel);
            let t = filetime::FileTime::from_unix_time(*mtime, 0);
            match kind {
                EntryType::File => {
                    crate::fsutil::set_mode(&p, rules::restored_mode(*mode))
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
            crate::fsutil::set_mode(&p, rules::restored_mode(*mode)).map_err(|e| Error::io("set mode of", &p, e))?;
            filetime::set_file_mtime(&p, filetime::FileTime::from_unix_time(*mtime, 0))
                .map_err(|e| Error::io("set time of", &p, e))?;
        }
        let mut staging = staging;
        staging.created_target = false;
        drop(staging);
        Ok(RestoreReport { target: opts.target.clone(), plan })
    }
}

struct Extract {
    /// Every link of the selection, for `check_link`.
    link_set: HashSet<String>,
    wanted: HashMap<String, Entry>,
    links: Vec<(PathBuf, String)>,
    fixups: Vec<(PathBuf, EntryType, u32, i64)>,
}

fn write_file(dest: &Path, content: &mut dyn io::Read, progress: &dyn Progress) -> Result<(u64, String)> {
    let mut f = create_private_file(dest)?;
    let mut h = HashingReader::new(content);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = h.read(&mut buf).map_err(|e| Error::io("read archive entry for", dest, e))?;
        if n == 0 {
            break;
        }
        f.write_all(&buf[..n]).map_err(|e| Error::io("write", dest, e))?;
        progress.event(Event::Advance(n as u64));
    }
    Ok(h.digest())
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
        Ok(_) => Err(Error::RestoreConflict {
            target: dst.to_path_buf(),
            count: 1,
            examples: dst.display().to_string(),
            replaceable: false,
        }),
    }
}

/// Flushes the restored data to disk before it is moved into place: one `syncfs` of the file
/// system on Linux (rustix), each file on other systems.
fn sync_tree(dir: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(f) = fs::File::open(dir) {
        let _ = rustix::fs::syncfs(&f);
    }
    #[cfg(not(target_os = "linux"))]
    for e in walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()).filter(|e| e.file_type().is_file()) {
        if let Ok(f) = fs::OpenOptions::new().write(true).open(e.path()) {
            let _ = f.sync_all();
        }
    }
}
