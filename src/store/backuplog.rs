//! HR-SM's `BackupLog` document, built from one run: the fields, enums and types of HR-SM's
//! mongoose model (server/models/BackupLog.js), so that its screens list our backups and its
//! health check ("no successful backup in the last 24 hours") counts them. Pure: builds the
//! documents and updates that `runlog` sends.
//!
//! Numbers are written as the Node driver writes a JavaScript number (an Int32 when the value
//! fits, else a Double), so the model reads them back exactly as its own.
//!
//! Depends on `store::runlog` (the record) only.

use bson::{doc, Bson, Document};
use chrono::{DateTime, Utc};

use crate::store::runlog::{RunRecord, Trigger};

fn date(t: DateTime<Utc>) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(t.timestamp_millis()))
}

/// A JavaScript number as the Node driver stores it.
fn number(n: u64) -> Bson {
    match i32::try_from(n) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Double(n as f64),
    }
}

/// `type`: the schedule's runs are `daily`, the admin's `manual`, the safety copy before a
/// restore `emergency` (HR-SM's enum also has weekly and monthly, which this app does not make).
fn backup_type(t: Trigger) -> &'static str {
    match t {
        Trigger::Scheduled => "daily",
        Trigger::Manual => "manual",
        Trigger::BeforeRestore => "emergency",
    }
}

fn triggered_by(t: Trigger) -> &'static str {
    match t {
        Trigger::Scheduled => "scheduled",
        Trigger::Manual => "manual",
        // HR-SM's `triggeredBy` enum: scheduled, manual, api, emergency.
        Trigger::BeforeRestore => "emergency",
    }
}

fn metadata(rec: &RunRecord) -> Document {
    doc! {
        "platform": std::env::consts::OS,
        "hostname": &rec.host,
        "backupToolVersion": format!("hrsm-backup {}", rec.app_version),
    }
}

/// The document a backup inserts.
pub fn backup_document(rec: &RunRecord) -> Document {
    let ok = rec.status == "ok";
    let components: Vec<Bson> = rec
        .components
        .iter()
        .map(|c| {
            let mut d = doc! { "type": c.kind };
            if c.kind == "mongodb" {
                d.insert("database", &c.name);
            } else {
                d.insert("component", &c.name);
            }
            d.insert("path", &c.path);
            d.insert("size", number(c.size));
            d.insert("timestamp", date(rec.started));
            d.insert("encrypted", true);
            d.insert("status", if ok { "success" } else { "failed" });
            Bson::Document(d)
        })
        .collect();
    let mut checksums = Document::new();
    if let (Some(path), Some(sha)) = (&rec.archive, &rec.archive_sha256) {
        let name = std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned());
        checksums.insert(name.unwrap_or_else(|| path.clone()), sha);
    }
    let mut verification = doc! { "verified": rec.verified_at.is_some(), "verificationErrors": [] };
    if let Some(at) = rec.verified_at {
        verification.insert("verifiedAt", date(at));
        verification.insert("verificationStatus", "passed");
    }
    let mut d = doc! {
        "backupId": &rec.backup_id,
        "type": backup_type(rec.trigger),
        "status": if ok { "completed" } else { "failed" },
        "startTime": date(rec.started),
        "endTime": date(rec.finished),
        "duration": number(rec.duration_ms),
        "components": components,
        "size": number(rec.size),
        "compressed": true,
        "encrypted": true,
        "checksums": checksums,
        "metadata": metadata(rec),
        "verification": verification,
        "restoration": { "restored": false },
        "cloudStorage": { "uploaded": false },
        // HR-SM's own cleanup deletes what has `autoDelete`; this app's retention owns ours.
        "retentionPolicy": { "autoDelete": false },
        "triggeredBy": triggered_by(rec.trigger),
        "notes": notes(rec),
        "createdAt": date(rec.finished),
        "updatedAt": date(rec.finished),
        "__v": 0,
    };
    if let Some(path) = &rec.archive {
        d.insert("finalPath", path);
    }
    if let Some(e) = &rec.error {
        d.insert("error", doc! { "message": e, "timestamp": date(rec.finished) });
    }
    d
}

fn notes(rec: &RunRecord) -> String {
    let mut s =
        format!("HR-SM Backup {} on {}: {} files, {} documents", rec.app_version, rec.host, rec.files, rec.documents);
    if rec.warnings > 0 {
        s.push_str(&format!(", {} warnings (see the backup's details)", rec.warnings));
    }
    s
}

