//! Discovered settings into the effective configuration. Precedence: what the config file sets
//! wins, then the environment (MONGODB_URI, LICENSE_DB_URI, BACKUP_TIMEZONE), then what the
//! site's own files say. Secrets taken from the site (URIs with passwords) stay in memory:
//! they never go into our config file, logs or messages.
//!
//! Not applied: the site's `BACKUPS_ENABLED` (it switched HR-SM's old service; a site that
//! turned that off to move to this app must not turn this app off) and its
//! `BACKUP_ENCRYPTION_KEY` (the old service's key, kept in plain text on the server: it opens
//! the old backups for `import-legacy`, it does not become this app's key).
//!
//! Depends on `config` and `site::discover`.

use crate::config::{Config, EnvOverrides, OnUnreadable, SourceConfig, DEFAULT_MONGODB_URI};
use crate::site::discover::{Discovery, SettingId};

/// Applies `d` where neither the config file nor the environment decided; returns what was
/// taken, for the admin (masked: "mongodb.uri from /srv/hr-sm/ecosystem.config.js").
pub fn apply_discovery(cfg: &mut Config, d: &Discovery, env: &EnvOverrides) -> Vec<String> {
    let mut used = Vec::new();
    let mut take = |what: &str, id: SettingId| -> Option<String> {
        let s = d.get(id)?;
        used.push(format!("{what} from {} ({})", s.from.display(), s.key));
        Some(s.value.clone())
    };
    if env.mongodb_uri.is_none() && !cfg.is_explicit("mongodb.uri") && cfg.mongodb.uri == DEFAULT_MONGODB_URI {
        if let Some(v) = take("mongodb.uri", SettingId::MongodbUri) {
            cfg.mongodb.uri = v;
        }
    }
    if env.license_db_uri.is_none() && !cfg.is_explicit("mongodb.license_uri") && cfg.mongodb.license_uri.is_none() {
        if let Some(v) = take("mongodb.license_uri", SettingId::LicenseUri) {
            cfg.mongodb.license_uri = Some(v);
        }
    }
    if env.timezone.is_none() && !cfg.is_explicit("schedule.timezone") {
        if let Some(v) = take("schedule.timezone", SettingId::Timezone) {
            cfg.schedule.timezone = v;
        }
    }
    // Key files the license server was moved to (JWT_*_KEY_PATH) outside the default key
    // folders are kept too, when the sources are the defaults.
    if cfg.sources.is_none() {
        let root = &cfg.hrsm_root;
        let defaults = [root.join("hrsm-license-server").join("keys"), root.join("keys")];
        let mut extra = Vec::new();
        for (name, path) in [("jwt-private-key", d.jwt_private_key()), ("jwt-public-key", d.jwt_public_key())] {
            if defaults.iter().any(|k| path.starts_with(k)) || !path.is_absolute() {
                continue;
            }
            used.push(format!("{name}: {} (the license server's key path)", path.display()));
            extra.push(SourceConfig {
                on_unreadable: OnUnreadable::Fail,
                required: true,
                ..SourceConfig::folder(name, path)
            });
        }
        if !extra.is_empty() {
            let mut sources = cfg.file_sources();
            sources.extend(extra);
            cfg.sources = Some(sources);
        }
    }
    used
}
