//! Off-site destinations as the admin configures them: the `[[offsite]]` tables of the config
//! file (docs/CONFIG.md), their validation, and the destination HR-SM's old backup service
//! implied through its environment (`BACKUP_CLOUD_ENABLED`, `BACKUP_CLOUD_PROVIDER`, `AWS_*`,
//! `AZURE_STORAGE_*`). Only where and how: credentials never appear here (they live in the
//! keychain or the environment, see `remote::credentials`).
//!
//! Depends on `error` and `config` (its retention settings) only; no I/O.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::RetentionConfig;
use crate::error::{Error, Result};

/// The kinds of store a copy can go to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OffsiteKind {
    /// Any S3-compatible object store: AWS S3, Garage, MinIO, Backblaze B2, Wasabi...
    S3,
    /// Azure Blob Storage.
    Azure,
    /// A second folder: a USB disk, a mounted SMB/NFS share (`\\server\share` on Windows).
    Folder,
}

impl OffsiteKind {
    /// How the admin calls it.
    pub fn label(self) -> &'static str {
        match self {
            OffsiteKind::S3 => "S3 storage",
            OffsiteKind::Azure => "Azure Blob Storage",
            OffsiteKind::Folder => "second folder",
        }
    }
}

/// How a copy is checked after its upload.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CheckMode {
    /// The whole object is read back and its SHA-256 compared with the archive's (the default:
    /// it proves what the store holds, at the cost of downloading each copy once).
    #[default]
    ReadBack,
    /// Only the size the store reports is compared (for slow or metered links).
    Size,
}

/// A destination's retention when its table sets none: the local folder's rules, with copies
/// kept three times as long (off-site copies are what survives a lost workstation).
fn default_retention() -> RetentionConfig {
    RetentionConfig { keep_days: 90, ..RetentionConfig::default() }
}
fn yes() -> bool {
    true
}

/// One `[[offsite]]` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OffsiteConfig {
    /// A short name (letters, digits, '.', '_', '-'): in listings, in the keychain entry of its
    /// credentials, and in the state kept beside the local backups.
    pub name: String,
    pub kind: OffsiteKind,
    /// Copy new backups there (false keeps the settings but copies nothing).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// S3: the bucket. Azure: the container.
    #[serde(default, alias = "container", skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// A folder inside the bucket, e.g. `site-a/` (objects are `<prefix><id>.hrsmbk`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// S3: the service's address (`https://s3.eu-central-003.backblazeb2.com`); absent for AWS
    /// itself. Azure: the blob endpoint, absent for Azure's public cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3: the region (AWS needs the bucket's; most others accept any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// S3: `https://endpoint/bucket/key` (true, what Garage and MinIO want) or
    /// `https://bucket.endpoint/key` (false, AWS's virtual-host style). Default: path style when
    /// an endpoint is set, virtual-host style for AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    /// Azure: the storage account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Folder: where the copies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub check: CheckMode,
    /// The same rules as the local `[retention]` (its defaults for keys the table omits).
    #[serde(default = "default_retention")]
    pub retention: RetentionConfig,
    /// The most the uploads may send, in megabits per second, averaged over the upload (each
    /// part of 16 MiB goes at the line's speed; the next waits its turn). Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_limit_mbps: Option<u32>,
    /// Made from HR-SM's cloud variables, not from the file: never written back into it.
    #[serde(skip)]
    pub from_env: bool,
}

