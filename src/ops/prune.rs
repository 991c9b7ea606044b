//! Pruning: carries out a retention plan crash-safely. The catalog entry is first renamed to a
//! hidden `.prune` marker (so it no longer lists as good), then the archive goes, then the
//! marker; a run that died half-way is finished by `finish_interrupted`. `prune_destination`
//! is `hrsm-backup prune`: under the folder's lock.
//!
//! Depends on `policy::retention`, `store::{catalog, lock}`, `fsutil` and `error`.

use chrono::Utc;

use crate::error::{Error, Result};
use crate::policy::retention::{plan, Decision, RetentionPolicy};
use crate::store::catalog::Catalog;

/// Removes what `plan` marked for removal. Crash-safe order: the catalog entry is first renamed
/// to a hidden `.prune` marker (so it no longer lists as good), then the archive goes, then the
/// marker. A run that died half-way is finished by `finish_interrupted`.
pub fn prune(catalog: &Catalog, decisions: &[Decision]) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for d in decisions.iter().filter(|d| !d.keep) {
        remove_one(catalog, &d.id)?;
        removed.push(d.id.clone());
    }
    Ok(removed)
}

fn marker(catalog: &Catalog, id: &str) -> std::path::PathBuf {
    catalog.dir().join(format!(".{id}.prune"))
}

fn remove_one(catalog: &Catalog, id: &str) -> Result<()> {
    let entry = catalog.dir().join(format!("{id}.json"));
    let mark = marker(catalog, id);
    match std::fs::rename(&entry, &mark) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove catalog entry", &entry, e)),
    }
    crate::fsutil::sync_dir(catalog.dir())?;
    crate::fault::point("prune-between-entry-and-archive");
    let archive = catalog.archive_path(id);
    match std::fs::remove_file(&archive) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &archive, e)),
    }
    let _ = std::fs::remove_file(&mark);
    crate::fsutil::sync_dir(catalog.dir())
}

/// `hrsm-backup prune`: under the folder's lock, finishes interrupted removals, plans, and
/// (unless `dry_run`) removes. Returns the decisions and the ids removed.
pub fn prune_destination(
    dir: &std::path::Path,
    policy: &RetentionPolicy,
    dry_run: bool,
) -> Result<(Vec<Decision>, Vec<String>)> {
    let catalog = Catalog::existing(dir)?;
    let _lock = crate::store::lock::DestinationLock::acquire(dir, "a prune")?;
    finish_interrupted(&catalog)?;
    let listing = catalog.list()?;
    let decisions = plan(policy, &listing.entries, Utc::now());
    let removed = if dry_run { Vec::new() } else { prune(&catalog, &decisions)? };
    Ok((decisions, removed))
}

/// Completes removals a crash interrupted (a `.prune` marker left behind). Returns their ids.
pub fn finish_interrupted(catalog: &Catalog) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let rd = std::fs::read_dir(catalog.dir()).map_err(|e| Error::io("list", catalog.dir(), e))?;
    for dent in rd.flatten() {
        let name = dent.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".prune")) {
            remove_one(catalog, id)?;
            done.push(id.to_string());
        }
    }
    Ok(done)
}
