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
use crate::uri::without_password;

/// Applies `d` where neither the config file nor the environment decided; returns what was
/// taken, for the admin (masked: "mongodb.uri from /srv/hr-sm/ecosystem.config.js").
pub fn apply_discovery(cfg: &mut Config, d: &Discovery, env: &EnvOverrides) -> Vec<String> {
    let mut used = Vec::new();
    let mut take = |what: &str, id: SettingId| -> Option<String> {
        let s = d.get(id)?;
        used.push(format!("{what} from {} ({})", s.from.display(), s.key));
        Some(s.value.clone())
    };
    // A config that names the site's own server and user without the password (what the
    // desktop's "Use these settings" saves) takes the password from the site as well.
    let same = |configured: &str, id: SettingId| d.get(id).is_some_and(|s| without_password(&s.value) == configured);
    let main_open = !cfg.is_explicit("mongodb.uri") && cfg.mongodb.uri == DEFAULT_MONGODB_URI;
    if env.mongodb_uri.is_none() && (main_open || same(&cfg.mongodb.uri, SettingId::MongodbUri)) {
        if let Some(v) = take("mongodb.uri", SettingId::MongodbUri) {
            cfg.mongodb.uri = v;
        }
    }
    let license_open = !cfg.is_explicit("mongodb.license_uri") && cfg.mongodb.license_uri.is_none();
    let license_same = cfg.mongodb.license_uri.as_deref().is_some_and(|l| same(l, SettingId::LicenseUri));
    if env.license_db_uri.is_none() && (license_open || license_same) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn site() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join(".env"),
            "MONGODB_URI=mongodb://hrsm:pw1@db.local:27017/hrsm_platform\nBACKUP_TIMEZONE=Africa/Cairo\nBACKUPS_ENABLED=false\n",
        )
        .unwrap();
        t
    }

    fn applied(toml: &str, env: &EnvOverrides, root: &Path) -> Config {
        let mut cfg =
            Config::parse(&format!("hrsm_root = {:?}\n{toml}", root.display().to_string()), Path::new("c.toml"))
                .unwrap();
        cfg.apply_env(env).unwrap();
        apply_discovery(&mut cfg, &crate::site::discover::discover(root), env);
        cfg
    }

    #[test]
    fn the_site_fills_what_config_and_environment_leave_open() {
        let t = site();
        let c = applied("", &EnvOverrides::default(), t.path());
        assert_eq!(c.mongodb.uri, "mongodb://hrsm:pw1@db.local:27017/hrsm_platform");
        assert_eq!(c.schedule.timezone, "Africa/Cairo");
        assert!(c.schedule.enabled, "the old service's switch never pauses this app");
        // The same server and user named without the password: the site's password is used.
        let c = applied(
            "[mongodb]\nuri = \"mongodb://hrsm@db.local:27017/hrsm_platform\"\n",
            &EnvOverrides::default(),
            t.path(),
        );
        assert_eq!(c.mongodb.uri, "mongodb://hrsm:pw1@db.local:27017/hrsm_platform");
    }

    #[test]
    fn the_config_file_and_the_environment_win() {
        let t = site();
        let c = applied(
            "[mongodb]\nuri = \"mongodb://other:27017\"\n[schedule]\ntimezone = \"UTC\"\n",
            &EnvOverrides::default(),
            t.path(),
        );
        assert_eq!(c.mongodb.uri, "mongodb://other:27017");
        assert_eq!(c.schedule.timezone, "UTC", "explicitly UTC in the file");
        let env = EnvOverrides { mongodb_uri: Some("mongodb://env:1".into()), ..Default::default() };
        let c = applied("", &env, t.path());
        assert_eq!(c.mongodb.uri, "mongodb://env:1");
    }
}
