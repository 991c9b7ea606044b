//! What a MongoDB restore created on the server, written down locally as it goes, so that the
//! next restore can take away what a killed one left: a restore that fails drops its staging
//! collections itself, but one killed outright (power cut, task manager) cannot, and its
//! staging collections (`__hrsm_restore_<tag>_<n>`) would stay in the target, and be backed up,
//! for good.
//!
//! One file per running restore, `restore-<tag>.journal` in the spool root (never in the
//! backup folder), locked while the restore runs, removed when it ends; appended to, a line a
//! step (`{"server"}`, then `{"staging"}` per collection it creates, `{"swapping"}` when the
//! swap begins, `{"replacing"}` before a time series' live copy is dropped), so a cut last line
//! loses only that step. The next restore, by the same user on this machine, against the same
//! server, drops a dead restore's staging collections, except the staging copy of a time series
//! whose live copy it had begun to replace: that is the only whole copy, kept and named in a
//! warning. Collections a restore fills under their own names (they did not exist) are never
//! dropped here: after a kill they are whole or half filled and may since hold the site's own
//! writes; a warning names them, and the next restore into that database replaces them.
//!
//! Depends on `store::spool` (the root), `fsutil` and `error`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One line of a journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Step {
    /// The server (hosts only), the first line.
    Server(String),
    /// A staging collection created (`__hrsm_restore_*`), and whether it is a time series.
    Staging {
        db: String,
        coll: String,
        timeseries: bool,
    },
    /// A collection created under its own name (the target lacked it).
    Own {
        db: String,
        coll: String,
    },
    Swapping,
    /// The live time series `name` is about to be replaced from staging `coll`.
    Replacing {
        db: String,
        coll: String,
        name: String,
    },
}

/// The journal of the running restore.
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    pub(crate) fn create(tag: &str, server: &str) -> Result<Self> {
        let root = crate::store::spool::root();
        crate::fsutil::create_private_dir_all(&root)?;
        let path = root.join(format!("restore-{tag}.journal"));
        let mut open = OpenOptions::new();
        open.append(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = open.open(&path).map_err(|e| Error::io("create", &path, e))?;
        file.lock().map_err(|e| Error::io("lock", &path, e))?;
        let mut j = Journal { path, file };
        j.append(&Step::Server(server.to_string()))?;
        Ok(j)
    }

    fn append(&mut self, step: &Step) -> Result<()> {
        let mut line = serde_json::to_vec(step).map_err(|e| Error::Mongo(format!("restore journal: {e}")))?;
        line.push(b'\n');
        let werr = |e: std::io::Error| Error::io("write", &self.path, e);
        self.file.write_all(&line).map_err(werr)?;
        self.file.sync_data().map_err(werr)
    }

    /// Writes down a collection before it is created: a staging one, or one under its own name.
    pub(crate) fn created(&mut self, db: &str, coll: &str, own_name: bool, timeseries: bool) -> Result<()> {
        let (db, coll) = (db.to_string(), coll.to_string());
        self.append(&if own_name { Step::Own { db, coll } } else { Step::Staging { db, coll, timeseries } })
    }

    /// The swap begins.
    pub(crate) fn swapping(&mut self) -> Result<()> {
        self.append(&Step::Swapping)
    }

    /// Time series `name` is about to be dropped and filled again from staging `coll`.
    pub(crate) fn replacing(&mut self, db: &str, coll: &str, name: &str) -> Result<()> {
        self.append(&Step::Replacing { db: db.to_string(), coll: coll.to_string(), name: name.to_string() })
    }

    /// The restore ended (done, or failed and cleaned up after itself).
    pub(crate) fn finish(self) {
        let _ = std::fs::remove_file(&self.path);
        // Closing the file releases the lock.
    }
}

/// What the cleaning of dead restores did and found.
#[derive(Debug, Default)]
pub(crate) struct Cleaned {
    /// Staging collections dropped (`db.coll`).
    pub dropped: Vec<String>,
    /// What an admin should know: half-restored collections left, whole copies kept.
    pub warnings: Vec<String>,
}

/// Drops, through `drop(db, coll)`, the staging collections that restores killed while
/// working on `server` left there. A journal still locked belongs to a running restore, one of
/// another server to a restore there, one just being made (empty and new) to its maker: all
/// left alone.
pub(crate) fn clean_dead(server: &str, mut drop: impl FnMut(&str, &str) -> bool) -> Cleaned {
    let mut out = Cleaned::default();
    let Ok(rd) = std::fs::read_dir(crate::store::spool::root()) else { return out };
    for dent in rd.flatten() {
        let name = dent.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("restore-") && name.ends_with(".journal")) {
            continue;
        }
        let path = dent.path();
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else { continue };
        if file.try_lock().is_err() {
            continue;
        }
        // Locked by us now: gone from its place meanwhile means another cleaner took it.
        if !path.exists() {
            continue;
        }
        let steps: Vec<Step> = std::io::BufReader::new(&file)
            .lines()
            .map_while(|l| l.ok())
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect();
        let Some(Step::Server(s)) = steps.first() else {
            // Empty: a restore that died before it wrote anything, unless it is being made now.
            let new = dent.metadata().and_then(|m| m.modified()).map(|t| t.elapsed().unwrap_or_default());
            if new.is_ok_and(|age| age > std::time::Duration::from_secs(600)) {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        };
        if s != server {
            continue;
        }
        let swapping = steps.contains(&Step::Swapping);
        let replacing: Vec<(&String, &String, &String)> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Replacing { db, coll, name } => Some((db, coll, name)),
                _ => None,
            })
            .collect();
        let mut all = true;
        for step in &steps {
            match step {
                Step::Staging { db, coll, .. } => {
                    if let Some((_, _, live)) = replacing.iter().find(|(d, c, _)| *d == db && *c == coll) {
                        out.warnings.push(format!(
                            "a restore was stopped while it replaced the time series {db}.{live}: it may be \
                             incomplete; the whole restored copy is in {db}.{coll}: restore again"
                        ));
                        continue;
                    }
                    if drop(db, coll) {
                        out.dropped.push(format!("{db}.{coll}"));
                    } else {
                        all = false;
                    }
                }
                Step::Own { db, coll } if !swapping => out.warnings.push(format!(
                    "a restore was stopped while it filled {db}.{coll}, which it had created: it may be \
                     incomplete; restore it again"
                )),
                _ => {}
            }
        }
        if all {
            let _ = std::fs::remove_file(&path);
        }
    }
    out
}
