//! Safe restore of file sources. Planned, then executed:
//! 1. plan from the manifest (first chunk only): what goes where, conflicts, free space;
//! 2. extract into a private staging folder inside each destination root, checking each file's
//!    SHA-256;
//! 3. only when the whole archive authenticated to its final chunk, move into place.
//!
//! Where a source goes: `<target>/<source>/...` (a folder restore, one root), or in place, back
//! into the folder it was backed up from (the manifest's `path`). In place, sources may nest
//! (the `config` source is the installation root, `uploads` a folder in it): each distinct
//! folder is a root with a staging folder of its own inside it, so every move into place is a
//! rename on one file system even when a nested folder is a mount of its own.
//!
//! A wrong key, a tampered or truncated archive, or a hostile entry (`..`, absolute names,
//! escaping links, hard links, devices) leaves the target as it was.
//!
//! Depends on `unpack`, `manifest`, `fsutil`, `progress` and `error`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::archive::manifest::{Entry, EntryType, Manifest, FILES_PREFIX};
use crate::archive::rules::{self, size_lie};
use crate::archive::unpack::{safe_name, EntryInfo, Kind};
use crate::digest::HashingReader;
use crate::error::{Error, Result};
use crate::fsutil::{create_private_dir_all, create_private_file, file_system_of};
use crate::progress::{Event, Progress};

#[derive(Debug, Clone)]
pub struct FileRestoreOptions {
    /// Folder that receives `<source>/...`.
    pub target: PathBuf,
    /// Restore only this source.
    pub only: Option<String>,
    /// Replace files that already exist in the target.
    pub overwrite: bool,
    /// Put each source back into the folder it was backed up from (the manifest's path);
    /// `target` is then not used.
    pub in_place: bool,
}

/// Where one source of a plan goes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceDestination {
    pub source: String,
    /// `<target>/<source>`, or in place the path the source was backed up from.
    pub path: PathBuf,
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
    /// Where each source goes, in the order of `sources`.
    pub destinations: Vec<SourceDestination>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// The folder restored into; in place, the first of `roots`.
    pub target: PathBuf,
    /// Every folder that received files: the target, or in place each source's own folder (a
    /// single-file source's: the folder holding it).
    pub roots: Vec<PathBuf>,
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

/// `root/rel`, and `root` itself for an empty `rel` (a trailing separator would follow a link).
fn under(root: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Where an archive entry goes: a root (an index into `Layout::roots`) and the path under it.
#[derive(Debug, Clone)]
struct Spot {
    root: usize,
    rel: PathBuf,
    /// The folder entry a single-file source is stored under: in place it stands for the
    /// folder that holds the file, which the backup did not take, so its mode and time stay.
    borrowed: bool,
}

/// In place: where one source goes back to.
#[derive(Debug, Clone)]
struct Origin {
    root: usize,
    single_file: bool,
    /// The path it was backed up from (the manifest's).
    path: PathBuf,
}

/// Where the selected sources go: all under one folder (`<target>/<source>/...`), or in place
/// each into the folder it was backed up from.
#[derive(Debug, Clone)]
struct Layout {
    in_place: bool,
    /// The folders that receive files, each with a staging folder of its own: the target, or
    /// in place each distinct source folder (nested ones included).
    roots: Vec<PathBuf>,
    /// In place: per source name.
    origins: HashMap<String, Origin>,
}

impl Layout {
    fn new(manifest: &Manifest, opts: &FileRestoreOptions) -> Result<Self> {
        if !opts.in_place {
            return Ok(Layout { in_place: false, roots: vec![opts.target.clone()], origins: HashMap::new() });
        }
        let mut roots: Vec<PathBuf> = Vec::new();
        let mut origins = HashMap::new();
        for s in manifest.sources.iter().filter(|s| opts.only.as_ref().is_none_or(|o| *o == s.name)) {
            let path = PathBuf::from(&s.path);
            // A relative path (an imported backup's "uploads in daily-...") says nowhere in
            // particular, and `..` would make nesting and the plan's names ambiguous.
            if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
                return Err(Error::Usage(format!(
                    "source {:?} was backed up from {:?}, which is not a full folder path, so it cannot be put back \
                     where it was; restore it into a folder instead",
                    s.name, s.path
                )));
            }
            let single_file = was_single_file(manifest, &s.name, &path);
            let root = match path.parent() {
                Some(parent) if single_file => parent.to_path_buf(),
                _ => path.clone(),
            };
            let root = match roots.iter().position(|r| *r == root) {
                Some(i) => i,
                None => {
                    roots.push(root);
                    roots.len() - 1
                }
            };
            origins.insert(s.name.clone(), Origin { root, single_file, path });
        }
        Ok(Layout { in_place: true, roots, origins })
    }

    fn spot(&self, archive_path: &str) -> Result<Spot> {
        let rel = relative_target(archive_path)?;
        if !self.in_place {
            return Ok(Spot { root: 0, rel, borrowed: false });
        }
        let mut parts = rel.components();
        let name = parts.next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        let rest = parts.as_path().to_path_buf();
        let Some(origin) = self.origins.get(&name) else {
            return Err(Error::UnsafeEntry {
                path: archive_path.into(),
                reason: "it belongs to no source the manifest names, so it has no folder to go back to",
            });
        };
        Ok(Spot { root: origin.root, borrowed: origin.single_file && rest.as_os_str().is_empty(), rel: rest })
    }

    fn dest(&self, spot: &Spot) -> PathBuf {
        under(&self.roots[spot.root], &spot.rel)
    }

    /// The folder messages name: the target, or the deepest folder holding every root.
    fn shown(&self) -> PathBuf {
        let mut roots = self.roots.iter();
        let mut common = roots.next().cloned().unwrap_or_default();
        for r in roots {
            while !r.starts_with(&common) && common.pop() {}
        }
        common
    }
}

