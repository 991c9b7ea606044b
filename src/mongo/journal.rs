//! What a MongoDB restore created on the server, written down locally as it goes, so that the
//! next restore can take away what a killed one left: a restore that fails drops its staging
//! collections itself, but one killed outright (power cut, task manager) cannot, and its
//! staging collections (`__hrsm_restore_<tag>_<n>`) and the new collections it was filling
//! under their own names would stay in the target, half filled.
//!
//! One file per running restore, `restore-<tag>.journal` in the spool root (never in the
//! backup folder), locked while the restore runs, removed when it ends. Before the swap it
//! says `filling`: everything it lists is the restore's own and goes. From the swap on it says
//! `swapping`: the collections filled under their own names are then complete and stay; only
//! staging collections go. A journal of another server is left for a restore there.
//!
//! Depends on `store::spool` (the root), `fsutil` and `error`.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Record {
    /// The server, without password (`redact_uri`).
    server: String,
    swapping: bool,
    /// (database, collection, whether it stays once the swap began: a collection filled under
    /// its own name, complete by then, or a time series' staging copy, which holds the only
    /// whole copy while its live one is being replaced).
    created: Vec<(String, String, bool)>,
}

/// The journal of the running restore.
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    record: Record,
}

impl Journal {
    pub(crate) fn create(tag: &str, server: &str) -> Result<Self> {
        let root = crate::store::spool::root();
        crate::fsutil::create_private_dir_all(&root)?;
        let path = root.join(format!("restore-{tag}.journal"));
        let mut open = OpenOptions::new();
        open.read(true).write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = open.open(&path).map_err(|e| Error::io("create", &path, e))?;
        file.lock().map_err(|e| Error::io("lock", &path, e))?;
        let mut j = Journal { path, file, record: Record { server: server.to_string(), ..Default::default() } };
        j.write()?;
        Ok(j)
    }

    fn write(&mut self) -> Result<()> {
        let bytes = serde_json::to_vec(&self.record).map_err(|e| Error::Mongo(format!("restore journal: {e}")))?;
        let werr = |e: std::io::Error| Error::io("write", &self.path, e);
        self.file.set_len(0).map_err(werr)?;
        self.file.seek(SeekFrom::Start(0)).map_err(werr)?;
        self.file.write_all(&bytes).map_err(werr)?;
        self.file.sync_data().map_err(werr)
    }

    /// Writes down a collection before it is created.
    pub(crate) fn created(&mut self, db: &str, coll: &str, stays_from_swap: bool) -> Result<()> {
        self.record.created.push((db.to_string(), coll.to_string(), stays_from_swap));
        self.write()
    }

    /// The swap begins: the collections filled under their own names are complete.
    pub(crate) fn swapping(&mut self) -> Result<()> {
        self.record.swapping = true;
        self.write()
    }

    /// The restore ended (done, or failed and cleaned up after itself).
    pub(crate) fn finish(self) {
        let _ = std::fs::remove_file(&self.path);
        // Closing the file releases the lock.
    }
}

/// Drops what restores killed while working on `server` left there, through `drop(db, coll)`;
/// returns the collections dropped (`db.coll`). A journal still locked belongs to a restore
/// that is running: left alone.
pub(crate) fn clean_dead(server: &str, mut drop: impl FnMut(&str, &str) -> bool) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(crate::store::spool::root()) else { return Vec::new() };
    let mut dropped = Vec::new();
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
        let Ok(record) = serde_json::from_reader::<_, Record>(&file) else {
            // Empty or cut: its restore died before it created anything.
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if record.server != server {
            continue;
        }
        let mut all = true;
        for (db, coll, stays) in &record.created {
            if record.swapping && *stays {
                continue;
            }
            if drop(db, coll) {
                dropped.push(format!("{db}.{coll}"));
            } else {
                all = false;
            }
        }
        if all {
            let _ = std::fs::remove_file(&path);
        }
    }
    dropped
}
