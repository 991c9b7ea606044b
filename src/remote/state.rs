//! What this workstation knows of its off-site copies: one small JSON file per destination,
//! `<backup folder>/.offsite/<name>.json`, mapping each backup id to how its copy went (copied
//! and checked, failed and why, found missing or changed). Written only by the copy operation,
//! atomically; the history and the desktop's status read it. An interrupted upload's state
//! sits beside it (`<name>.upload.json`, see `transfer`).
//!
//! Depends on `offsite` (a destination's place), `fsutil` and `error`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::offsite::OffsiteConfig;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CopyStatus {
    /// Uploaded, checked, and its catalog entry written there.
    Copied,
    /// The last attempt failed (retried at the next copy run).
    Failed,
    /// Copied once, but no longer there.
    Missing,
    /// There, but not what was copied (another size or another SHA-256).
    Changed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CopyRecord {
    pub status: CopyStatus,
    /// When this record last changed (the copy, the failure, the check).
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub size: u64,
    /// How the copy was checked: "read-back" (whole SHA-256) or "size".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed attempts in a row.
    #[serde(default)]
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CopyState {
    /// Per backup id.
    #[serde(default)]
    pub copies: BTreeMap<String, CopyRecord>,
    /// The last copy run: when, and its error if it failed as a whole (unreachable store...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// True while the destination waits (a folder not plugged in).
    #[serde(default)]
    pub waiting: bool,
    /// Why it waits, in words (the folder is not there; it is there but holds no marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
    /// Where the copies went (`OffsiteConfig::place`): a destination given another bucket,
    /// folder or prefix under the same name starts a fresh record instead of reporting every
    /// copy of the old place as missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// A second folder's marker (the id in its `.hrsm-backup-destination` file), so an empty
    /// mount point (the disk not mounted) is told from the disk itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

impl CopyState {
    pub fn is_copied(&self, id: &str) -> bool {
        self.copies.get(id).is_some_and(|c| c.status == CopyStatus::Copied)
    }

    /// Copies that went missing or changed: reported loudly until they are copied again.
    pub fn problems(&self) -> Vec<(&str, &CopyRecord)> {
        self.copies
            .iter()
            .filter(|(_, c)| matches!(c.status, CopyStatus::Missing | CopyStatus::Changed))
            .map(|(id, c)| (id.as_str(), c))
            .collect()
    }
}

/// The folder of the state files inside a backup folder.
pub fn state_dir(backups: &Path) -> PathBuf {
    backups.join(".offsite")
}

fn state_path(backups: &Path, destination: &str) -> PathBuf {
    state_dir(backups).join(format!("{destination}.json"))
}

/// Where an interrupted upload to `destination` is remembered.
pub fn upload_state_path(backups: &Path, destination: &str) -> PathBuf {
    state_dir(backups).join(format!("{destination}.upload.json"))
}

/// The state of one destination: empty if none was written yet, or if it was written for
/// another place (the destination now names another bucket, folder or prefix). The state
/// returned carries the destination's present place, so the next save records it.
pub fn load(backups: &Path, destination: &OffsiteConfig) -> Result<CopyState> {
    let p = state_path(backups, &destination.name);
    let place = destination.place();
    let st: CopyState = match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| Error::Corrupt { path: p, reason: format!("off-site state is not valid JSON: {e}") })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CopyState::default(),
        Err(e) => return Err(Error::io("read", &p, e)),
    };
    // A state from before places were recorded is taken as this place's.
    if st.place.as_ref().is_some_and(|p| *p != place) {
        tracing::info!("off-site destination {} now points elsewhere; its copies are counted afresh", destination.name);
        return Ok(CopyState { place: Some(place), ..CopyState::default() });
    }
    Ok(CopyState { place: Some(place), ..st })
}

/// Moves a destination's record to a new name (renamed in the settings): its copies stay
/// counted. A record already under the new name is left as it is.
pub fn rename(backups: &Path, from: &str, to: &str) -> Result<()> {
    for (a, b) in [
        (state_path(backups, from), state_path(backups, to)),
        (upload_state_path(backups, from), upload_state_path(backups, to)),
    ] {
        if a.exists() && !b.exists() {
            std::fs::rename(&a, &b).map_err(|e| Error::io("rename", &a, e))?;
        }
    }
    Ok(())
}

/// Forgets a destination (removed from the settings): its record and any unfinished upload.
pub fn forget(backups: &Path, destination: &str) -> Result<()> {
    for p in [state_path(backups, destination), upload_state_path(backups, destination)] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &p, e)),
        }
    }
    Ok(())
}

pub fn save(backups: &Path, destination: &str, state: &CopyState) -> Result<()> {
    crate::fsutil::create_private_dir_all(&state_dir(backups))?;
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| Error::Config(format!("cannot encode the off-site state: {e}")))?;
    crate::fsutil::write_atomic(&state_path(backups, destination), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let cfg: OffsiteConfig = toml::from_str("name = \"s3\"\nkind = \"s3\"\nbucket = \"b\"").unwrap();
        let fresh = load(dir.path(), &cfg).unwrap();
        assert_eq!(fresh, CopyState { place: Some(cfg.place()), ..CopyState::default() });
        let mut s = fresh;
        s.copies.insert(
            "hrsm-1".into(),
            CopyRecord {
                status: CopyStatus::Missing,
                at: Utc::now(),
                size: 3,
                checked: None,
                error: None,
                attempts: 0,
            },
        );
        save(dir.path(), "s3", &s).unwrap();
        let back = load(dir.path(), &cfg).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.problems().len(), 1);
        assert!(!back.is_copied("hrsm-1"));
    }

    #[test]
    fn another_place_under_the_same_name_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let a: OffsiteConfig = toml::from_str("name = \"s3\"\nkind = \"s3\"\nbucket = \"a\"").unwrap();
        let mut st = load(dir.path(), &a).unwrap();
        st.last_error = Some("x".into());
        save(dir.path(), "s3", &st).unwrap();
        // Another region is the same place; another bucket or prefix is not.
        let same = OffsiteConfig { region: Some("eu-west-1".into()), ..a.clone() };
        assert_eq!(load(dir.path(), &same).unwrap().last_error.as_deref(), Some("x"));
        let b = OffsiteConfig { bucket: Some("b".into()), ..a.clone() };
        assert_eq!(load(dir.path(), &b).unwrap().last_error, None);
        let p = OffsiteConfig { prefix: "site-b".into(), ..a.clone() };
        assert_eq!(load(dir.path(), &p).unwrap().last_error, None);
        // A folder written with another separator or a trailing one is the same place.
        let f: OffsiteConfig = toml::from_str("name = \"usb\"\nkind = \"folder\"\npath = \"/media/usb/HRSM\"").unwrap();
        let g = OffsiteConfig { path: Some("/media/usb/HRSM/".into()), ..f.clone() };
        assert_eq!(f.place(), g.place());
        let w = OffsiteConfig { path: Some("E:\\HRSM".into()), ..f.clone() };
        let w2 = OffsiteConfig { path: Some("E:/HRSM/".into()), ..f.clone() };
        assert_eq!(w.place(), w2.place());
        // A state written before places were recorded is kept.
        st.place = None;
        save(dir.path(), "s3", &st).unwrap();
        assert_eq!(load(dir.path(), &b).unwrap().last_error.as_deref(), Some("x"));
        forget(dir.path(), "s3").unwrap();
        forget(dir.path(), "s3").unwrap();
        assert_eq!(load(dir.path(), &a).unwrap().last_error, None);
    }
}