/// A restore: `restoration` on the restored backup's document. If the restore brought back an
/// older log collection that lacks it, the document is created (an upsert on `backupId`, so
/// there is never a second one) from what is known of that backup.
pub fn restoration_update(rec: &RunRecord) -> (Document, Document) {
    let ok = rec.status == "ok";
    let note = match &rec.error {
        None => format!(
            "restored by HR-SM Backup on {}: {} ({} documents)",
            rec.host,
            if rec.databases.is_empty() { "files".to_string() } else { rec.databases.join(", ") },
            rec.documents
        ),
        Some(e) => format!("a restore on {} failed and changed nothing: {e}", rec.host),
    };
    let made = rec.backup_started.unwrap_or(rec.started);
    let filter = doc! { "backupId": &rec.backup_id };
    let update = doc! {
        "$set": {
            "restoration.restored": ok,
            "restoration.restoredAt": date(rec.finished),
            "restoration.restorationNotes": note,
            "updatedAt": date(rec.finished),
        },
        "$setOnInsert": {
            "type": "manual",
            "status": "completed",
            "startTime": date(made),
            "compressed": true,
            "encrypted": true,
            "metadata": metadata(rec),
            "cloudStorage": { "uploaded": false },
            "retentionPolicy": { "autoDelete": false },
            "triggeredBy": "manual",
            "notes": "made by HR-SM Backup; this record was re-created when the backup was restored",
            "createdAt": date(rec.finished),
            "__v": 0,
        },
    };
    (filter, update)
}

/// An off-site copy: `cloudStorage` on the backup's document (HR-SM's `markAsUploaded`), no
/// document made if there is none. A copy to the cloud is what the field is for, so a second
/// folder's copy never replaces a cloud copy's record; a failure is recorded only where no
/// copy succeeded yet (`uploadError`).
pub fn upload_update(rec: &RunRecord) -> Option<(Document, Document)> {
    let u = rec.upload.as_ref().filter(|_| !rec.backup_id.is_empty())?;
    Some(match (&rec.error, u.provider) {
        (None, provider) => {
            let mut filter = doc! { "backupId": &rec.backup_id };
            if provider == "local" {
                filter.insert(
                    "$or",
                    vec![
                        Bson::Document(doc! { "cloudStorage.uploaded": { "$ne": true } }),
                        Bson::Document(doc! { "cloudStorage.provider": "local" }),
                    ],
                );
            }
            let update = doc! {
                "$set": {
                    "cloudStorage.uploaded": true,
                    "cloudStorage.uploadedAt": date(rec.finished),
                    "cloudStorage.provider": provider,
                    "cloudStorage.bucket": &u.bucket,
                    "cloudStorage.key": &u.key,
                    "updatedAt": date(rec.finished),
                },
                "$unset": { "cloudStorage.uploadError": "" },
            };
            (filter, update)
        }
        (Some(e), _) => (
            doc! { "backupId": &rec.backup_id, "cloudStorage.uploaded": { "$ne": true } },
            doc! {
                "$set": {
                    "cloudStorage.uploadError": format!("copy to {} failed: {e}", u.destination),
                    "updatedAt": date(rec.finished),
                }
            },
        ),
    })
}

/// A test restore: `verification` on the backup's document.
pub fn verification_update(rec: &RunRecord) -> (Document, Document) {
    let ok = rec.status == "ok";
    let errors: Vec<Bson> = rec.error.iter().map(|e| Bson::String(e.clone())).collect();
    let filter = doc! { "backupId": &rec.backup_id };
    let update = doc! {
        "$set": {
            "verification.verified": ok,
            "verification.verifiedAt": date(rec.finished),
            "verification.verificationStatus": if ok { "passed" } else { "failed" },
            "verification.verificationErrors": errors,
            "updatedAt": date(rec.finished),
        }
    };
    (filter, update)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stored_as_node_stores_them() {
        assert_eq!(number(5), Bson::Int32(5));
        assert_eq!(number(3_000_000_000), Bson::Double(3e9));
    }

    #[test]
    fn a_failed_backup_says_why_in_hrsm_terms() {
        let mut rec = RunRecord::new("backup", "b1".into(), false, Utc::now());
        rec.error = Some("the server went away".into());
        rec.trigger = Trigger::Scheduled;
        let d = backup_document(&rec);
        assert_eq!(d.get_str("status").unwrap(), "failed");
        assert_eq!(d.get_str("type").unwrap(), "daily");
        assert_eq!(d.get_str("triggeredBy").unwrap(), "scheduled");
        assert_eq!(d.get_document("error").unwrap().get_str("message").unwrap(), "the server went away");
        assert!(!d.contains_key("finalPath"));
    }
}
