//! The credentials of an off-site destination: where they come from (the OS keychain, one entry
//! per destination, or the environment HR-SM's old service read) and the small JSON text a
//! keychain entry holds. They live only in memory here, zeroed on drop; `Debug` never prints
//! them and no error message quotes them.
//!
//! Depends on `offsite` (the kinds) and `error`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::offsite::{OffsiteConfig, OffsiteKind};

/// The keychain account of a destination's credentials: `offsite:<name>`.
pub fn keychain_user(destination: &str) -> String {
    format!("offsite:{destination}")
}

pub enum Credentials {
    /// A folder needs none.
    None,
    S3 {
        access_key_id: String,
        secret_access_key: Zeroizing<String>,
        session_token: Option<Zeroizing<String>>,
    },
    Azure {
        account_key: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => write!(f, "Credentials::None"),
            Credentials::S3 { access_key_id, .. } => write!(f, "Credentials::S3({access_key_id}, secret hidden)"),
            Credentials::Azure { .. } => write!(f, "Credentials::Azure(key hidden)"),
        }
    }
}

/// What a keychain entry holds (JSON, so that one entry carries a key pair).
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SecretText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_key: Option<String>,
}

impl Drop for SecretText {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret_access_key.zeroize();
        self.session_token.zeroize();
        self.account_key.zeroize();
    }
}

impl Credentials {
    /// S3 credentials from their two parts, checked for shape (not for validity: only the
    /// store can tell that).
    pub fn s3(access_key_id: &str, secret_access_key: &str) -> Result<Self> {
        let id = access_key_id.trim();
        let secret = secret_access_key.trim();
        if id.is_empty()
            || secret.is_empty()
            || id.contains(char::is_whitespace)
            || secret.contains(char::is_whitespace)
        {
            return Err(Error::Usage(
                "an S3 key is an access key id and a secret access key, each one word without spaces".into(),
            ));
        }
        Ok(Credentials::S3 {
            access_key_id: id.to_string(),
            secret_access_key: Zeroizing::new(secret.to_string()),
            session_token: None,
        })
    }

    pub fn azure(account_key: &str) -> Result<Self> {
        let key = account_key.trim();
        use base64::Engine;
        if key.is_empty() || base64::engine::general_purpose::STANDARD.decode(key).is_err() {
            return Err(Error::Usage(
                "an Azure account key is the base64 text shown under the storage account's Access keys".into(),
            ));
        }
        Ok(Credentials::Azure { account_key: Zeroizing::new(key.to_string()) })
    }

    /// The text a keychain entry stores.
    pub fn to_secret_text(&self) -> Zeroizing<String> {
        let mut t = SecretText::default();
        match self {
            Credentials::None => {}
            Credentials::S3 { access_key_id, secret_access_key, session_token } => {
                t.access_key_id = Some(access_key_id.clone());
                t.secret_access_key = Some(secret_access_key.to_string());
                t.session_token = session_token.as_ref().map(|s| s.to_string());
            }
            Credentials::Azure { account_key } => t.account_key = Some(account_key.to_string()),
        }
        // Serialising a struct of strings cannot fail.
        Zeroizing::new(serde_json::to_string(&t).unwrap_or_default())
    }

    /// Reads a keychain entry's text for a destination of `kind`; `what` names the entry in
    /// messages.
    pub fn from_secret_text(kind: OffsiteKind, text: &str, what: &str) -> Result<Self> {
        let t: SecretText = serde_json::from_str(text).map_err(|_| {
            Error::Key(format!("{what} does not hold off-site credentials this program wrote; store them again"))
        })?;
        match kind {
            OffsiteKind::Folder => Ok(Credentials::None),
            OffsiteKind::S3 => match (&t.access_key_id, &t.secret_access_key) {
                (Some(id), Some(secret)) => {
                    let mut c = Credentials::s3(id, secret)?;
                    if let (Credentials::S3 { session_token, .. }, Some(tok)) = (&mut c, &t.session_token) {
                        *session_token = Some(Zeroizing::new(tok.clone()));
                    }
                    Ok(c)
                }
                _ => Err(Error::Key(format!("{what} holds no S3 key pair; store it again"))),
            },
            OffsiteKind::Azure => match &t.account_key {
                Some(k) => Credentials::azure(k),
                None => Err(Error::Key(format!("{what} holds no Azure account key; store it again"))),
            },
        }
    }