impl OffsiteConfig {
    /// What the admin sees: "offsite (S3 storage, bucket hrsm-backups)".
    pub fn describe(&self) -> String {
        let at = match self.kind {
            OffsiteKind::S3 | OffsiteKind::Azure => {
                format!("bucket {}", self.bucket.as_deref().unwrap_or("?"))
            }
            OffsiteKind::Folder => {
                format!("folder {}", self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default())
            }
        };
        format!("{} ({}, {at})", self.name, self.kind.label())
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(format!("offsite {:?}: {what}", self.name)));
        if self.name.is_empty()
            || self.name.len() > 64
            || self.name.starts_with('.')
            || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(Error::Config(format!(
                "offsite name {:?} is not valid: use up to 64 letters, digits, '.', '_' and '-', not starting with '.'",
                self.name
            )));
        }
        match self.kind {
            OffsiteKind::S3 | OffsiteKind::Azure => {
                let Some(bucket) = self.bucket.as_deref().filter(|b| !b.trim().is_empty()) else {
                    let what = if self.kind == OffsiteKind::S3 { "bucket" } else { "container" };
                    return bad(format!("needs a {what} name"));
                };
                if bucket.contains(['/', '\\', ' ']) {
                    return bad(format!("{bucket:?} is not a bucket name (no '/', '\\' or spaces)"));
                }
                if self.path.is_some() {
                    return bad("`path` is for a second folder; an object store takes `bucket` and `prefix`".into());
                }
            }
            OffsiteKind::Folder => {
                if self.path.as_ref().is_none_or(|p| p.as_os_str().is_empty()) {
                    return bad("needs a `path` (the folder the copies go to)".into());
                }
            }
        }
        if self.kind == OffsiteKind::Azure && self.account.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return bad("needs the storage `account` name".into());
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() < 10 {
                return bad(format!("endpoint {e:?} is not an address; write it as https://host[:port]"));
            }
            if e.contains('@') {
                return bad("the endpoint must not carry credentials; they go in the keychain".into());
            }
        }
        if self.prefix.starts_with('/') || self.prefix.contains("..") || self.prefix.contains('\\') {
            return bad(format!("prefix {:?} must be a relative path such as site-a/", self.prefix));
        }
        if self.upload_limit_mbps == Some(0) {
            return bad("upload_limit_mbps must be at least 1 (leave it out for no limit)".into());
        }
        if self.retention.keep_days == 0 {
            return bad("retention.keep_days must be at least 1".into());
        }
        Ok(())
    }

    /// Where the copies go, as one string: the kind, the service (endpoint, account), the
    /// bucket or folder and the prefix. The region and the check are not part of it: changing
    /// them leaves the copies where they are.
    pub fn place(&self) -> String {
        let kind = self.kind.label();
        match self.kind {
            OffsiteKind::Folder => {
                // The same folder written another way (`D:\Backups\`, `d:/backups`) is the same
                // place: separators unified, a trailing one dropped, and case ignored on
                // Windows, whose file names ignore it.
                let mut p = self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default().replace('\\', "/");
                while p.len() > 1 && p.ends_with('/') {
                    p.pop();
                }
                if cfg!(windows) {
                    p = p.to_lowercase();
                }
                format!("{kind}|{p}|{}", self.object_prefix())
            }
            OffsiteKind::S3 | OffsiteKind::Azure => format!(
                "{kind}|{}|{}|{}|{}",
                self.endpoint.as_deref().unwrap_or_default().trim_end_matches('/'),
                self.account.as_deref().unwrap_or_default(),
                self.bucket.as_deref().unwrap_or_default(),
                self.object_prefix()
            ),
        }
    }

    /// The prefix as object names use it: empty, or ending in one '/'.
    pub fn object_prefix(&self) -> String {
        let p = self.prefix.trim_matches('/');
        if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        }
    }
}

/// Checks a list of destinations: each valid, names unique.
pub fn validate_all(list: &[OffsiteConfig]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for d in list {
        d.validate()?;
        if !seen.insert(d.name.as_str()) {
            return Err(Error::Config(format!("offsite name {:?} is used twice; names must be unique", d.name)));
        }
    }
    Ok(())
}

/// The name of the destination that HR-SM's cloud variables describe.
pub const ENV_DESTINATION: &str = "cloud";

