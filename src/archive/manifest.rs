//! The manifest: the first entry of every archive (docs/FORMAT.md section 3.3). Plain data
//! with serde; parsing tolerates unknown keys so newer writers stay readable.
//!
//! Depends on nothing else in the crate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MANIFEST_FORMAT: &str = "hrsm-backup-manifest";
pub const MANIFEST_VERSION: u32 = 1;
/// Tar name of the manifest.
pub const MANIFEST_PATH: &str = "manifest.json";
/// Tar prefix of the file sources.
pub const FILES_PREFIX: &str = "files/";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub backup_id: String,
    pub app_version: String,
    pub host: String,
    pub key_id: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub sources: Vec<SourceSummary>,
    pub entries: Vec<Entry>,
    /// Filled by the MongoDB part; kept as raw JSON here so this module does not depend on it.
    #[serde(default)]
    pub mongo: Option<serde_json::Value>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Where the content came from when this archive was not made by a backup run (an import
    /// of the old backup service's file); absent for our own backups. Optional and ignored by
    /// readers that do not know it (docs/FORMAT.md section 3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// The `origin` of an imported archive (docs/FORMAT.md section 3.3.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Origin {
    /// `"legacy"`: a backup of HR-SM's old Node.js backup service.
    pub kind: String,
    /// The old file, relative to the old `backups/` folder (`daily/daily-backup-....tar.gz.enc`).
    pub file: String,
    /// SHA-256 (hex) of that file as it was read: an import of the same file finds it.
    pub sha256: String,
    /// When the old service made it (from its metadata, else from its id).
    pub made: DateTime<Utc>,
    /// The old service's kind of backup (`daily`, `weekly`, `monthly`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_type: Option<String>,
    /// Where the key that opened it was found (never the key itself).
    pub key_origin: String,
    /// What the old backup did not hold or the conversion could not recover.
    #[serde(default)]
    pub losses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceSummary {
    pub name: String,
    pub path: String,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Dir,
    Symlink,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub mode: u32,
    pub mtime: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Manifest {
    /// A manifest of this format and version, written by this program on this host; sources,
    /// entries and the rest empty for the caller to fill.
    pub fn new(backup_id: impl Into<String>, key_id: impl Into<String>, started: DateTime<Utc>) -> Self {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            backup_id: backup_id.into(),
            app_version: crate::meta::APP_VERSION.into(),
            host: crate::meta::host_name(),
            key_id: key_id.into(),
            started,
            finished: started,
            sources: Vec::new(),
            entries: Vec::new(),
            mongo: None,
            warnings: Vec::new(),
            origin: None,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("manifest.json is not valid: {e}"))?;
        if m.format != MANIFEST_FORMAT {
            return Err(format!("manifest.json has format {:?}, expected {MANIFEST_FORMAT:?}", m.format));
        }
        if m.version != MANIFEST_VERSION {
            return Err(format!(
                "manifest version {} is not supported (this program reads {MANIFEST_VERSION})",
                m.version
            ));
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_else(|e| unreachable!("manifest serializes: {e}"))
    }

    /// Total bytes of regular files.
    pub fn file_bytes(&self) -> u64 {
        self.entries.iter().filter_map(|e| e.size).sum()
    }

    pub fn file_count(&self) -> u64 {
        self.entries.iter().filter(|e| e.kind == EntryType::File).count() as u64
    }
}
