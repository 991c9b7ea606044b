//! One off-site destination, opened: an S3-compatible bucket, an Azure container or a second
//! folder, all through the `object_store` crate (one interface, each store's own protocol,
//! signing and retries), behind a small blocking API the operations call. Objects are named
//! `<prefix><id>.hrsmbk` (the archive, byte for byte) and `<prefix><id>.json` (its catalog
//! entry, written last: its presence means the copy is complete and was checked), as
//! docs/FORMAT.md section 6 says.
//!
//! Depends on `offsite` (the settings), `error`, `progress` and `fsutil`; never on the catalog
//! or the operations above it.

pub mod credentials;
pub mod state;
mod transfer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::error::{Error, Result};
use crate::offsite::{OffsiteConfig, OffsiteKind};
pub use credentials::Credentials;
pub use transfer::{Fetched, Uploaded};

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    /// The name below the prefix (`hrsm-...hrsmbk`).
    pub name: String,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
}

pub struct Remote {
    cfg: OffsiteConfig,
    store: Arc<dyn ObjectStore>,
    /// The stores whose multipart uploads can be resumed by a later process (S3, Azure).
    parts: Option<Arc<dyn MultipartStore>>,
    rt: tokio::runtime::Runtime,
    prefix: String,
}

/// How long one request may take (a 16 MiB part over a slow uplink) and how long to keep
/// retrying a request that failed on the way (a dropped connection, a restarting server):
/// object_store's own retry with exponential back-off, per request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a failing request is tried again: two minutes, or `HRSM_OFFSITE_RETRY_SECS`
/// (the tests' unreachable-server cases shorten it).
fn retry_window() -> Duration {
    let secs = std::env::var("HRSM_OFFSITE_RETRY_SECS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

/// object_store's own retries: several attempts with back-off for up to the window. They
/// cover a refused connection and a timeout, not a connection cut while a body was on its way
/// (a server killed mid-part): `retrying` covers that for the requests of a copy.
fn retry_config() -> RetryConfig {
    RetryConfig { max_retries: 10, retry_timeout: retry_window(), ..RetryConfig::default() }
}

/// True for an error that another attempt may not meet: a dropped connection, a server that
/// is restarting or overloaded. Refusals (credentials, a missing bucket, a bad request) are
/// final.
pub(crate) fn transient(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    if matches!(
        e,
        E::NotFound { .. }
            | E::AlreadyExists { .. }
            | E::Precondition { .. }
            | E::NotSupported { .. }
            | E::NotImplemented { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::InvalidPath { .. }
            | E::UnknownConfigurationKey { .. }
    ) {
        return false;
    }
    let t = e.to_string().to_lowercase();
    ![
        "403",
        "401",
        "400 bad",
        "accessdenied",
        "signaturedoesnotmatch",
        "invalidaccesskeyid",
        "nosuchbucket",
        "nosuchupload",
        "containernotfound",
        "authenticationfailed",
        "authorizationfailure",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// The back-off between attempts of one request: from half a second, doubling, at most 8 s
/// apart, for as long as the retry window lasts.
pub(crate) struct Backoff {
    deadline: std::time::Instant,
    wait: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff { deadline: std::time::Instant::now() + retry_window(), wait: Duration::from_millis(500) }
    }

    /// Waits and says true when `e` is worth another attempt.
    pub(crate) async fn again(&mut self, e: &object_store::Error) -> bool {
        if !transient(e) || std::time::Instant::now() + self.wait >= self.deadline {
            return false;
        }
        tracing::info!("off-site request failed ({e}); trying again in {:?}", self.wait);
        tokio::time::sleep(self.wait).await;
        self.wait = (self.wait * 2).min(Duration::from_secs(8));
        true
    }
}

/// Runs `f` until it succeeds, fails for good, or the retry window is over.
pub(crate) async fn retrying<T, F, Fut>(mut f: F) -> object_store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = object_store::Result<T>>,
{
    let mut backoff = Backoff::new();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if backoff.again(&e).await => {}
            Err(e) => return Err(e),
        }
    }
}

impl Remote {
    /// Opens a destination. A second folder that is not there (a USB disk unplugged, a share
    /// not mounted) is `Error::OffsiteWaiting`: the copy waits for it.
    pub fn open(cfg: &OffsiteConfig, creds: &Credentials) -> Result<Remote> {
        cfg.validate()?;
        // rustls's crypto for the HTTPS client: ring (set once per process; a second call is a
        // no-op that reports the provider already there).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fail = |what: &str, e: &dyn std::fmt::Display| Error::Offsite {
            destination: cfg.name.clone(),
            message: format!("{what}: {}", plain(&e.to_string())),
        };
        let client = ClientOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_allow_http(cfg.endpoint.as_deref().is_some_and(|e| e.starts_with("http://")));
        let (store, parts): (Arc<dyn ObjectStore>, Option<Arc<dyn MultipartStore>>) = match cfg.kind {
            OffsiteKind::S3 => {
                let Credentials::S3 { access_key_id, secret_access_key, session_token } = creds else {
                    return Err(fail("cannot open it", &"no S3 key pair was given"));
                };
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(cfg.bucket.clone().unwrap_or_default())
                    .with_region(cfg.region.clone().unwrap_or_else(|| "us-east-1".into()))
                    .with_access_key_id(access_key_id.clone())
                    .with_secret_access_key(secret_access_key.to_string())
                    .with_client_options(client)
                    .with_retry(retry_config())
                    // Each request carries its body's SHA-256 (x-amz-checksum-sha256), which the
                    // store checks on arrival, and which S3 requires in a bucket with Object
                    // Lock (the default retention that makes copies immutable). The digest is
                    // the one SigV4 signing computes anyway.
                    .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
                    .with_virtual_hosted_style_request(!cfg.path_style.unwrap_or(cfg.endpoint.is_some()));
                if let Some(token) = session_token {
                    b = b.with_token(token.to_string());
                }
                if let Some(e) = &cfg.endpoint {
                    b = b.with_endpoint(e.trim_end_matches('/'));
                }
                let s = Arc::new(b.build().map_err(|e| fail("cannot open it", &e))?);
                (s.clone(), Some(s))
            }
            OffsiteKind::Azure => {
                let Credentials::Azure { account_key } = creds else {
                    return Err(fail("cannot open it", &"no Azure account key was given"));
                };
                let mut b = object_store::azure::MicrosoftAzureBuilder::new()
                    .with_account(cfg.account.clone().unwrap_or_default())
                    .with_container_name(cfg.bucket.clone().unwrap_or_default())
                    .with_access_key(account_key.to_string())
                    .with_client_options(client)
                    .with_retry(retry_config());
                if let Some(e) = &cfg.endpoint {
                    b = b.with_endpoint(e.trim_end_matches('/').to_string());
                }
                let s = Arc::new(b.build().map_err(|e| fail("cannot open it", &e))?);
                (s.clone(), Some(s))
            }
            OffsiteKind::Folder => {
                let path = cfg.path.clone().unwrap_or_default();
                if !path.is_dir() {
                    return Err(Error::OffsiteWaiting {
                        destination: cfg.name.clone(),
                        reason: format!(
                            "the folder {} is not there (a disk not plugged in, a share not connected?)",
                            path.display()
                        ),
                    });
                }
                let s = object_store::local::LocalFileSystem::new_with_prefix(&path)
                    .map_err(|e| fail(&format!("cannot use the folder {}", path.display()), &e))?;
                (Arc::new(s), None)
            }
        };
        // Two workers: the parts of an upload are signed (SHA-256 of each part, SigV4) and sent
        // on both cores while this thread reads the next part from disk.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| fail("cannot start its network runtime", &e))?;
        Ok(Remote { cfg: cfg.clone(), store, parts, rt, prefix: cfg.object_prefix() })
    }

    pub fn config(&self) -> &OffsiteConfig {
        &self.cfg
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    fn path(&self, name: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{name}", self.prefix))
    }

    /// An error of this destination, in words: "off-site copy s3: cannot upload x: the server
    /// refused the key (check the access key)".
    fn err(&self, what: &str, e: object_store::Error) -> Error {
        Error::Offsite { destination: self.cfg.name.clone(), message: format!("{what}: {}", describe(&e)) }
    }

    /// Everything under the prefix (not below sub-folders of it), sorted by name.
    pub fn list(&self) -> Result<Vec<RemoteObject>> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.trim_end_matches('/')));
        let store = self.store.clone();
        let mut out: Vec<RemoteObject> = self
            .rt
            .block_on(async move {
                let result = store.list_with_delimiter(prefix.as_ref()).await?;
                Ok::<_, object_store::Error>(result.objects)
            })
            .map_err(|e| self.err("cannot list the backups there", e))?
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                Some(RemoteObject { name, size: m.size, modified: m.last_modified })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The size of an object, None if there is none.
    pub fn size_of(&self, name: &str) -> Result<Option<u64>> {
        let path = self.path(name);
        match self.rt.block_on(self.store.head(&path)) {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(&format!("cannot look at {name}"), e)),
        }
    }

    /// A small object (a catalog entry), None if there is none.
    pub fn get_small(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        let got = self.rt.block_on(async {
            let r = self.store.get(&path).await?;
            r.bytes().await
        });
        match got {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(&format!("cannot read {name}"), e)),
        }
    }

    /// Writes a small object in one request.
    pub fn put_small(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(name);
        let payload = PutPayload::from(bytes);
        self.rt
            .block_on(retrying(|| self.store.put(&path, payload.clone())))
            .map(|_| ())
            .map_err(|e| self.err(&format!("cannot write {name}"), e))
    }

    /// Removes an object; one that is already gone is not an error.
    pub fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(&format!("cannot remove {name}"), e)),
        }
    }

    /// Removes an object unless the store refuses because the object is locked (an Azure
    /// immutability policy, S3 Object Lock on a version, a legal hold): `Ok(false)` then, so that
    /// a destination's retention keeps what the store protects instead of failing every run.
    pub fn delete_unless_locked(&self, name: &str) -> Result<bool> {
        let path = self.path(name);
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) if locked(&e) => Ok(false),
            Err(e) => Err(self.err(&format!("cannot remove {name}"), e)),
        }
    }

    /// Reads an object whole, as a stream, and returns its size and SHA-256 (hex): the
    /// read-back check of a copy. A read cut off on the way starts again from the beginning.
    pub fn read_back(&self, name: &str, progress: &dyn Fn(u64)) -> Result<(u64, String)> {
        use sha2::Digest;
        let path = self.path(name);
        let r = self.rt.block_on(async {
            let mut backoff = Backoff::new();
            loop {
                let mut hasher = sha2::Sha256::new();
                let mut size = 0u64;
                let attempt = async {
                    let mut stream = self.store.get(&path).await?.into_stream();
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk?;
                        size += chunk.len() as u64;
                        hasher.update(&chunk);
                        progress(size);
                    }
                    Ok::<_, object_store::Error>(())
                }
                .await;
                match attempt {
                    Ok(()) => return Ok((size, hex::encode(hasher.finalize()))),
                    Err(e) if backoff.again(&e).await => {}
                    Err(e) => return Err(e),
                }
            }
        });
        r.map_err(|e| self.err(&format!("cannot read {name} back"), e))
    }

    /// A probe: writes, reads and removes a small object, so that "test" proves the key can
    /// do what a copy needs.
    pub fn probe(&self) -> Result<()> {
        let name = format!(".hrsm-backup-probe-{}", std::process::id());
        self.put_small(&name, b"probe".to_vec())?;
        let back = self.get_small(&name)?;
        self.delete(&name)?;
        if back.as_deref() != Some(b"probe".as_slice()) {
            return Err(Error::Offsite {
                destination: self.cfg.name.clone(),
                message: "a test object read back differently from what was written".into(),
            });
        }
        Ok(())
    }

    /// Where a second folder keeps its copies (for messages).
    pub fn folder(&self) -> Option<PathBuf> {
        self.cfg.path.clone()
    }
}

