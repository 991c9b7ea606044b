//! Configuration: the TOML file documented in docs/CONFIG.md, HR-SM's environment variables,
//! and validation. Pure: parsing and checking do no I/O beyond reading the file they are given,
//! so they are tested as plain functions.
//!
//! Depends on `error` only.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_DESTINATION: &str = "./backups/daily";
pub const DEFAULT_MONGODB_URI: &str = "mongodb://localhost:27017";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder of the HR-SM installation; the default sources are relative to it.
    #[serde(default = "default_root")]
    pub hrsm_root: PathBuf,
    /// Where archives and the catalog go.
    #[serde(default = "default_destination")]
    pub destination: PathBuf,
    /// gzip level 0-9.
    #[serde(default = "default_level")]
    pub compression_level: u32,
    /// Worker threads for compression and encryption; 0 = one per core. A restore from the
    /// command line fills this many collections at once (0 = 4).
    #[serde(default)]
    pub threads: usize,
    /// Re-read and check every new archive right after writing it.
    #[serde(default = "yes")]
    pub verify_after_backup: bool,
    #[serde(default)]
    pub mongodb: MongoConfig,
    /// File sources; when absent, the HR-SM defaults under `hrsm_root`.
    #[serde(default)]
    pub sources: Option<Vec<SourceConfig>>,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Off-site copies (`[[offsite]]` tables, src/offsite.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offsite: Vec<crate::offsite::OffsiteConfig>,
    /// Why HR-SM's cloud variables could not make a destination (reported by the copy step;
    /// it never stops a backup). Not part of the file.
    #[serde(skip)]
    pub offsite_problem: Option<String>,
    /// The keys the config file set itself (`mongodb.uri`, `schedule.timezone`...): those win
    /// over what discovery reads from the site. Not part of the file.
    #[serde(skip)]
    pub explicit: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MongoConfig {
    /// Back up MongoDB at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Connection string without password (put one in MONGODB_URI or the keychain).
    #[serde(default = "default_uri")]
    pub uri: String,
    /// The databases to back up. Empty (the default): the main database named in `uri`
    /// (`hrms` when it names none), the license database (see `license_uri`) and every
    /// per-company database matching `tenant_databases`.
    #[serde(default)]
    pub databases: Vec<String>,
    /// The license server's database URI (no password) when it is not the main server or
    /// names its own database; its password comes from LICENSE_DB_URI or the keychain.
    /// Unset: `hrsm-licenses` on the main server, when it exists.
    #[serde(default)]
    pub license_uri: Option<String>,
    /// Per-company databases of multi-tenant sites (`hrsm_<company>`), found on the main
    /// server when `databases` is empty; a glob; empty switches it off.
    #[serde(default = "default_tenants")]
    pub tenant_databases: String,
    /// Path of `mongodump`/`mongorestore`'s folder; empty = search PATH.
    #[serde(default)]
    pub tools_path: Option<PathBuf>,
    /// The collection that receives HR-SM's BackupLog document of each run: a name in the
    /// main database (`backuplogs`, HR-SM's own), or `<db>.<collection>`; empty = none.
    #[serde(default = "default_log_ns")]
    pub log_collection: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Name in the archive (`files/<name>/`): letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// A folder (or a single file) to back up.
    pub path: PathBuf,
    /// If set, only paths (relative to `path`) matching one of these globs.
    #[serde(default)]
    pub include: Vec<String>,
    /// Paths (relative to `path`) matching one of these globs are left out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// What an unreadable file does: `fail` the run (default) or `warn` and go on.
    #[serde(default)]
    pub on_unreadable: OnUnreadable,
    /// A missing `path` fails the run unless this is false.
    #[serde(default = "yes")]
    pub required: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnUnreadable {
    #[default]
    Fail,
    Warn,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Local time of the daily run, HH:MM.
    #[serde(default = "default_time")]
    pub time: String,
    /// IANA time zone of `time`.
    #[serde(default = "default_tz")]
    pub timezone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    /// Verified backups kept whatever their age.
    #[serde(default = "default_keep_min")]
    pub keep_min_verified: u32,
    /// Also keep the newest backup of each of the last N days / weeks / months (0 = off).
    /// The defaults keep what HR-SM's old service kept: dailies for `keep_days`, a weekly
    /// copy for 12 weeks and a monthly one for 12 months.
    #[serde(default)]
    pub keep_daily: u32,
    #[serde(default = "default_keep_weekly")]
    pub keep_weekly: u32,
    #[serde(default = "default_keep_monthly")]
    pub keep_monthly: u32,
}

fn yes() -> bool {
    true
}
fn default_root() -> PathBuf {
    platform_hrsm_root()
}
fn default_destination() -> PathBuf {
    PathBuf::from(DEFAULT_DESTINATION)
}
fn default_level() -> u32 {
    6
}
fn default_uri() -> String {
    DEFAULT_MONGODB_URI.into()
}
fn default_tenants() -> String {
    "hrsm_*".into()
}
fn default_log_ns() -> String {
    "backuplogs".into()
}
fn default_time() -> String {
    "02:00".into()
}
fn default_tz() -> String {
    "UTC".into()
}
fn default_keep_days() -> u32 {
    30
}
fn default_keep_min() -> u32 {
    3
}
fn default_keep_weekly() -> u32 {
    12
}
fn default_keep_monthly() -> u32 {
    12
}

impl Default for MongoConfig {
    fn default() -> Self {
        MongoConfig {
            enabled: true,
            uri: default_uri(),
            databases: Vec::new(),
            license_uri: None,
            tenant_databases: default_tenants(),
            tools_path: None,
            log_collection: default_log_ns(),
        }
    }
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig { enabled: true, time: default_time(), timezone: default_tz() }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            keep_days: default_keep_days(),
            keep_min_verified: default_keep_min(),
            keep_daily: 0,
            keep_weekly: default_keep_weekly(),
            keep_monthly: default_keep_monthly(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        // An empty document takes every default.
        match toml::from_str::<Config>("") {
            Ok(c) => c,
            Err(e) => unreachable!("defaults parse: {e}"),
        }
    }
}

/// Values taken from the environment (HR-SM's variable names).
#[derive(Debug, Clone)]
pub struct EnvOverrides {
    pub mongodb_uri: Option<String>,
    pub license_db_uri: Option<String>,
    pub backups_enabled: Option<String>,
    /// `BACKUP_TIMEZONE`: the zone of the schedule's time, as HR-SM's old service read it.
    pub timezone: Option<String>,
    /// The off-site destination HR-SM's cloud variables describe (`BACKUP_CLOUD_*`), or why
    /// they cannot be used.
    pub cloud: std::result::Result<Option<crate::offsite::OffsiteConfig>, String>,
}

impl Default for EnvOverrides {
    fn default() -> Self {
        EnvOverrides { mongodb_uri: None, license_db_uri: None, backups_enabled: None, timezone: None, cloud: Ok(None) }
    }
}

impl EnvOverrides {
    pub fn from_process() -> Self {
        EnvOverrides {
            mongodb_uri: ["MONGODB_URI", "MONGO_URI"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty())),
            license_db_uri: std::env::var("LICENSE_DB_URI").ok().filter(|v| !v.is_empty()),
            backups_enabled: std::env::var("BACKUPS_ENABLED").ok().filter(|v| !v.is_empty()),
            timezone: std::env::var("BACKUP_TIMEZONE").ok().filter(|v| !v.trim().is_empty()),
            cloud: crate::offsite::from_env(|k| std::env::var(k).ok()).map_err(|e| e.to_string()),
        }
    }
}

impl Config {
    /// Parses TOML text; `origin` names the file in messages.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end();
            // `unknown field `secret_access_key``: say where such a thing belongs instead.
            let hint = if ["secret", "password", "access_key", "account_key", "token"].iter().any(|w| message.contains(w)) {
                "; secrets do not belong in config files: keep them in the keychain or the environment (docs/CONFIG.md, Off-site copies)"
            } else {
                ""
            };
            Error::Config(format!("{}: {message}{hint}", origin.display()) + &location(text, e.span()))
        })?;
        if uri_has_password(&cfg.mongodb.uri) || cfg.mongodb.license_uri.as_deref().is_some_and(uri_has_password) {
            return Err(Error::Config(format!(
                "{}: mongodb.uri or mongodb.license_uri contains a password; secrets do not belong in config files: remove it there and set MONGODB_URI in the environment instead",
                origin.display()
            )));
        }
        cfg.validate()?;
        let mut cfg = cfg;
        cfg.explicit = explicit_keys(text);
        Ok(cfg)
    }

    /// True if the config file set `key` (`section.key` or a top-level key).
    pub fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains(key)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read config file", path, e))?;
        let mut cfg = Self::parse(&text, path)?;
        cfg.resolve_relative_to(path.parent().unwrap_or(Path::new(".")));
        Ok(cfg)
    }

    /// Relative paths in a config file are relative to the file's folder.
    fn resolve_relative_to(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.hrsm_root);
        fix(&mut self.destination);
        if let Some(sources) = &mut self.sources {
            for s in sources {
                fix(&mut s.path);
            }
        }
        for d in &mut self.offsite {
            if let Some(p) = &mut d.path {
                fix(p);
            }
        }
    }

    /// The effective file sources: the configured ones, or HR-SM's defaults.
    pub fn file_sources(&self) -> Vec<SourceConfig> {
        match &self.sources {
            Some(s) => s.clone(),
            None => default_sources(&self.hrsm_root),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.compression_level > 9 {
            return Err(Error::Config(format!("compression_level is {}, it must be 0..9", self.compression_level)));
        }
        let mut seen = std::collections::HashSet::new();
        for s in self.file_sources() {
            if s.name.is_empty()
                || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                || s.name.starts_with('.')
                || s.name.len() > 64
            {
                return Err(Error::Config(format!(
                    "source name {:?} is not valid: use up to 64 letters, digits, '.', '_' and '-', not starting with '.'",
                    s.name
                )));
            }
            if !seen.insert(s.name.clone()) {
                return Err(Error::Config(format!("source name {:?} is used twice; names must be unique", s.name)));
            }
            for g in s.include.iter().chain(&s.exclude) {
                globset::Glob::new(g)
                    .map_err(|e| Error::Config(format!("source {:?}: bad glob {g:?}: {e}", s.name)))?;
            }
        }
        parse_hhmm(&self.schedule.time).ok_or_else(|| {
            Error::Config(format!("schedule.time is {:?}, expected HH:MM (00:00..23:59)", self.schedule.time))
        })?;
        if self.schedule.timezone.trim().is_empty() {
            return Err(Error::Config(
                "schedule.timezone is empty; use an IANA name such as UTC or Africa/Cairo".into(),
            ));
        }
        for db in &self.mongodb.databases {
            if db.is_empty() || db.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
                return Err(Error::Config(format!("mongodb.databases: {db:?} is not a valid database name")));
            }
        }
        if !self.mongodb.tenant_databases.is_empty() {
            globset::Glob::new(&self.mongodb.tenant_databases).map_err(|e| {
                Error::Config(format!("mongodb.tenant_databases: bad pattern {:?}: {e}", self.mongodb.tenant_databases))
            })?;
        }
        if self.retention.keep_days == 0 {
            return Err(Error::Config("retention.keep_days must be at least 1".into()));
        }
        crate::offsite::validate_all(&self.offsite)
    }

    /// The off-site destinations in use: the configured ones that are enabled.
    pub fn offsite_destinations(&self) -> Vec<crate::offsite::OffsiteConfig> {
        self.offsite.iter().filter(|d| d.enabled).cloned().collect()
    }

    /// The TOML text of this config (what `save` writes).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Config(format!("cannot write the config: {e}")))
    }

    /// Validates and writes the config atomically (0600).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.validate()?;
        if uri_has_password(&self.mongodb.uri) || self.mongodb.license_uri.as_deref().is_some_and(uri_has_password) {
            return Err(Error::Config(
                "mongodb.uri must not contain a password in the config file; keep it in the keychain or MONGODB_URI"
                    .into(),
            ));
        }
        let mut file = self.clone();
        file.offsite.retain(|d| !d.from_env);
        crate::fsutil::write_atomic(path, file.to_toml()?.as_bytes())
    }

    /// The environment on top of the file. A `BACKUPS_ENABLED` that is neither true nor false
    /// is refused: a typo must not silently switch backups on (or off).
    pub fn apply_env(&mut self, env: &EnvOverrides) -> Result<()> {
        if let Some(uri) = &env.mongodb_uri {
            self.mongodb.uri = uri.clone();
        }
        if let Some(uri) = &env.license_db_uri {
            self.mongodb.license_uri = Some(uri.clone());
        }
        if let Some(tz) = &env.timezone {
            self.schedule.timezone = tz.trim().to_string();
        }
        // HR-SM's cloud variables add a destination unless the file already names one `cloud`.
        match &env.cloud {
            Err(e) => self.offsite_problem = Some(e.clone()),
            Ok(Some(cloud)) if !self.offsite.iter().any(|d| d.name == cloud.name) => self.offsite.push(cloud.clone()),
            Ok(_) => {}
        }
        if let Some(v) = env.backups_enabled.as_deref().filter(|v| !v.trim().is_empty()) {
            self.schedule.enabled = parse_enabled(v).ok_or_else(|| {
                Error::Config(format!(
                    "BACKUPS_ENABLED={v:?} is not understood; set it to true or false (1/0, yes/no and on/off work too), or unset it"
                ))
            })?;
        }
        Ok(())
    }
}

