//! The run log: every backup and restore leaves one JSON line in `<destination>/hrsm-backup.log`
//! and one document in MongoDB (`hrms.backuplogs` by default), which HR-SM's own screens can
//! show. Writing the log is best effort: a failure becomes a warning and never turns a good
//! backup into a failed one.
//!
//! Depends on `mongo::client`, `fsutil` and `error`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub const LOCAL_LOG: &str = "hrsm-backup.log";

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// "backup" or "restore".
    pub kind: &'static str,
    pub backup_id: String,
    /// "ok" or "failed".
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
        if let Err(e) = insert_mongo(m, rec) {
            warnings.push(format!("could not write the run log to MongoDB {}: {e}", m.namespace));
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    warnings
}

fn append_local(dir: &Path, rec: &RunRecord) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(dir.join(LOCAL_LOG))?;
    let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

fn insert_mongo(m: &MongoLog, rec: &RunRecord) -> Result<(), String> {
    let (db, coll) =
        m.namespace.split_once('.').ok_or_else(|| format!("{:?} is not <db>.<collection>", m.namespace))?;
    let mut opts = mongodb::options::ClientOptions::parse(&m.uri)
        .run()
        .map_err(|e| crate::mongo::client::explain(&m.uri, "read the connection string", e).to_string())?;
    // A log write must not hold a finished run hostage.
    opts.server_selection_timeout = Some(Duration::from_secs(3));
    opts.connect_timeout = Some(Duration::from_secs(3));
    let client = mongodb::sync::Client::with_options(opts)
        .map_err(|e| crate::mongo::client::explain(&m.uri, "connect", e).to_string())?;
    let doc = bson::doc! {
        "kind": rec.kind,
        "backupId": &rec.backup_id,
        "status": rec.status,
        "startedAt": bson::DateTime::from_millis(rec.started.timestamp_millis()),
        "finishedAt": bson::DateTime::from_millis(rec.finished.timestamp_millis()),
        "durationMs": rec.duration_ms as i64,
        "size": rec.size as i64,
        "files": rec.files as i64,
        "documents": rec.documents as i64,
        "databases": &rec.databases,
        "error": rec.error.clone(),
        "host": &rec.host,
        "appVersion": &rec.app_version,
    };
    client.database(db).collection::<bson::Document>(coll).insert_one(doc).run().map_err(|e| {
        match e.kind.as_ref() {
            mongodb::error::ErrorKind::ServerSelection { .. } => "the server is not reachable".to_string(),
            _ => crate::mongo::client::explain(&m.uri, "write the log", e).to_string(),
        }
    })?;
    Ok(())
}
