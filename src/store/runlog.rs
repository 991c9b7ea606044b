//! The run log: every backup and restore leaves one JSON line in `<destination>/hrsm-backup.log`
//! and a record in MongoDB that HR-SM's own screens and health check read: a backup inserts one
//! `BackupLog` document (`store::backuplog`), a restore sets `restoration` on the restored
//! backup's document, a test restore its `verification` and an off-site copy its
//! `cloudStorage`, so `backupId` (unique in HR-SM's schema) is never inserted twice. Writing the log is best effort: a failure becomes a warning
//! and never turns a good backup into a failed one.
//!
//! Depends on `store::backuplog`, `mongo::client`, `fsutil` and `error`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::backuplog;

pub const LOCAL_LOG: &str = "hrsm-backup.log";

/// Who started a run: HR-SM's `triggeredBy` (and, for a backup, its `type`).
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The daily schedule (or its catch-up run).
    #[default]
    Scheduled,
    /// The admin, with "Back up now" or the command line.
    Manual,
    /// The safety copy of what a restore is about to replace, taken just before it (so the
    /// restore can be undone).
    BeforeRestore,
}

/// What a backup holds, as HR-SM's `components` list shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Component {
    /// `mongodb`, `files`, `configuration` or `encrypted-keys` (HR-SM's enum).
    pub kind: &'static str,
    /// The database or the file source's name.
    pub name: String,
    /// Where it came from (a folder, or the server without its password).
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// "backup", "restore", "test-restore" or "offsite-copy".
    pub kind: &'static str,
    pub backup_id: String,
    /// "ok", "failed" or "cancelled".
    pub status: &'static str,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub duration_ms: u64,
    pub size: u64,
    pub files: u64,
    pub documents: u64,
    pub databases: Vec<String>,
    pub error: Option<String>,
    pub host: String,
    pub app_version: String,
    pub trigger: Trigger,
    /// Backups: what they hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// Backups: the archive's path and SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_sha256: Option<String>,
    /// Backups: when the written archive was read back and checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    pub warnings: u64,
    /// Restores: when the restored backup was made (its document is created from this if the
    /// restore replaced the log collection with an older one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_started: Option<DateTime<Utc>>,
    /// Off-site copies: where the backup went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<Upload>,
}

/// Where an off-site copy went, as HR-SM's `cloudStorage` has it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Upload {
    /// The destination's name in our settings.
    pub destination: String,
    /// HR-SM's enum: `aws-s3`, `azure-blob` or `local` (a second folder).
    pub provider: &'static str,
    /// The bucket or container; for a folder, its path.
    pub bucket: String,
    /// The archive's object name, prefix and all.
    pub key: String,
}

impl RunRecord {
    /// A record with the fields every kind of run has; the rest empty.
    pub fn new(kind: &'static str, backup_id: String, ok: bool, started: DateTime<Utc>) -> Self {
        let finished = Utc::now();
        RunRecord {
            kind,
            backup_id,
            status: if ok { "ok" } else { "failed" },
            started,
            finished,
            duration_ms: (finished - started).num_milliseconds().max(0) as u64,
            size: 0,
            files: 0,
            documents: 0,
            databases: Vec::new(),
            error: None,
            host: crate::meta::host_name(),
            app_version: crate::meta::APP_VERSION.into(),
            trigger: Trigger::Manual,
            components: Vec::new(),
            archive: None,
            archive_sha256: None,
            verified_at: None,
            warnings: 0,
            backup_started: None,
            upload: None,
        }
    }
}

/// Where MongoDB log documents go.
#[derive(Debug, Clone)]
pub struct MongoLog {
    pub uri: String,
    /// `<db>.<collection>`.
    pub namespace: String,
}

/// Writes the record to the local log and, if given, to MongoDB. Returns the warnings.
pub fn record(dir: &Path, mongo: Option<&MongoLog>, rec: &RunRecord) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Err(e) = append_local(dir, rec) {
        warnings.push(format!("could not write the local run log in {}: {e}", dir.display()));
    }
    if let Some(m) = mongo {
        if let Err(e) = write_mongo(m, rec) {
            warnings.push(format!("could not write the run log to MongoDB {}: {e}", m.namespace));
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    warnings
}

fn append_local(dir: &Path, rec: &RunRecord) -> std::io::Result<()> {
    let mut f = crate::fsutil::open_private_append(&dir.join(LOCAL_LOG))?;
    let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

fn write_mongo(m: &MongoLog, rec: &RunRecord) -> Result<(), String> {
    let (db, coll) = m
        .namespace
        .split_once('.')
        .filter(|(d, c)| !d.is_empty() && !c.is_empty())
        .ok_or_else(|| format!("{:?} is not <db>.<collection>", m.namespace))?;
    let mut opts = mongodb::options::ClientOptions::parse(&m.uri)
        .run()
        .map_err(|e| crate::mongo::client::explain(&m.uri, "read the connection string", e).to_string())?;
    // A log write must not hold a finished run hostage: the server answered during the run
    // (or, when the run failed to reach it, will not answer now either).
    opts.server_selection_timeout = Some(Duration::from_secs(1));
    opts.connect_timeout = Some(Duration::from_secs(3));
    let client = mongodb::sync::Client::with_options(opts)
        .map_err(|e| crate::mongo::client::explain(&m.uri, "connect", e).to_string())?;
    let c = client.database(db).collection::<bson::Document>(coll);
    let explain = |e: mongodb::error::Error| match e.kind.as_ref() {
        mongodb::error::ErrorKind::ServerSelection { .. } => "the server is not reachable".to_string(),
        _ => crate::mongo::client::explain(&m.uri, "write the log", e).to_string(),
    };
    match rec.kind {
        "backup" => {
            c.insert_one(backuplog::backup_document(rec)).run().map_err(explain)?;
        }
        "restore" => {
            let (filter, update) = backuplog::restoration_update(rec);
            c.update_one(filter, update).upsert(true).run().map_err(explain)?;
        }
        "offsite-copy" => {
            // Only on the copied backup's own document (a run that failed as a whole names
            // no backup: its line in the local log is all there is).
            if let Some((filter, update)) = backuplog::upload_update(rec) {
                c.update_one(filter, update).run().map_err(explain)?;
            }
        }
        _ => {
            // A test restore adds to the backup's document if HR-SM has one; there is nothing
            // to attach it to otherwise (the local log keeps it).
            let (filter, update) = backuplog::verification_update(rec);
            c.update_one(filter, update).run().map_err(explain)?;
        }
    }
    Ok(())
}
