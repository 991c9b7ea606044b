//! File sources: walks each configured folder and describes every item to back up (type, mode,
//! mtime, size, SHA-256) without following symlinks. Unreadable items fail the run naming their
//! path, or become manifest warnings when the admin chose `on_unreadable = "warn"`; nothing is
//! skipped silently.
//!
//! Depends on `config`, `manifest`, `progress` and `error`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobSet, GlobSetBuilder};

use crate::archive::manifest::{Entry, EntryType, SourceSummary, FILES_PREFIX};
use crate::config::{OnUnreadable, SourceConfig};
use crate::error::{describe_io, Error, Result};
use crate::progress::{Event, Progress};

/// One item to archive: its manifest entry and where it lives on disk.
#[derive(Debug, Clone)]
pub struct Item {
    pub entry: Entry,
    pub fs_path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct CollectedSource {
    pub summary: SourceSummary,
    pub items: Vec<Item>,
}

/// Describes one source. `warnings` receives what `warn` mode let through.
pub fn collect(
    src: &SourceConfig,
    warnings: &mut Vec<String>,
    progress: &dyn Progress,
) -> Result<Option<CollectedSource>> {
    let root_meta = match fs::symlink_metadata(&src.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !src.required => {
            let w = format!("source '{}': {} does not exist (optional source, skipped)", src.name, src.path.display());
            progress.event(Event::Warning(w.clone()));
            warnings.push(w);
            return Ok(None);
        }
        Err(e) => {
            return Err(Error::Source {
                source_name: src.name.clone(),
                message: format!(
                    "cannot open {}: {}; fix its path in the config file (or set required = false)",
                    src.path.display(),
                    describe_io(&e)
                ),
            })
        }
    };
    let mut walker = Walker {
        src,
        include_dirs: IncludeDirs::new(src)?,
        include: build_globs(src, &src.include)?,
        exclude: build_globs(src, &src.exclude)?,
        warnings,
        progress,
        items: Vec::new(),
    };
    let prefix = format!("{FILES_PREFIX}{}", src.name);
    if root_meta.is_dir() {
        walker.walk_dir(&prefix)?;
    } else {
        // A single file: stored as files/<name>/<file name>, under a folder entry like any other.
        let name = src.path.file_name().and_then(|n| n.to_str()).ok_or_else(|| Error::Source {
            source_name: src.name.clone(),
            message: format!("{} has no usable file name", src.path.display()),
        })?;
        walker.items.push(Item {
            entry: Entry {
                path: prefix.clone(),
                kind: EntryType::Dir,
                mode: 0o700,
                mtime: crate::fsutil::mtime_of(&root_meta),
                size: None,
                sha256: None,
                target: None,
            },
            fs_path: src.path.parent().unwrap_or(Path::new("/")).to_path_buf(),
        });
        let path = src.path.clone();
        walker.add(&path, &format!("{prefix}/{name}"), root_meta)?;
    }
    walker.apply_restore_rules()?;
    let items = walker.items;
    let files = items.iter().filter(|i| i.entry.kind == EntryType::File).count() as u64;
    let bytes = items.iter().filter_map(|i| i.entry.size).sum();
    Ok(Some(CollectedSource {
        summary: SourceSummary { name: src.name.clone(), path: src.path.display().to_string(), files, bytes },
        items,
    }))
}

fn build_globs(src: &SourceConfig, patterns: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(globset::Glob::new(p).map_err(|e| Error::Config(format!("source {:?}: bad glob {p:?}: {e}", src.name)))?);
    }
    b.build().map_err(|e| Error::Config(format!("source {:?}: {e}", src.name)))
}

/// Which folders can hold something the include patterns match, so the walk never enters the
/// others (an installation's `node_modules`, or a folder it cannot read that nobody asked
/// for). Each pattern is matched one path component at a time: a folder is entered when its
/// components match the pattern's leading components and the pattern goes on below it, or
/// when the pattern reaches a `**` first. globset matches whole paths only, hence this.
struct IncludeDirs(Vec<Vec<Option<globset::GlobMatcher>>>);

impl IncludeDirs {
    fn new(src: &SourceConfig) -> Result<Self> {
        let mut out = Vec::new();
        for p in &src.include {
            let mut parts = Vec::new();
            for part in p.split('/') {
                parts.push(if part == "**" {
                    None
                } else {
                    let g = globset::GlobBuilder::new(part)
                        .literal_separator(true)
                        .build()
                        .map_err(|e| Error::Config(format!("source {:?}: bad glob {p:?}: {e}", src.name)))?;
                    Some(g.compile_matcher())
                });
            }
            out.push(parts);
        }
        Ok(IncludeDirs(out))
    }

