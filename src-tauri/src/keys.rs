//! The master key at start: `BACKUP_ENCRYPTION_KEY` if set, else the OS keychain; on a first
//! run a new key is created there. A locked or missing keychain leaves the app without a key,
//! says so on the page and in a notification, and never falls back to a plaintext file.

use hrsm_backup::{parse_key_text, Keychain, MasterKey, ENV_KEY};

use crate::state::AppState;

pub fn ensure_key(state: &AppState) -> Result<MasterKey, String> {
    // The engine's lookup order (BACKUP_ENCRYPTION_KEY, then the keychain), creating a key on
    // a first start.
    let env = std::env::var(ENV_KEY).ok().map(hrsm_backup::SecretText::new);
    let result =
        hrsm_backup::load_or_create(env.as_ref().map(|s| s.as_str()), &Keychain::master_key()).map(|(key, created)| {
            if created {
                state.update_persisted(|p| p.key_exported = false);
            }
            key
        });
    result.map_err(|e| {
        let msg = e.to_string();
        crate::notify::send(
            "HR-SM Backup has no encryption key",
            &format!("{msg}. Backups cannot run until this is fixed."),
            true,
        );
        msg
    })
}

/// Imports a recovery key into the keychain. A different key already there is replaced only
/// if it was exported (else its backups would become unreadable); the new key is written over
/// the old one in one step, so a failing keychain never leaves it empty.
pub fn import(text: &str, current: Option<&MasterKey>, current_exported: bool) -> Result<MasterKey, String> {
    let key = parse_key_text(text, "the recovery key").map_err(|e| e.to_string())?;
    if let Some(cur) = current {
        if cur.id() != key.id() && !current_exported {
            return Err(format!(
                "the key in use (id {}) has not been exported yet; export it first (Settings → Encryption key), or the backups made with it become unreadable",
                cur.id()
            ));
        }
    }
    Keychain::master_key().set_text(&hrsm_backup::recovery_text(&key)).map_err(|e| e.to_string())?;
    Ok(key)
}