/// HR-SM's old cloud settings, as its backup service read them (server/services/
/// cloudStorageService.js): `BACKUP_CLOUD_ENABLED=true` with `BACKUP_CLOUD_PROVIDER` `aws`
/// (or `aws-s3`, the default) and `AWS_S3_BACKUP_BUCKET` (default `hrsm-backups`),
/// `AWS_REGION` (default `us-east-1`), `AWS_ENDPOINT_URL` for a non-AWS service; or `azure` with
/// `AZURE_STORAGE_ACCOUNT` and `AZURE_STORAGE_CONTAINER` (default `hrsm-backups`). The keys
/// themselves (`AWS_SECRET_ACCESS_KEY`, `AZURE_STORAGE_KEY`) are read when the copy runs.
/// `gcp` is refused with a message: the old service never implemented it either.
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<OffsiteConfig>> {
    let get = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let enabled = match get("BACKUP_CLOUD_ENABLED") {
        None => return Ok(None),
        Some(v) => crate::config::parse_enabled(&v).ok_or_else(|| {
            Error::Config(format!("BACKUP_CLOUD_ENABLED={v:?} is not understood; set it to true or false, or unset it"))
        })?,
    };
    if !enabled {
        return Ok(None);
    }
    let provider = get("BACKUP_CLOUD_PROVIDER").unwrap_or_else(|| "aws".into()).to_ascii_lowercase();
    let base = OffsiteConfig {
        name: ENV_DESTINATION.into(),
        kind: OffsiteKind::S3,
        enabled: true,
        bucket: None,
        prefix: String::new(),
        endpoint: None,
        region: None,
        path_style: None,
        account: None,
        path: None,
        check: CheckMode::default(),
        retention: default_retention(),
        upload_limit_mbps: None,
        from_env: true,
    };
    let cfg = match provider.as_str() {
        "aws" | "aws-s3" | "s3" => OffsiteConfig {
            bucket: Some(get("AWS_S3_BACKUP_BUCKET").unwrap_or_else(|| "hrsm-backups".into())),
            region: Some(get("AWS_REGION").unwrap_or_else(|| "us-east-1".into())),
            endpoint: get("AWS_ENDPOINT_URL_S3").or_else(|| get("AWS_ENDPOINT_URL")),
            ..base
        },
        "azure" => OffsiteConfig {
            kind: OffsiteKind::Azure,
            account: get("AZURE_STORAGE_ACCOUNT"),
            bucket: Some(get("AZURE_STORAGE_CONTAINER").unwrap_or_else(|| "hrsm-backups".into())),
            endpoint: get("AZURE_STORAGE_ENDPOINT"),
            ..base
        },
        "gcp" | "gcs" => {
            return Err(Error::Config(
                "BACKUP_CLOUD_PROVIDER=gcp: Google Cloud Storage is not supported yet; use its S3-compatible endpoint (https://storage.googleapis.com with an HMAC key) as an [[offsite]] of kind s3".into(),
            ))
        }
        other => {
            return Err(Error::Config(format!(
                "BACKUP_CLOUD_PROVIDER={other:?} is not understood; use aws or azure"
            )))
        }
    };
    cfg.validate()?;
    Ok(Some(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn hrsm_cloud_variables_make_a_destination() {
        assert_eq!(from_env(env(&[])).unwrap(), None);
        assert_eq!(from_env(env(&[("BACKUP_CLOUD_ENABLED", "false")])).unwrap(), None);
        let d = from_env(env(&[("BACKUP_CLOUD_ENABLED", "true"), ("AWS_S3_BACKUP_BUCKET", "acme")])).unwrap().unwrap();
        assert_eq!(
            (d.kind, d.bucket.as_deref(), d.region.as_deref()),
            (OffsiteKind::S3, Some("acme"), Some("us-east-1"))
        );
        let d = from_env(env(&[
            ("BACKUP_CLOUD_ENABLED", "1"),
            ("BACKUP_CLOUD_PROVIDER", "azure"),
            ("AZURE_STORAGE_ACCOUNT", "acmehr"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (d.kind, d.account.as_deref(), d.bucket.as_deref()),
            (OffsiteKind::Azure, Some("acmehr"), Some("hrsm-backups"))
        );
        let e = from_env(env(&[("BACKUP_CLOUD_ENABLED", "true"), ("BACKUP_CLOUD_PROVIDER", "gcp")])).unwrap_err();
        assert!(e.to_string().contains("S3-compatible endpoint"), "{e}");
        let e = from_env(env(&[("BACKUP_CLOUD_ENABLED", "ture")])).unwrap_err();
        assert!(e.to_string().contains("true or false"), "{e}");
        // Azure without an account says what is missing.
        let e = from_env(env(&[("BACKUP_CLOUD_ENABLED", "yes"), ("BACKUP_CLOUD_PROVIDER", "azure")])).unwrap_err();
        assert!(e.to_string().contains("account"), "{e}");
    }

    #[test]
    fn bad_destinations_are_explained() {
        let ok: OffsiteConfig =
            toml::from_str("name = \"s3\"\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:3900\"")
                .unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.object_prefix(), "");
        let with = |f: &dyn Fn(&mut OffsiteConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(with(&|c| c.bucket = None).contains("needs a bucket"));
        assert!(with(&|c| c.name = "a b".into()).contains("not valid"));
        assert!(with(&|c| c.endpoint = Some("s3.example.com".into())).contains("https://"));
        assert!(with(&|c| c.endpoint = Some("https://key:secret@s3.example.com".into())).contains("credentials"));
        assert!(with(&|c| c.prefix = "../up".into()).contains("relative"));
        assert!(with(&|c| c.kind = OffsiteKind::Folder).contains("path"));
        assert!(with(&|c| c.kind = OffsiteKind::Azure).contains("account"));
        let dup = validate_all(&[ok.clone(), ok.clone()]).unwrap_err().to_string();
        assert!(dup.contains("used twice"), "{dup}");
        let c = OffsiteConfig { prefix: "/site-a//".into(), ..ok.clone() };
        assert_eq!(c.object_prefix(), "site-a/");
        // A secret typed into the table is refused by name, never stored.
        let e = toml::from_str::<OffsiteConfig>("name = \"s3\"\nkind = \"s3\"\nsecret_access_key = \"x\"").unwrap_err();
        assert!(e.to_string().contains("secret_access_key"), "{e}");
    }
}