/// The database of HR-SM's main server when its connection string names none.
pub const DEFAULT_MAIN_DB: &str = "hrms";

impl MongoConfig {
    /// The main database: the first listed, else the one `uri` names, else `hrms`.
    pub fn main_database(&self, uri: &str) -> String {
        self.databases
            .first()
            .cloned()
            .or_else(|| crate::uri::database_of_uri(uri))
            .unwrap_or_else(|| DEFAULT_MAIN_DB.into())
    }

    /// Where HR-SM's BackupLog documents go (`<db>.<collection>`), None when switched off.
    pub fn log_namespace(&self, uri: &str) -> Option<String> {
        match self.log_collection.as_str() {
            "" => None,
            ns if ns.contains('.') => Some(ns.to_string()),
            coll => Some(format!("{}.{coll}", self.main_database(uri))),
        }
    }
}

impl SourceConfig {
    /// A whole folder with the default rules (fail on unreadable files, required).
    pub fn folder(name: &str, path: impl Into<PathBuf>) -> Self {
        SourceConfig {
            name: name.into(),
            path: path.into(),
            include: vec![],
            exclude: vec![],
            on_unreadable: OnUnreadable::Fail,
            required: true,
        }
    }
}

/// The keys a TOML text sets, as `key` and `section.key`.
fn explicit_keys(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if let Ok(table) = text.parse::<toml::Table>() {
        for (k, v) in &table {
            out.insert(k.clone());
            if let toml::Value::Table(inner) = v {
                out.extend(inner.keys().map(|i| format!("{k}.{i}")));
            }
        }
    }
    out
}

