//! The OS keychain (Secret Service on Linux, via the `keyring` crate) as a `KeyStore`: where the
//! desktop app keeps the master key, and a MongoDB URI that carries a password. A locked or
//! missing keychain is an error that says what to do, never a silent plaintext fallback.
//!
//! Depends on `keys`, `crypto` and `error`.

use crate::archive::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::store::keys::{parse_key_text, recovery_text, KeyStore};

pub const SERVICE: &str = "hrsm-backup";
/// The service the tests use, in their private session only (scripts/with-session sets it).
pub const TEST_SERVICE: &str = "hrsm-backup-test";
/// Names another keychain service than `SERVICE` (only the test session sets it).
pub const SERVICE_ENV: &str = "HRSM_KEYCHAIN_SERVICE";

/// The keychain service in use: `SERVICE`, or the one `HRSM_KEYCHAIN_SERVICE` names.
pub fn service() -> String {
    std::env::var(SERVICE_ENV).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| SERVICE.into())
}

/// For tests that write to or delete from a Secret Service: panics unless this process runs
/// inside the private session of scripts/with-session (its own D-Bus session bus, recorded in
/// `HRSM_TEST_SESSION_BUS`, and the test service name), so that a plain `cargo test` on an
/// admin's desktop can never touch the real keychain.
#[doc(hidden)]
pub fn assert_private_test_session() {
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
    let marker = std::env::var("HRSM_TEST_SESSION_BUS").ok();
    assert!(
        is_private_test_session(bus.as_deref(), marker.as_deref(), &service()),
        "refusing to run: this test writes to and deletes from the Secret Service on the session bus; \
         run it through scripts/with-session (scripts/test does), which starts a private bus and keyring, \
         so that it never touches the real keychain of this machine"
    );
}
pub const KEY_USER: &str = "master-key";
pub const URI_USER: &str = "mongodb-uri";
pub const LICENSE_URI_USER: &str = "license-mongodb-uri";

/// One secret in the keychain.
pub struct Keychain {
    pub service: String,
    pub user: String,
}

impl Keychain {
    pub fn master_key() -> Self {
        Keychain { service: service(), user: KEY_USER.into() }
    }

    pub fn mongodb_uri() -> Self {
        Keychain { service: service(), user: URI_USER.into() }
    }

    /// The credentials of an off-site destination (JSON, see `remote::credentials`).
    pub fn offsite(destination: &str) -> Self {
        Keychain { service: service(), user: crate::remote::credentials::keychain_user(destination) }
    }

    /// The license server's database URI, when it carries a password.
    pub fn license_uri() -> Self {
        Keychain { service: service(), user: LICENSE_URI_USER.into() }
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

/// The bus is the one scripts/with-session started (it records it) and the service is the
/// tests' own.
fn is_private_test_session(bus: Option<&str>, marker: Option<&str>, service: &str) -> bool {
    bus.is_some() && bus == marker && service == TEST_SERVICE
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
            Some(text) => parse_key_text(&zeroize::Zeroizing::new(text), &self.describe()).map(Some),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the keychain tests deleted the `hrsm-backup` master key from whatever
    /// Secret Service the session bus had, on an admin's desktop the real one.
    #[test]
    fn only_the_private_session_counts_as_a_test_session() {
        let bus = Some("unix:path=/tmp/dbus-x");
        assert!(is_private_test_session(bus, bus, TEST_SERVICE));
        assert!(!is_private_test_session(bus, None, TEST_SERVICE), "the admin's own bus");
        assert!(!is_private_test_session(bus, Some("unix:path=/tmp/other"), TEST_SERVICE));
        assert!(!is_private_test_session(bus, bus, SERVICE), "the real service name");
        assert!(!is_private_test_session(None, None, TEST_SERVICE));
    }
}