/// A refusal to delete because the object is locked by the store's own protection.
fn locked(e: &object_store::Error) -> bool {
    let t = e.to_string().to_lowercase();
    ["immutab", "objectlock", "object lock", "worm", "legal hold", "legalhold", "retention period"]
        .iter()
        .any(|w| t.contains(w))
}

/// object_store's messages are long and nested ("Generic S3 error: Error performing PUT ...
/// after 3 retries ... error sending request"): this keeps what an admin can act on.
fn describe(e: &object_store::Error) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    let hint = if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("dns error")
        || lower.contains("timed out")
        || lower.contains("connect")
    {
        Some("the storage service cannot be reached; check the network and the endpoint address")
    } else if lower.contains("403")
        || lower.contains("accessdenied")
        || lower.contains("forbidden")
        || lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("authorizationfailure")
        || lower.contains("authenticationfailed")
    {
        Some("the storage service refused the credentials; check the access key and its rights on the bucket")
    } else if lower.contains("nosuchbucket") || lower.contains("containernotfound") {
        Some("the bucket (or container) does not exist; create it or correct its name")
    } else if matches!(e, object_store::Error::NotFound { .. }) {
        Some("it is not there")
    } else {
        None
    };
    match hint {
        Some(h) => h.to_string(),
        None => plain(&text),
    }
}

