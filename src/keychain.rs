//! The OS keychain (Secret Service on Linux, via the `keyring` crate) as a `KeyStore`: where the
//! desktop app keeps the master key, and a MongoDB URI that carries a password. A locked or
//! missing keychain is an error that says what to do, never a silent plaintext fallback.
//!
//! Depends on `keys`, `crypto` and `error`.

use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::keys::{parse_key_text, recovery_text, KeyStore};

pub const SERVICE: &str = "hrsm-backup";
pub const KEY_USER: &str = "master-key";
pub const URI_USER: &str = "mongodb-uri";

/// One secret in the keychain.
pub struct Keychain {
    pub service: String,
    pub user: String,
}

impl Keychain {
    pub fn master_key() -> Self {
        Keychain { service: SERVICE.into(), user: KEY_USER.into() }
    }

    pub fn mongodb_uri() -> Self {
        Keychain { service: SERVICE.into(), user: URI_USER.into() }
    }

    fn entry(&self) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, &self.user).map_err(|e| explain(&self.describe(), e))
    }

    pub fn get_text(&self) -> Result<Option<String>> {
        match self.entry()?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(explain(&self.describe(), e)),
        }
    }

    pub fn set_text(&self, secret: &str) -> Result<()> {
        self.entry()?.set_password(secret).map_err(|e| explain(&self.describe(), e))
    }

    pub fn delete(&self) -> Result<()> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(explain(&self.describe(), e)),
        }
    }
}

fn explain(what: &str, e: keyring::Error) -> Error {
    let hint = match &e {
        keyring::Error::NoStorageAccess(_) => {
            "the keychain is locked or no keychain service is running; unlock it (log in to the desktop session) or set BACKUP_ENCRYPTION_KEY"
        }
        keyring::Error::PlatformFailure(_) => {
            "the keychain service is not reachable; check that it runs (gnome-keyring, KWallet) in this session, or set BACKUP_ENCRYPTION_KEY or pass --key-file"
        }
        _ => "check the OS keychain, or set BACKUP_ENCRYPTION_KEY or pass --key-file",
    };
    // keyring's messages never contain the secret itself.
    Error::Key(format!("{what}: {e}; {hint}"))
}

impl KeyStore for Keychain {
    fn describe(&self) -> String {
        format!("OS keychain (service {}, account {})", self.service, self.user)
    }

    fn load(&self) -> Result<Option<MasterKey>> {
        match self.get_text()? {
            Some(text) => parse_key_text(&text, &self.describe()).map(Some),
            None => Ok(None),
        }
    }

    fn store(&self, key: &MasterKey) -> Result<()> {
        if self.get_text()?.is_some() {
            return Err(Error::Key(format!("{} already holds a key; refusing to overwrite it", self.describe())));
        }
        self.set_text(&recovery_text(key))
    }
}