    /// True if no include pattern is set, or one may match something inside `dir`.
    fn may_hold_matches(&self, dir: &Path) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let comps: Vec<&std::ffi::OsStr> = dir.iter().collect();
        self.0.iter().any(|pattern| {
            for (i, c) in comps.iter().enumerate() {
                match pattern.get(i) {
                    None => return false,
                    Some(None) => return true,
                    Some(Some(m)) if m.is_match(c) => {}
                    Some(Some(_)) => return false,
                }
            }
            pattern.len() > comps.len()
        })
    }
}

struct Walker<'a> {
    src: &'a SourceConfig,
    include_dirs: IncludeDirs,
    include: GlobSet,
    exclude: GlobSet,
    warnings: &'a mut Vec<String>,
    progress: &'a dyn Progress,
    items: Vec<Item>,
}

impl Walker<'_> {
    /// A problem with one item: fail, or warn and skip it, as configured.
    fn unreadable(&mut self, path: &Path, why: String) -> Result<()> {
        let message = format!("cannot back up {}: {why}", path.display());
        match self.src.on_unreadable {
            OnUnreadable::Fail => Err(Error::Source {
                source_name: self.src.name.clone(),
                message: format!("{message} (fix it, exclude it, or set on_unreadable = \"warn\")"),
            }),
            OnUnreadable::Warn => {
                let w = format!("source '{}': {message}; skipped", self.src.name);
                self.progress.event(Event::Warning(w.clone()));
                self.warnings.push(w);
                Ok(())
            }
        }
    }

    fn walk_dir(&mut self, prefix: &str) -> Result<()> {
        let root = self.src.path.clone();
        let mut it = walkdir::WalkDir::new(&root).follow_links(false).sort_by_file_name().into_iter();
        while let Some(next) = it.next() {
            let dent = match next {
                Ok(d) => d,
                Err(e) => {
                    let path = e.path().unwrap_or(&root).to_path_buf();
                    let why = e.io_error().map(describe_io).unwrap_or_else(|| e.to_string());
                    self.unreadable(&path, why)?;
                    continue;
                }
            };
            let rel = match dent.path().strip_prefix(&root) {
                Ok(r) => r.to_path_buf(),
                Err(_) => continue,
            };
            // Archive names and patterns use '/' on every system (FORMAT.md): on Windows the
            // path's own separator is '\'.
            let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
            let Some(rel_str) = parts.map(|p| p.join("/")) else {
                self.unreadable(dent.path(), "its name is not valid UTF-8".into())?;
                if dent.file_type().is_dir() {
                    it.skip_current_dir();
                }
                continue;
            };
            let is_root = rel_str.is_empty();
            let rel = PathBuf::from(&rel_str);
            if !is_root && self.exclude.is_match(&rel) {
                if dent.file_type().is_dir() {
                    it.skip_current_dir();
                }
                continue;
            }
            if !is_root && dent.file_type().is_dir() && !self.include_dirs.may_hold_matches(&rel) {
                it.skip_current_dir();
                continue;
            }
            let meta = match dent.metadata() {
                Ok(m) => m,
                Err(e) => {
                    let why = e.io_error().map(describe_io).unwrap_or_else(|| e.to_string());
                    self.unreadable(dent.path(), why)?;
                    continue;
                }
            };
            if !is_root && !meta.is_dir() && !self.include.is_empty() && !self.include.is_match(&rel) {
                continue;
            }
            let tar_path = if is_root { prefix.to_string() } else { format!("{prefix}/{rel_str}") };
            self.add(dent.path(), &tar_path, meta)?;
        }
        if !self.include.is_empty() {
            self.drop_empty_dirs();
        }
        Ok(())
    }

    /// What a restore would refuse never enters the archive (`rules`, the same checks verify
    /// and restore make), so that a verified backup always restores. A name too long to
    /// restore is data that cannot come back: it fails the run (or warns, as configured). A
    /// link that could not be restored safely holds no data of its own: it is left out with a
    /// warning that names it. A source of nothing but such items still restores as a folder.
    fn apply_restore_rules(&mut self) -> Result<()> {
        let links: std::collections::HashSet<String> =
            self.items.iter().filter(|i| i.entry.kind == EntryType::Symlink).map(|i| i.entry.path.clone()).collect();
        let mut keep = Vec::with_capacity(self.items.len());
        let mut refused_dirs: Vec<String> = Vec::new();
        for item in std::mem::take(&mut self.items) {
            let e = &item.entry;
            if refused_dirs.iter().any(|d| e.path.starts_with(d.as_str())) {
                continue; // inside a folder already reported
            }
            if let Err(reason) = crate::archive::rules::check_name(&e.path) {
                self.unreadable(&item.fs_path, format!("{reason}, which no restore can create"))?;
                if e.kind == EntryType::Dir {
                    refused_dirs.push(format!("{}/", e.path));
                }
                continue;
            }
            if e.kind == EntryType::Symlink {
                let target = e.target.as_deref().unwrap_or("");
                if let Err(reason) = crate::archive::rules::check_link(&e.path, target, &links) {
                    let w = format!(
                        "source '{}': {} -> {target} left out: {reason}, so it could not be restored safely; \
                         if it points to data you need, add that folder as a source of its own",
                        self.src.name,
                        item.fs_path.display()
                    );
                    self.progress.event(Event::Warning(w.clone()));
                    self.warnings.push(w);
                    continue;
                }
            }
            keep.push(item);
        }
        self.items = keep;
        Ok(())
    }

    /// With include globs, keep only the folders that lead to something included.
    fn drop_empty_dirs(&mut self) {
        let needed: std::collections::HashSet<String> = self
            .items
            .iter()
            .filter(|i| i.entry.kind != EntryType::Dir)
            .flat_map(|i| {
                let p = i.entry.path.as_str();
                p.match_indices('/').map(|(at, _)| p[..at].to_string()).collect::<Vec<_>>()
            })
            .collect();
        let root = format!("{FILES_PREFIX}{}", self.src.name);
        self.items.retain(|i| i.entry.kind != EntryType::Dir || i.entry.path == root || needed.contains(&i.entry.path));
    }

    fn add(&mut self, path: &Path, tar_path: &str, meta: fs::Metadata) -> Result<()> {
        let ft = meta.file_type();
        let mode = crate::fsutil::mode_of(&meta);
        let mtime = crate::fsutil::mtime_of(&meta);
        let mut entry = Entry {
            path: tar_path.to_string(),
            kind: EntryType::Dir,
            mode,
            mtime,
            size: None,
            sha256: None,
            target: None,
        };
        if ft.is_dir() {
            entry.kind = EntryType::Dir;
        } else if ft.is_symlink() {
            let target = match fs::read_link(path) {
                Ok(t) => t,
                Err(e) => return self.unreadable(path, describe_io(&e)),
            };
            let Some(target) = target.to_str().map(str::to_owned) else {
                return self.unreadable(path, "its link target is not valid UTF-8".into());
            };
            entry.kind = EntryType::Symlink;
            entry.target = Some(target);
        } else if ft.is_file() {
            match crate::digest::hash_file(path) {
                Ok((size, digest)) => {
                    self.progress.event(Event::Advance(size));
                    entry.kind = EntryType::File;
                    entry.size = Some(size);
                    entry.sha256 = Some(digest);
                }
                Err(e) => return self.unreadable(path, describe_io(&e)),
            }
        } else {
            let what = crate::fsutil::special_kind(&ft);
            return self.unreadable(path, format!("it is {what}, which a backup cannot hold"));
        }
        self.items.push(Item { entry, fs_path: path.to_path_buf() });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(patterns: &[&str]) -> IncludeDirs {
        let mut src = SourceConfig::folder("t", "/x");
        src.include = patterns.iter().map(|s| s.to_string()).collect();
        IncludeDirs::new(&src).unwrap()
    }

    #[test]
    fn only_folders_an_include_can_reach_are_entered() {
        let d = dirs(&[".env", "config/**", "server/config/*.yml", "hrsm-license-server/.env"]);
        for yes in ["config", "config/ssl/private", "server", "server/config", "hrsm-license-server"] {
            assert!(d.may_hold_matches(Path::new(yes)), "{yes}");
        }
        for no in ["node_modules", "server/node_modules", "server/config/sub", "logs", "uploads", "client"] {
            assert!(!d.may_hold_matches(Path::new(no)), "{no}");
        }
        assert!(dirs(&["**/*.pdf"]).may_hold_matches(Path::new("a/b/c")));
        assert!(dirs(&["*/license.json"]).may_hold_matches(Path::new("acme")));
        assert!(!dirs(&["*/license.json"]).may_hold_matches(Path::new("acme/deeper")));
        assert!(dirs(&[]).may_hold_matches(Path::new("anything")));
    }
}