/// One line, without the request URL's query (which may carry a signature).
fn plain(text: &str) -> String {
    let one = text.lines().next().unwrap_or_default();
    match one.find('?') {
        Some(i) => format!("{}...", &one[..i]),
        None => one.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_object_is_told_from_other_refusals() {
        let generic = |m: &str| object_store::Error::Generic { store: "S3", source: m.to_string().into() };
        assert!(locked(&generic(
            "409 Conflict: BlobImmutableDueToPolicy: This operation is not permitted as the blob is immutable due to a policy."
        )));
        assert!(locked(&generic("403 AccessDenied: Access Denied because object protected by object lock.")));
        assert!(!locked(&generic("403 AccessDenied: Access Denied")));
        assert!(!locked(&generic("error sending request: connection refused")));
    }

    #[test]
    fn a_missing_second_folder_waits_rather_than_fails() {
        let cfg: OffsiteConfig =
            toml::from_str("name = \"usb\"\nkind = \"folder\"\npath = \"/nonexistent/hrsm-usb-disk\"").unwrap();
        match Remote::open(&cfg, &Credentials::None) {
            Err(Error::OffsiteWaiting { destination, reason }) => {
                assert_eq!(destination, "usb");
                assert!(reason.contains("not plugged in"), "{reason}");
            }
            other => panic!("expected waiting, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn signatures_never_reach_a_message() {
        assert_eq!(plain("PUT http://h/b/k?X-Amz-Signature=abc failed\nmore"), "PUT http://h/b/k...");
    }
}