/// Whether a source was one file. The backup stores one as `files/<name>/<file name>` under a
/// folder entry it makes up (mode 0700, the file's mtime); in place, that file goes back into
/// the folder that held it. A source folder holding one item of its own name, mode 0700 and
/// the same time looks alike: what is on disk now decides (a folder there is a folder source).
fn was_single_file(manifest: &Manifest, name: &str, path: &Path) -> bool {
    let root = format!("{FILES_PREFIX}{name}");
    let inside = format!("{root}/");
    let mut folder = None;
    let mut items = Vec::new();
    for e in &manifest.entries {
        if e.path == root {
            folder = Some(e);
        } else if e.path.starts_with(&inside) {
            items.push(e);
        }
    }
    let (Some(folder), [item]) = (folder, items.as_slice()) else { return false };
    let file_name = path.file_name().and_then(|n| n.to_str());
    file_name == item.path.strip_prefix(&inside)
        && item.kind != EntryType::Dir
        && folder.mode == 0o700
        && folder.mtime == item.mtime
        && !fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// A plan and what carrying it out needs.
struct Planned {
    plan: RestorePlan,
    layout: Layout,
    /// Bytes of files going to each root.
    bytes: Vec<u64>,
}

pub(crate) fn plan_from_manifest(manifest: &Manifest, opts: &FileRestoreOptions) -> Result<RestorePlan> {
    make_plan(manifest, opts).map(|p| p.plan)
}

fn make_plan(manifest: &Manifest, opts: &FileRestoreOptions) -> Result<Planned> {
    if let Some(only) = &opts.only {
        if !manifest.sources.iter().any(|s| &s.name == only) {
            let names: Vec<&str> = manifest.sources.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!("source {only:?} is not in this backup; it holds: {}", names.join(", "))));
        }
    }
    let layout = Layout::new(manifest, opts)?;
    let mut plan = RestorePlan::default();
    let mut bytes = vec![0u64; layout.roots.len()];
    let mut conflicts = Vec::new();
    // Items of another type (a folder where the backup has a file, a link...): never replaced.
    let mut blocked = false;
    let links = link_set(selected(manifest, opts.only.as_deref()));
    // In place, sources may nest: two of them may share a folder, nothing else, or one would
    // silently overwrite the other.
    let mut placed: HashMap<PathBuf, (EntryType, &str)> = HashMap::new();
    for e in selected(manifest, opts.only.as_deref()) {
        let rel = relative_target(&e.path)?;
        let spot = layout.spot(&e.path)?;
        let dest = layout.dest(&spot);
        if rel.components().count() == 1 {
            if e.kind != EntryType::Dir {
                return Err(Error::UnsafeEntry { path: e.path.clone(), reason: "a source's root must be a folder" });
            }
            let source = rel.display().to_string();
            let path = layout.origins.get(&source).map(|o| o.path.clone()).unwrap_or_else(|| dest.clone());
            plan.destinations.push(SourceDestination { source: source.clone(), path });
            plan.sources.push(source);
        }
        if let Some((kind, first)) = placed.insert(dest.clone(), (e.kind, e.path.as_str())) {
            if kind != EntryType::Dir || e.kind != EntryType::Dir {
                return Err(two_sources(first, &e.path, &dest));
            }
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
                    bytes[spot.root] += e.size.unwrap_or(0);
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
    // A nested root must not lie under a file or link another source puts back: its staging
    // folder would be made where that item goes.
    for root in &layout.roots {
        for a in root.ancestors() {
            if let Some((kind, first)) = placed.get(a) {
                if *kind != EntryType::Dir {
                    return Err(Error::Usage(format!(
                        "{first} of this backup would be put back as {}, inside which another source goes back \
                         ({}); restore one source at a time, or into a folder",
                        a.display(),
                        root.display()
                    )));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        let examples = conflicts.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        return Err(Error::RestoreConflict {
            target: layout.shown(),
            count: conflicts.len(),
            examples,
            replaceable: !blocked,
        });
    }
    Ok(Planned { plan, layout, bytes })
}

fn two_sources(first: &str, second: &str, dest: &Path) -> Error {
    Error::Usage(format!(
        "{first} and {second} of this backup would both be put back as {}; restore one source at a time, or into a \
         folder",
        dest.display()
    ))
}

/// Free bytes for an unprivileged writer on the file system holding `dir` (fs4: statvfs on
/// Unix, GetDiskFreeSpaceEx on Windows).
fn free_bytes(dir: &Path) -> Option<u64> {
    fs4::available_space(dir).ok()
}

/// Checks the free space of each file system the roots are on against the bytes going there
/// (nested roots are often one file system, sometimes not).
fn check_space(layout: &Layout, bytes: &[u64]) -> Result<()> {
    let mut need: Vec<(String, &Path, &Path, u64)> = Vec::new();
    for (root, b) in layout.roots.iter().zip(bytes) {
        let existing = root.ancestors().find(|a| a.is_dir()).unwrap_or(Path::new("."));
        let key = file_system_of(existing).unwrap_or_else(|| existing.display().to_string());
        match need.iter_mut().find(|n| n.0 == key) {
            Some(n) => n.3 += b,
            None => need.push((key, root, existing, *b)),
        }
    }
    for (_, root, existing, b) in need {
        if let Some(free) = free_bytes(existing) {
            if free < b {
                return Err(Error::NoSpace {
                    path: root.to_path_buf(),
                    free_mib: free >> 20,
                    need_mib: b.div_ceil(1 << 20),
                });
            }
        }
    }
    Ok(())
}

/// The staging folder of one root; removed on drop, with the folders made for it if they are
/// still empty, unless the restore completed.
struct Staging {
    dir: PathBuf,
    /// The root and its parents that did not exist, deepest first.
    created: Vec<PathBuf>,
}

impl Staging {
    /// Makes `root` (and missing parents) and a private staging folder inside it.
    fn create(root: &Path) -> Result<Self> {
        let created = root
            .ancestors()
            .take_while(|a| {
                !a.as_os_str().is_empty()
                    && matches!(fs::symlink_metadata(a), Err(e) if e.kind() == io::ErrorKind::NotFound)
            })
            .map(Path::to_path_buf)
            .collect();
        let staging = Staging { dir: root.join(format!(".hrsm-restore-{}", std::process::id())), created };
        create_private_dir_all(root)?;
        let _ = fs::remove_dir_all(&staging.dir);
        create_private_dir_all(&staging.dir)?;
        Ok(staging)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        for dir in &self.created {
            let _ = fs::remove_dir(dir); // only if still empty
        }
    }
}

/// The staging folders, one per root, dropped in reverse order of creation: a nested root's
/// folder (made inside another's) goes before the one that holds it.
struct Stagings(Vec<Staging>);

impl Stagings {
    /// The restore completed: the folders it made stay.
    fn keep(&mut self) {
        for s in &mut self.0 {
            s.created.clear();
        }
    }
}

impl Drop for Stagings {
    fn drop(&mut self) {
        while let Some(s) = self.0.pop() {
            drop(s);
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
    layout: Layout,
    stagings: Stagings,
    st: Extract,
}

impl FileSink {
    /// Plans from the manifest, checks free space, and makes the private staging folders.
    pub(crate) fn prepare(archive: &Path, manifest: &Manifest, opts: &FileRestoreOptions) -> Result<Self> {
        let Planned { plan, layout, bytes } = make_plan(manifest, opts)?;
        check_space(&layout, &bytes)?;
        let mut stagings = Stagings(Vec::with_capacity(layout.roots.len()));
        for root in &layout.roots {
            stagings.0.push(Staging::create(root)?);
        }
        let wanted: HashMap<String, Entry> =
            selected(manifest, opts.only.as_deref()).map(|e| (e.path.clone(), e.clone())).collect();
        let link_set = link_set(wanted.values());
        Ok(FileSink {
            archive: archive.to_path_buf(),
            opts: opts.clone(),
            plan,
            layout,
            stagings,
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
        let spot = self.layout.spot(&info.path)?;
        let dest = under(&self.stagings.0[spot.root].dir, &spot.rel);
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
        st.fixups.push((spot, want.kind, want.mode, want.mtime));
        Ok(())
    }

    /// After the whole archive authenticated: links, modes and times in staging, then the
    /// move into place.
    pub(crate) fn finish(self) -> Result<RestoreReport> {
        let FileSink { archive, opts, plan, layout, mut stagings, st: state } = self;
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
        for (spot, kind, mode, mtime) in &state.fixups {
            let p = under(&stagings.0[spot.root].dir, &spot.rel);
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
        for s in &stagings.0 {
            sync_tree(&s.dir);
        }
        // Step 3: the archive checked out; move into place, root by root.
        for (s, root) in stagings.0.iter().zip(&layout.roots) {
            let rd = fs::read_dir(&s.dir).map_err(|e| Error::io("list", &s.dir, e))?;
            for dent in rd {
                let dent = dent.map_err(|e| Error::io("list", &s.dir, e))?;
                merge_move(&dent.path(), &root.join(dent.file_name()))?;
            }
        }
        // The (now empty) staging folders go before the folders get their times: removing one
        // changes its root's mtime, and in place a root is a restored folder.
        for s in &stagings.0 {
            let _ = fs::remove_dir(&s.dir);
        }
        // Deepest first across all roots: a nested root sits inside another root's folders.
        let mut dirs: Vec<(PathBuf, u32, i64)> = state
            .fixups
            .iter()
            .filter(|f| f.1 == EntryType::Dir && !f.0.borrowed)
            .map(|(spot, _, mode, mtime)| (layout.dest(spot), *mode, *mtime))
            .collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0.components().count()));
        for (p, mode, mtime) in dirs {
            crate::fsutil::set_mode(&p, rules::restored_mode(mode)).map_err(|e| Error::io("set mode of", &p, e))?;
            filetime::set_file_mtime(&p, filetime::FileTime::from_unix_time(mtime, 0))
                .map_err(|e| Error::io("set time of", &p, e))?;
        }
        stagings.keep();
        drop(stagings);
        let target = match layout.roots.first() {
            Some(first) if opts.in_place => first.clone(),
            _ => opts.target.clone(),
        };
        Ok(RestoreReport { target, roots: layout.roots.clone(), plan })
    }
}

struct Extract {
    /// Every link of the selection, for `check_link`.
    link_set: HashSet<String>,
    wanted: HashMap<String, Entry>,
    links: Vec<(PathBuf, String)>,
    fixups: Vec<(Spot, EntryType, u32, i64)>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::manifest::SourceSummary;

    fn entry(path: &str, kind: EntryType, mtime: i64) -> Entry {
        let file = kind == EntryType::File;
        Entry {
            path: path.into(),
            kind,
            mode: if file { 0o644 } else { 0o755 },
            mtime,
            size: file.then_some(1),
            sha256: file.then(|| "00".repeat(32)),
            target: None,
        }
    }

    fn manifest(sources: &[(&str, &Path)], entries: Vec<Entry>) -> Manifest {
        let mut m = Manifest::new("20250101-000000-abcd", "key", chrono::Utc::now());
        m.sources = sources
            .iter()
            .map(|(name, path)| SourceSummary {
                name: name.to_string(),
                path: path.display().to_string(),
                files: 0,
                bytes: 0,
            })
            .collect();
        m.entries = entries;
        m
    }

    fn in_place() -> FileRestoreOptions {
        FileRestoreOptions { target: PathBuf::new(), only: None, overwrite: false, in_place: true }
    }

    #[test]
    fn a_source_without_a_full_path_is_not_put_back_in_place() {
        let t = tempfile::tempdir().unwrap();
        let entries = vec![entry("files/uploads", EntryType::Dir, 1), entry("files/uploads/a.pdf", EntryType::File, 1)];
        for recorded in ["uploads in daily/daily-backup-2024-01-01.tar.gz.enc", "/srv/hr-sm/../etc"] {
            let m = manifest(&[("uploads", Path::new(recorded))], entries.clone());
            let err = plan_from_manifest(&m, &in_place()).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{err:?}");
            let text = err.to_string();
            assert!(
                text.contains("not a full folder path") && text.contains("restore it into a folder instead"),
                "{text}"
            );
            // The same backup still restores into a folder.
            let into = FileRestoreOptions { target: t.path().join("out"), in_place: false, ..in_place() };
            assert_eq!(plan_from_manifest(&m, &into).unwrap().files, 1);
        }
    }

    #[test]
    fn nested_sources_each_go_back_to_their_own_folder() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("hr-sm");
        let m = manifest(
            &[("config", &root), ("uploads", &root.join("uploads"))],
            vec![
                entry("files/config", EntryType::Dir, 1),
                entry("files/config/.env", EntryType::File, 1),
                entry("files/uploads", EntryType::Dir, 1),
                entry("files/uploads/x/y.pdf", EntryType::File, 1),
            ],
        );
        let planned = make_plan(&m, &in_place()).unwrap();
        assert_eq!(planned.layout.roots, vec![root.clone(), root.join("uploads")]);
        assert_eq!(planned.bytes, vec![1, 1]);
        let dest = |p: &str| planned.layout.dest(&planned.layout.spot(p).unwrap());
        assert_eq!(dest("files/config"), root);
        assert_eq!(dest("files/config/.env"), root.join(".env"));
        assert_eq!(dest("files/uploads/x/y.pdf"), root.join("uploads/x/y.pdf"));
        assert_eq!(planned.layout.shown(), root);
        let shown: Vec<(&str, &Path)> =
            planned.plan.destinations.iter().map(|d| (d.source.as_str(), d.path.as_path())).collect();
        assert_eq!(shown, vec![("config", root.as_path()), ("uploads", root.join("uploads").as_path())]);
    }

    #[test]
    fn a_single_file_source_goes_back_into_the_folder_that_held_it() {
        let t = tempfile::tempdir().unwrap();
        let key = t.path().join("keys/private.pem");
        // The folder entry the backup made up for it: mode 0700, the file's time.
        let mut folder = entry("files/license-key", EntryType::Dir, 1_700_000_000);
        folder.mode = 0o700;
        let m = manifest(
            &[("license-key", &key)],
            vec![folder, entry("files/license-key/private.pem", EntryType::File, 1_700_000_000)],
        );
        let planned = make_plan(&m, &in_place()).unwrap();
        assert_eq!(planned.layout.roots, vec![t.path().join("keys")]);
        let spot = planned.layout.spot("files/license-key").unwrap();
        assert!(spot.borrowed, "the folder holding the file is not the backup's to change");
        let spot = planned.layout.spot("files/license-key/private.pem").unwrap();
        assert_eq!(planned.layout.dest(&spot), key);
        // A folder of that name on disk now: it was a folder source after all.
        fs::create_dir_all(&key).unwrap();
        let planned = make_plan(&m, &in_place()).unwrap();
        assert_eq!(planned.layout.roots, vec![key]);
    }

    #[test]
    fn two_sources_that_would_put_a_file_at_one_path_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("hr-sm");
        let m = manifest(
            &[("config", &root), ("uploads", &root.join("uploads"))],
            vec![
                entry("files/config", EntryType::Dir, 1),
                entry("files/config/uploads", EntryType::Dir, 1),
                entry("files/config/uploads/a.pdf", EntryType::File, 1),
                entry("files/uploads", EntryType::Dir, 1),
                entry("files/uploads/a.pdf", EntryType::File, 1),
            ],
        );
        let err = plan_from_manifest(&m, &in_place()).unwrap_err().to_string();
        assert!(err.contains("would both be put back as") && err.contains("restore one source at a time"), "{err}");
        let only = FileRestoreOptions { only: Some("uploads".into()), ..in_place() };
        assert_eq!(plan_from_manifest(&m, &only).unwrap().files, 1);
    }
}