/// `BACKUPS_ENABLED`: false/0/no/off disable, anything else enables.
pub fn parse_enabled(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "false" | "0" | "no" | "off" => Some(false),
        "true" | "1" | "yes" | "on" => Some(true),
        _ => None,
    }
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

pub fn parse_hhmm(s: &str) -> Option<(u32, u32)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// True if a MongoDB URI carries a password (`scheme://user:pass@host`).
pub fn uri_has_password(uri: &str) -> bool {
    crate::uri::split_uri(uri).and_then(|p| p.password).is_some()
}

/// Folders no backup wants, wherever they are under a source: Node's dependencies (rebuilt by
/// `npm install`), logs, backups (never back up the backups), build output and temp files.
pub const JUNK: &[&str] = &["**/node_modules", "**/logs", "**/backups", "**/build", "**/dist", "**/.cache", "**/*.tmp"];

/// Where HR-SM keeps what must survive a disaster, relative to its install folder (the paths
/// of HR-SM's own source, github.com/Haitham0Reda/HR-SM). The uploads folder is
/// required; the others exist on some sites only. The configuration source names single
/// files and folders by include patterns, so a backup reads them and nothing else of the
/// installation (the walk never enters a folder no pattern can match).
pub fn default_sources(root: &Path) -> Vec<SourceConfig> {
    let src = |name: &str, path: PathBuf, include: &[&str], required: bool| SourceConfig {
        name: name.into(),
        path,
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: JUNK.iter().map(|s| s.to_string()).collect(),
        on_unreadable: OnUnreadable::Fail,
        required,
    };
    vec![
        src("uploads", root.join("uploads"), &[], true),
        src("server-uploads", root.join("server").join("uploads"), &[], false),
        src("task-uploads", root.join("server").join("modules").join("tasks").join("uploads"), &[], false),
        src(
            "config",
            root.to_path_buf(),
            &[
                ".env",
                "ecosystem.config.js",
                "ecosystem.config.cjs",
                "config/**",
                "server/config/*.json",
                "server/config/*.yml",
                "server/config/*.yaml",
                "server/config/.env*",
                "client/.env",
                "client/.env.production",
                "hrsm-license-server/.env",
                "hrsm-license-server/ecosystem.config.cjs",
                "hrsm-license-server/ecosystem.config.js",
            ],
            true,
        ),
        src("license-keys", root.join("hrsm-license-server").join("keys"), &[], false),
        src("keys", root.join("keys"), &[], false),
    ]
}