    /// The variables HR-SM's old service read: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
    /// (+ `AWS_SESSION_TOKEN`), `AZURE_STORAGE_KEY` (or `AZURE_STORAGE_ACCESS_KEY`).
    pub fn from_env(kind: OffsiteKind, get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        match kind {
            OffsiteKind::Folder => Some(Credentials::None),
            OffsiteKind::S3 => {
                let mut c = Credentials::s3(&get("AWS_ACCESS_KEY_ID")?, &get("AWS_SECRET_ACCESS_KEY")?).ok()?;
                if let Credentials::S3 { session_token, .. } = &mut c {
                    *session_token = get("AWS_SESSION_TOKEN").map(Zeroizing::new);
                }
                Some(c)
            }
            OffsiteKind::Azure => {
                Credentials::azure(&get("AZURE_STORAGE_KEY").or_else(|| get("AZURE_STORAGE_ACCESS_KEY"))?).ok()
            }
        }
    }

    /// The credentials of `cfg`: the keychain entry's text if there is one, else the
    /// environment; an object store without either is an error that says where to put them.
    pub fn resolve(
        cfg: &OffsiteConfig,
        keychain_text: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        if cfg.kind == OffsiteKind::Folder {
            return Ok(Credentials::None);
        }
        if let Some(text) = keychain_text {
            return Credentials::from_secret_text(cfg.kind, text, &format!("the keychain entry of {}", cfg.name));
        }
        Credentials::from_env(cfg.kind, env).ok_or_else(|| {
            let vars = match cfg.kind {
                OffsiteKind::S3 => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                _ => "AZURE_STORAGE_KEY",
            };
            Error::Offsite {
                destination: cfg.name.clone(),
                message: format!(
                    "no credentials: store them in the keychain (`hrsm-backup offsite secret {}`, or Settings in the app) or set {vars}",
                    cfg.name
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keychain_text_round_trips_and_debug_hides_secrets() {
        let c = Credentials::s3("GKabc", "s3cr3t-value").unwrap();
        let text = c.to_secret_text();
        let back = Credentials::from_secret_text(OffsiteKind::S3, &text, "entry").unwrap();
        assert!(matches!(&back, Credentials::S3 { access_key_id, secret_access_key, .. }
            if access_key_id == "GKabc" && secret_access_key.as_str() == "s3cr3t-value"));
        assert!(!format!("{back:?}").contains("s3cr3t"));
        let az = Credentials::azure("Zm9vYmFy").unwrap();
        assert!(!format!("{az:?}").contains("Zm9v"));
        let e = Credentials::from_secret_text(OffsiteKind::Azure, &text, "entry").unwrap_err();
        assert!(e.to_string().contains("no Azure account key"), "{e}");
        assert!(Credentials::azure("not base64!").is_err());
        assert!(Credentials::s3("id", "two words").is_err());
    }

    #[test]
    fn keychain_wins_then_env_then_a_clear_error() {
        let cfg: OffsiteConfig = toml::from_str("name = \"aws\"\nkind = \"s3\"\nbucket = \"b\"").unwrap();
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("ENVID".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("envsecret".to_string()),
            _ => None,
        };
        let stored = Credentials::s3("KCID", "kcsecret").unwrap().to_secret_text();
        let c = Credentials::resolve(&cfg, Some(&stored), env).unwrap();
        assert!(matches!(c, Credentials::S3 { ref access_key_id, .. } if access_key_id == "KCID"));
        let c = Credentials::resolve(&cfg, None, env).unwrap();
        assert!(matches!(c, Credentials::S3 { ref access_key_id, .. } if access_key_id == "ENVID"));
        let e = Credentials::resolve(&cfg, None, |_| None).unwrap_err().to_string();
        assert!(e.contains("AWS_SECRET_ACCESS_KEY") && e.contains("off-site copy aws: no credentials"), "{e}");
    }
}
