//! Where the master key comes from: `BACKUP_ENCRYPTION_KEY` (hex or base64), a key file
//! (mode 0600, for servers), or a `KeyStore` that the desktop shell backs with the OS keychain.
//! Also the recovery text format used by `key export` / `key import`.
//!
//! Depends on `crypto`, `fsutil` and `error`. Never formats a key into an error or a log.

use std::path::{Path, PathBuf};

use base64::Engine;
use zeroize::Zeroizing;

use crate::archive::crypto::{MasterKey, KEY_LEN};
use crate::error::{Error, Result};

pub const ENV_KEY: &str = "BACKUP_ENCRYPTION_KEY";

/// Something that can hold the master key (the OS keychain, a file...).
pub trait KeyStore {
    /// A short description for messages, e.g. "key file /etc/hrsm/backup.key".
    fn describe(&self) -> String;
    fn load(&self) -> Result<Option<MasterKey>>;
    fn store(&self, key: &MasterKey) -> Result<()>;
}

/// Parses a key written as 64 hex characters or as base64 (standard or URL-safe, padded or
/// not) of 32 bytes; spaces and line breaks inside it are ignored (a key typed back from a
/// printed recovery sheet, in groups). The error never repeats the input.
pub fn parse_key_text(text: &str, origin: &str) -> Result<MasterKey> {
    let compact: Zeroizing<String> = Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
    let t = compact.as_str();
    let t = t.strip_prefix("hrsm-key-v1:").unwrap_or(t);
    // The decoded bytes are wiped when dropped, like the key they become.
    let bytes = if t.len() == 2 * KEY_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(t).ok().map(Zeroizing::new)
    } else {
        [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ]
        .iter()
        .find_map(|e| e.decode(t).ok())
        .map(Zeroizing::new)
    };
    match bytes {
        Some(b) if b.len() == KEY_LEN => {
            let mut k = Zeroizing::new([0u8; KEY_LEN]);
            k.copy_from_slice(&b);
            Ok(MasterKey::from_bytes(*k))
        }
        _ => Err(Error::Key(format!(
            "{origin} is not a valid key: expected 32 bytes written as 64 hex characters or as base64 (got {} characters); create one with `hrsm-backup key generate`",
            t.chars().count()
        ))),
    }
}

/// The recovery text of a key: a prefix that says what it is, then hex. Wiped when dropped.
pub fn recovery_text(key: &MasterKey) -> Zeroizing<String> {
    let hex = Zeroizing::new(hex::encode(key.expose_secret()));
    let mut text = Zeroizing::new(String::with_capacity(12 + hex.len()));
    text.push_str("hrsm-key-v1:");
    text.push_str(&hex);
    text
}

/// Key text read from a file, stdin or the environment, wiped when dropped.
pub type SecretText = Zeroizing<String>;

/// A key kept in a file of its own (like an SSH key): refused if others can read it.
pub struct KeyFile {
    pub path: PathBuf,
}

impl KeyStore for KeyFile {
    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn load(&self) -> Result<Option<MasterKey>> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read key file", &self.path, e)),
        };
        if let Some(mode) = crate::fsutil::shared_mode(&meta) {
            return Err(Error::Key(format!(
                "key file {} can be read by other users (mode {:o}); run `chmod 600 {}`",
                self.path.display(),
                mode,
                self.path.display()
            )));
        }
        let text: SecretText =
            Zeroizing::new(std::fs::read_to_string(&self.path).map_err(|e| Error::io("read key file", &self.path, e))?);
        parse_key_text(&text, &self.describe()).map(Some)
    }

    fn store(&self, key: &MasterKey) -> Result<()> {
        if self.path.exists() {
            return Err(Error::Key(format!(
                "{} already exists; refusing to overwrite a key (move it away first if you really mean to replace it)",
                self.path.display()
            )));
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsutil::create_private_dir_all(dir)?;
        }
        let mut text = recovery_text(key);
        text.push('\n');
        crate::fsutil::write_atomic(&self.path, text.as_bytes())
    }
}

/// Finds the master key: the environment variable first (headless use), then the stores in
/// order. `env_value` is the value of BACKUP_ENCRYPTION_KEY, if set.
pub fn resolve_key(env_value: Option<&str>, stores: &[&dyn KeyStore]) -> Result<MasterKey> {
    if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
        return parse_key_text(v, ENV_KEY);
    }
    for s in stores {
        if let Some(k) = s.load()? {
            return Ok(k);
        }
    }
    let tried: Vec<String> = stores.iter().map(|s| s.describe()).collect();
    Err(Error::Key(format!(
        "no encryption key found (looked at {ENV_KEY}{}{}); create one with `hrsm-backup key generate --key-file FILE` or set {ENV_KEY}",
        if tried.is_empty() { "" } else { ", " },
        tried.join(", ")
    )))
}

/// The desktop's first start: the key as `resolve_key` finds it (the environment, then
/// `store`), or, when there is none at all, a new random key stored in `store`. Returns the key
/// and whether it was created now (and so has never been exported).
pub fn load_or_create(env_value: Option<&str>, store: &dyn KeyStore) -> Result<(MasterKey, bool)> {
    if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
        return parse_key_text(v, ENV_KEY).map(|k| (k, false));
    }
    if let Some(k) = store.load()? {
        return Ok((k, false));
    }
    let key = MasterKey::generate(&mut rand::rngs::OsRng);
    store.store(&key)?;
    Ok((key, true))
}

/// Key file path from `--key-file` or `HRSM_BACKUP_KEY_FILE`.
pub fn key_file_from(arg: Option<&Path>) -> Option<KeyFile> {
    arg.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HRSM_BACKUP_KEY_FILE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .map(|path| KeyFile { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_give_the_same_key() {
        let raw = [0x5Au8; 32];
        let hex = hex::encode(raw);
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let a = parse_key_text(&hex, "x").unwrap();
        let b = parse_key_text(&format!(" {b64}\n"), "x").unwrap();
        let c = parse_key_text(&recovery_text(&a), "x").unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id(), c.id());
        // Typed back from a printed recovery sheet: in groups, over two lines.
        let grouped: String =
            hex.as_bytes().chunks(8).map(|g| std::str::from_utf8(g).unwrap()).collect::<Vec<_>>().join(" ");
        let d = parse_key_text(&format!("hrsm-key-v1:\n{}\n{}", &grouped[..35], &grouped[36..]), "x").unwrap();
        assert_eq!(a.id(), d.id());
    }

    #[test]
    fn a_bad_key_is_explained_without_echoing_it() {
        let secret = "correct-horse-battery-staple";
        let msg = parse_key_text(secret, ENV_KEY).unwrap_err().to_string();
        assert!(msg.contains(ENV_KEY) && msg.contains("64 hex"), "{msg}");
        assert!(!msg.contains(secret), "{msg}");
    }

    #[test]
    fn no_key_says_how_to_get_one() {
        let msg = resolve_key(None, &[]).unwrap_err().to_string();
        assert!(msg.contains("key generate") && msg.contains(ENV_KEY), "{msg}");
    }
}