/// The platform's usual HR-SM folder: PM2's `cwd` on Linux and macOS, a folder at the root of
/// the system drive on Windows.
pub fn platform_hrsm_root() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\HR-SM")
    } else {
        PathBuf::from("/var/www/hr-sm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Config::parse("destination = \"/b\"\ncompresion_level = 3\n", Path::new("x.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("compresion_level"), "{msg}");
        assert!(msg.contains("x.toml") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn unknown_keys_in_sections_are_refused_too() {
        let err = Config::parse("[[sources]]\nname='a'\npath='/x'\nexlude=['*']\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("exlude"), "{err}");
    }

    #[test]
    fn passwords_in_the_config_file_are_refused() {
        let err = Config::parse("[mongodb]\nuri='mongodb://admin:s3cret@db:27017'\n", Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("MONGODB_URI") && !msg.contains("s3cret"), "{msg}");
        assert!(!uri_has_password("mongodb://admin@db/?authSource=admin"));
        assert!(uri_has_password("mongodb+srv://a:b@c"));
    }

    #[test]
    fn env_overrides_uri_and_enabled() {
        let mut c = Config::default();
        c.apply_env(&EnvOverrides {
            mongodb_uri: Some("mongodb://h:1".into()),
            backups_enabled: Some("false".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.mongodb.uri, "mongodb://h:1");
        assert!(!c.schedule.enabled);
    }

    /// Regression: `BACKUPS_ENABLED=flase` used to enable backups silently.
    #[test]
    fn a_typo_in_backups_enabled_is_refused() {
        for typo in ["flase", "ture", "disabled", "2"] {
            let mut c = Config::default();
            let env = EnvOverrides { backups_enabled: Some(typo.into()), ..Default::default() };
            let err = c.apply_env(&env).unwrap_err().to_string();
            assert!(err.contains("BACKUPS_ENABLED") && err.contains("true or false"), "{err}");
        }
        let mut c = Config::default();
        c.apply_env(&EnvOverrides { backups_enabled: Some(" OFF ".into()), ..Default::default() }).unwrap();
        assert!(!c.schedule.enabled);
        c.apply_env(&EnvOverrides { backups_enabled: Some("".into()), ..Default::default() }).unwrap();
        assert!(!c.schedule.enabled, "an empty value leaves the setting as it was");
    }

    #[test]
    fn defaults_match_hrsm() {
        let c = Config::default();
        assert_eq!(c.destination, PathBuf::from("./backups/daily"));
        assert!(c.mongodb.databases.is_empty(), "chosen from the site: main, license, tenants");
        assert_eq!(c.mongodb.tenant_databases, "hrsm_*");
        assert_eq!(c.mongodb.log_collection, "backuplogs");
        assert_eq!(c.schedule.time, "02:00");
        assert_eq!(c.retention.keep_days, 30);
        assert_eq!((c.retention.keep_weekly, c.retention.keep_monthly), (12, 12), "the old service's copies");
        let names: Vec<_> = c.file_sources().into_iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["uploads", "server-uploads", "task-uploads", "config", "license-keys", "keys"]);
        assert_eq!(c.hrsm_root, platform_hrsm_root());
    }

    #[test]
    fn bad_values_are_explained() {
        for (toml, needle) in [
            ("[schedule]\ntime='25:00'", "HH:MM"),
            ("compression_level = 12", "0..9"),
            ("[[sources]]\nname='a b'\npath='/x'", "not valid"),
            ("[[sources]]\nname='a'\npath='/x'\n[[sources]]\nname='a'\npath='/y'", "twice"),
            ("[[sources]]\nname='a'\npath='/x'\nexclude=['[']", "bad glob"),
        ] {
            let msg = Config::parse(toml, Path::new("c.toml")).unwrap_err().to_string();
            assert!(msg.contains(needle), "{toml}: {msg}");
        }
    }
}
