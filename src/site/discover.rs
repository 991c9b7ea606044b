//! What an HR-SM installation says about itself: its MongoDB URIs (main and license), the
//! license server's RSA key paths, the old backup service's key, time zone and on/off switch,
//! read from the files HR-SM's two Node apps read, in the order Node and PM2 apply them.
//!
//! Each app (the main server at the root, the license server in `hrsm-license-server/`) gets
//! its environment from PM2's ecosystem file (`env`, and `env_production` over it when PM2 is
//! started with `--env production`) and from its `.env`, which `dotenv` loads without
//! overriding what is already set: so the ecosystem file wins over `.env`. Every candidate is
//! kept with its file and key, the one the app would use first, so the admin sees where each
//! value came from and what it shadows. An app listed in the root ecosystem file whose name,
//! `cwd` or `script` mentions "license" counts as the license server, below the license
//! server's own ecosystem file.
//!
//! Secrets (URIs, the encryption key) are only ever shown masked (`Setting::shown`; `Debug`
//! and `Serialize` use it too). A file that cannot be read or parsed is a problem that names
//! it and says what to do; discovery goes on with the other files.
//!
//! Depends on `config` (the BACKUPS_ENABLED rule), `uri`, `error` and the other `site` modules.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use super::envfile::read_env_file;
use super::jsconfig::{read_ecosystem, PmApp};
use crate::config::parse_enabled;
use crate::error::Error;
use crate::uri;

/// The license server's folder, relative to the installation root.
pub const LICENSE_SERVER_DIR: &str = "hrsm-license-server";
/// The main database when the URI names none (HR-SM's old backup service's name).
pub const DEFAULT_MAIN_DB: &str = "hrms";
/// The license database when its URI names none.
pub const DEFAULT_LICENSE_DB: &str = "hrsm-licenses";
/// The license server's key pair when JWT_*_KEY_PATH are not set (relative to its folder).
pub const DEFAULT_PRIVATE_KEY: &str = "keys/private.pem";
pub const DEFAULT_PUBLIC_KEY: &str = "keys/public.pem";

/// The settings discovery looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingId {
    MongodbUri,
    LicenseUri,
    JwtPrivateKeyPath,
    JwtPublicKeyPath,
    EncryptionKey,
    Timezone,
    BackupsEnabled,
}

impl SettingId {
    pub const ALL: [SettingId; 7] = [
        SettingId::MongodbUri,
        SettingId::LicenseUri,
        SettingId::JwtPrivateKeyPath,
        SettingId::JwtPublicKeyPath,
        SettingId::EncryptionKey,
        SettingId::Timezone,
        SettingId::BackupsEnabled,
    ];

    /// The name in JSON output (`mongodb_uri`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SettingId::MongodbUri => "mongodb_uri",
            SettingId::LicenseUri => "license_uri",
            SettingId::JwtPrivateKeyPath => "jwt_private_key_path",
            SettingId::JwtPublicKeyPath => "jwt_public_key_path",
            SettingId::EncryptionKey => "encryption_key",
            SettingId::Timezone => "timezone",
            SettingId::BackupsEnabled => "backups_enabled",
        }
    }

    /// What it is, for people.
    pub fn label(self) -> &'static str {
        match self {
            SettingId::MongodbUri => "main MongoDB URI",
            SettingId::LicenseUri => "license database URI",
            SettingId::JwtPrivateKeyPath => "license private key",
            SettingId::JwtPublicKeyPath => "license public key",
            SettingId::EncryptionKey => "old backups' key",
            SettingId::Timezone => "backup time zone",
            SettingId::BackupsEnabled => "backups enabled",
        }
    }

    /// The variables read, in order, and where.
    pub fn variables(self) -> &'static str {
        match self {
            SettingId::MongodbUri => "MONGODB_URI, else MONGO_URI (ecosystem.config.js, .env)",
            SettingId::LicenseUri => {
                "the license server's MONGODB_URI (hrsm-license-server/ecosystem.config.cjs, its .env), else LICENSE_DB_URI"
            }
            SettingId::JwtPrivateKeyPath => "JWT_PRIVATE_KEY_PATH (the license server's files)",
            SettingId::JwtPublicKeyPath => "JWT_PUBLIC_KEY_PATH (the license server's files)",
            SettingId::EncryptionKey => "BACKUP_ENCRYPTION_KEY (ecosystem.config.js, .env)",
            SettingId::Timezone => "BACKUP_TIMEZONE (ecosystem.config.js, .env)",
            SettingId::BackupsEnabled => "BACKUPS_ENABLED (ecosystem.config.js, .env)",
        }
    }

    /// What applies when the site's files do not set it, and how to set it.
    pub fn if_missing(self) -> &'static str {
        match self {
            SettingId::MongodbUri => {
                "set MONGODB_URI in hrsm-backup's environment, or mongodb.uri in its config file (without the password)"
            }
            SettingId::LicenseUri => {
                "the license database is looked for as hrsm-licenses on the main server; if it is elsewhere, set LICENSE_DB_URI in hrsm-backup's environment or name it in its config file"
            }
            SettingId::JwtPrivateKeyPath => "the license server's default, hrsm-license-server/keys/private.pem, applies",
            SettingId::JwtPublicKeyPath => "the license server's default, hrsm-license-server/keys/public.pem, applies",
            SettingId::EncryptionKey => {
                "hrsm-backup uses its own master key (OS keychain, --key-file, or BACKUP_ENCRYPTION_KEY in its environment)"
            }
            SettingId::Timezone => "set schedule.timezone in hrsm-backup's config file (default UTC)",
            SettingId::BackupsEnabled => "backups are on; BACKUPS_ENABLED=false in hrsm-backup's environment pauses them",
        }
    }

    /// URIs (which may carry a password) and keys are secret: shown masked only.
    pub fn is_secret(self) -> bool {
        matches!(self, SettingId::MongodbUri | SettingId::LicenseUri | SettingId::EncryptionKey)
    }
}

/// One value found in one file. `value` is the raw text (it may be a password-bearing URI or
/// a key): show `shown()`, never `value`. `Debug` and `Serialize` give the masked form.
#[derive(Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    /// The file it was read from.
    pub from: PathBuf,
    /// The variable, with the PM2 block it sits in (`apps[hrsm-backend].env.MONGODB_URI`).
    pub key: String,
    pub secret: bool,
}

impl Setting {
    /// The value as it may be shown: a URI with its password replaced by `***`, a key as
    /// "set (64 hex characters)" and never any of its characters; other values as they are.
    pub fn shown(&self) -> String {
        if !self.secret {
            self.value.clone()
        } else if self.value.contains("://") {
            mask_uri(&self.value)
        } else {
            describe_key(&self.value)
        }
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("shown", &self.shown())
            .field("from", &self.from)
            .field("key", &self.key)
            .field("secret", &self.secret)
            .finish()
    }
}

impl Serialize for Setting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Setting", 4)?;
        st.serialize_field("shown", &self.shown())?;
        st.serialize_field("from", &self.from)?;
        st.serialize_field("key", &self.key)?;
        st.serialize_field("secret", &self.secret)?;
        st.end()
    }
}

/// A URI for display: `uri::redact_uri`, and, when that finds no password but a `user:...@`
/// part is there (a password with an unescaped `?` ends the parse early), everything between
/// `://` and the last `@` but the user masked all the same.
pub fn mask_uri(value: &str) -> String {
    let shown = uri::redact_uri(value);
    if shown == value {
        if let Some((scheme, after)) = value.split_once("://") {
            if let Some(at) = after.rfind('@') {
                let info = &after[..at];
                if let Some((user, _)) = info.split_once(':') {
                    return format!("{scheme}://{user}:***@{}", &after[at + 1..]);
                }
            }
        }
    }
    shown
}

/// A key described without any of its characters.
fn describe_key(value: &str) -> String {
    use base64::Engine;
    let v = value.trim();
    if v.is_empty() {
        "empty".into()
    } else if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        "set (64 hex characters)".into()
    } else if base64::engine::general_purpose::STANDARD.decode(v).is_ok_and(|b| b.len() == 32) {
        "set (base64 of 32 bytes)".into()
    } else {
        format!("set ({} characters, not a 64-hex key)", v.chars().count())
    }
}

/// Every candidate of one setting, the one the app would use first.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub id: SettingId,
    pub candidates: Vec<Setting>,
}

/// A database to back up, as discovered.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveredDatabase {
    /// `main` or `license`.
    pub role: &'static str,
    pub name: String,
    /// False when the URI names no database and the default name is assumed.
    pub named_in_uri: bool,
    /// The URI (its server); serialized masked.
    pub uri: Setting,
}

/// What `discover` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Discovery {
    pub root: PathBuf,
    /// `<root>/hrsm-license-server`.
    pub license_server: PathBuf,
    /// One entry per `SettingId::ALL`, in that order.
    pub settings: Vec<Found>,
    /// Files that could not be read or parsed, values that do not make sense: each names the
    /// file and says what to do. Never a value of a secret.
    pub problems: Vec<String>,
    pub files_read: Vec<PathBuf>,
    /// Files looked for that are not there.
    pub files_absent: Vec<PathBuf>,
}

impl Discovery {
    /// The value the app would use.
    pub fn get(&self, id: SettingId) -> Option<&Setting> {
        self.candidates(id).first()
    }

    /// Every value found, the one used first.
    pub fn candidates(&self, id: SettingId) -> &[Setting] {
        self.settings.iter().find(|f| f.id == id).map_or(&[], |f| &f.candidates)
    }

    /// Settings no file sets.
    pub fn missing(&self) -> Vec<SettingId> {
        SettingId::ALL.into_iter().filter(|id| self.get(*id).is_none()).collect()
    }

    /// The main database: named in the main URI, `hrms` when it names none.
    pub fn main_database(&self) -> Option<DiscoveredDatabase> {
        self.database("main", SettingId::MongodbUri, DEFAULT_MAIN_DB)
    }

    /// The license database: named in the license URI, `hrsm-licenses` when it names none.
    pub fn license_database(&self) -> Option<DiscoveredDatabase> {
        self.database("license", SettingId::LicenseUri, DEFAULT_LICENSE_DB)
    }

    fn database(&self, role: &'static str, id: SettingId, default: &str) -> Option<DiscoveredDatabase> {
        let s = self.get(id)?;
        let named = uri::database_of_uri(&s.value);
        Some(DiscoveredDatabase {
            role,
            named_in_uri: named.is_some(),
            name: named.unwrap_or_else(|| default.to_string()),
            uri: s.clone(),
        })
    }

    /// The license server's private key file: JWT_PRIVATE_KEY_PATH resolved against the
    /// license server's folder, or its default.
    pub fn jwt_private_key(&self) -> PathBuf {
        self.key_path(SettingId::JwtPrivateKeyPath, DEFAULT_PRIVATE_KEY)
    }

    /// The license server's public key file (JWT_PUBLIC_KEY_PATH, or its default).
    pub fn jwt_public_key(&self) -> PathBuf {
        self.key_path(SettingId::JwtPublicKeyPath, DEFAULT_PUBLIC_KEY)
    }

    fn key_path(&self, id: SettingId, default: &str) -> PathBuf {
        let rel = self.get(id).map_or(default, |s| s.value.as_str());
        let p = Path::new(rel);
        let joined = if p.is_absolute() { p.to_path_buf() } else { self.license_server.join(p) };
        // `./keys/x` reads as `keys/x`.
        joined.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
    }
}

/// One app's settings from one file, highest precedence first.
struct Source {
    file: PathBuf,
    /// (shown key, variable, value), first wins.
    entries: Vec<(String, String, String)>,
}

impl Source {
    fn from_env(file: &Path, pairs: Vec<(String, String)>) -> Self {
        // dotenv takes the last of a key given twice.
        let entries = pairs.into_iter().rev().map(|(k, v)| (k.clone(), k, v)).collect();
        Source { file: file.to_path_buf(), entries }
    }

    fn from_app(file: &Path, index: usize, app: &PmApp) -> Self {
        let name = app.name.clone().unwrap_or_else(|| index.to_string());
        let entries = app
            .values()
            .map(|(block, k, v)| (format!("apps[{name}].{block}.{k}"), k.to_string(), v.to_string()))
            .collect();
        Source { file: file.to_path_buf(), entries }
    }
}

/// Every non-empty value of `var` in `sources`, in order.
fn candidates(sources: &[Source], var: &str, secret: bool) -> Vec<Setting> {
    sources
        .iter()
        .filter_map(|s| {
            let (key, _, value) = s.entries.iter().find(|(_, v, _)| v == var)?;
            (!value.trim().is_empty()).then(|| Setting {
                value: value.clone(),
                from: s.file.clone(),
                key: key.clone(),
                secret,
            })
        })
        .collect()
}

/// Variables that matter to discovery, per app, for the "this value is code" problem.
const MAIN_VARS: &[&str] =
    &["MONGODB_URI", "MONGO_URI", "LICENSE_DB_URI", "BACKUP_ENCRYPTION_KEY", "BACKUP_TIMEZONE", "BACKUPS_ENABLED"];
const LICENSE_VARS: &[&str] =
    &["MONGODB_URI", "MONGO_URI", "LICENSE_DB_URI", "JWT_PRIVATE_KEY_PATH", "JWT_PUBLIC_KEY_PATH"];

/// Reads the site at `root`. Never fails: what cannot be read is in `problems`.
pub fn discover(root: &Path) -> Discovery {
    let mut d =
        Discovery { root: root.to_path_buf(), license_server: root.join(LICENSE_SERVER_DIR), ..Default::default() };
    if !root.is_dir() {
        d.problems.push(format!(
            "{}: does not exist or is not a folder; give the HR-SM installation folder (where .env and ecosystem.config.js are)",
            root.display()
        ));
        d.settings = SettingId::ALL.into_iter().map(|id| Found { id, candidates: vec![] }).collect();
        return d;
    }
    let lic = d.license_server.clone();
    let mut main = Vec::new();
    let mut license = Vec::new();
    let mut root_license_apps = Vec::new();
    for name in ["ecosystem.config.js", "ecosystem.config.cjs"] {
        for (file, i, app) in d.read_pm(&root.join(name)) {
            let is_license = [&app.name, &app.cwd, &app.script]
                .iter()
                .any(|s| s.as_deref().is_some_and(|s| s.to_ascii_lowercase().contains("license")));
            let vars = if is_license { LICENSE_VARS } else { MAIN_VARS };
            d.code_problem(&file, &app, vars);
            let src = Source::from_app(&file, i, &app);
            if is_license {
                root_license_apps.push(src);
            } else {
                main.push(src);
            }
        }
    }
    if let Some(src) = d.read_env(&root.join(".env")) {
        main.push(src);
    }
    for name in ["ecosystem.config.cjs", "ecosystem.config.js"] {
        for (file, i, app) in d.read_pm(&lic.join(name)) {
            d.code_problem(&file, &app, LICENSE_VARS);
            license.push(Source::from_app(&file, i, &app));
        }
    }
    license.extend(root_license_apps);
    if let Some(src) = d.read_env(&lic.join(".env")) {
        license.push(src);
    }

    let mut license_uri = candidates(&license, "MONGODB_URI", true);
    license_uri.extend(candidates(&license, "MONGO_URI", true));
    license_uri.extend(candidates(&main, "LICENSE_DB_URI", true));
    license_uri.extend(candidates(&license, "LICENSE_DB_URI", true));
    let mut main_uri = candidates(&main, "MONGODB_URI", true);
    main_uri.extend(candidates(&main, "MONGO_URI", true));
    let list = [
        (SettingId::MongodbUri, main_uri),
        (SettingId::LicenseUri, license_uri),
        (SettingId::JwtPrivateKeyPath, candidates(&license, "JWT_PRIVATE_KEY_PATH", false)),
        (SettingId::JwtPublicKeyPath, candidates(&license, "JWT_PUBLIC_KEY_PATH", false)),
        (SettingId::EncryptionKey, candidates(&main, "BACKUP_ENCRYPTION_KEY", true)),
        (SettingId::Timezone, candidates(&main, "BACKUP_TIMEZONE", false)),
        (SettingId::BackupsEnabled, candidates(&main, "BACKUPS_ENABLED", false)),
    ];
    d.settings = list.into_iter().map(|(id, candidates)| Found { id, candidates }).collect();
    d.check_values();
    d
}

impl Discovery {
    fn read_env(&mut self, file: &Path) -> Option<Source> {
        if !exists(file) {
            self.files_absent.push(file.to_path_buf());
            return None;
        }
        match read_env_file(file) {
            Ok(pairs) => {
                self.files_read.push(file.to_path_buf());
                Some(Source::from_env(file, pairs))
            }
            Err(e) => {
                self.problems.push(problem(&e, "fix it, or set the settings it holds in hrsm-backup's config"));
                None
            }
        }
    }

    fn read_pm(&mut self, file: &Path) -> Vec<(PathBuf, usize, PmApp)> {
        if !exists(file) {
            self.files_absent.push(file.to_path_buf());
            return vec![];
        }
        match read_ecosystem(file) {
            Ok(c) => {
                self.files_read.push(file.to_path_buf());
                self.problems.extend(c.partial);
                c.apps.into_iter().enumerate().map(|(i, a)| (file.to_path_buf(), i, a)).collect()
            }
            Err(e) => {
                self.problems.push(problem(&e, "set the settings it holds in hrsm-backup's config"));
                vec![]
            }
        }
    }

    /// A variable we need whose value in PM2's file is code: PM2's value is unknown, and it
    /// would win over `.env`'s.
    fn code_problem(&mut self, file: &Path, app: &PmApp, vars: &[&str]) {
        for k in app.code_keys.iter().filter(|k| vars.contains(&k.as_str())) {
            self.problems.push(format!(
                "{}: {k} is set by code there, so the value PM2 gives the app is unknown (it wins over .env's); set it in hrsm-backup's environment or config",
                file.display()
            ));
        }
    }

    /// Problems with the values used (never showing a secret one).
    fn check_values(&mut self) {
        let mut out = Vec::new();
        for id in [SettingId::MongodbUri, SettingId::LicenseUri] {
            if let Some(s) = self.get(id) {
                if !(s.value.starts_with("mongodb://") || s.value.starts_with("mongodb+srv://")) {
                    out.push(format!(
                        "{}: {} is not a MongoDB connection string (mongodb:// or mongodb+srv://)",
                        s.from.display(),
                        s.key
                    ));
                }
            }
        }
        if let Some(s) = self.get(SettingId::EncryptionKey) {
            let v = s.value.trim();
            if !(v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
                out.push(format!(
                    "{}: {} is not 64 hex characters, the form HR-SM's backup service uses",
                    s.from.display(),
                    s.key
                ));
            }
        }
        if let Some(s) = self.get(SettingId::Timezone) {
            if s.value.trim().parse::<chrono_tz::Tz>().is_err() {
                out.push(format!(
                    "{}: {}={:?} is not an IANA time zone name (such as Africa/Cairo); set schedule.timezone in hrsm-backup's config",
                    s.from.display(),
                    s.key,
                    s.value
                ));
            }
        }
        if let Some(s) = self.get(SettingId::BackupsEnabled) {
            if parse_enabled(&s.value).is_none() {
                out.push(format!(
                    "{}: {}={:?} is neither true nor false (1/0, yes/no, on/off); hrsm-backup would refuse it",
                    s.from.display(),
                    s.key,
                    s.value
                ));
            }
        }
        if self.license_server.is_dir() {
            for (id, path) in [
                (SettingId::JwtPrivateKeyPath, self.jwt_private_key()),
                (SettingId::JwtPublicKeyPath, self.jwt_public_key()),
            ] {
                if !exists(&path) {
                    let named = match self.get(id) {
                        Some(s) => format!(" ({} in {})", s.key, s.from.display()),
                        None => " (the license server's default)".into(),
                    };
                    out.push(format!("{}{named}: the license server's key file is not there", path.display()));
                }
            }
        }
        self.problems.extend(out);
    }
}

/// True if something is at `path` (a file we may not be able to read still exists).
fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

fn problem(e: &Error, what_to_do: &str) -> String {
    let text = match e {
        Error::Config(m) => m.clone(),
        other => other.to_string(),
    };
    format!("{text}; {what_to_do}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn site() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            ".env",
            &format!("MONGODB_URI=mongodb://hrsm:envpw@db:27017/hrsm_platform\nMONGO_URI=mongodb://old/x\nBACKUP_ENCRYPTION_KEY={KEY}\nBACKUP_TIMEZONE=Africa/Cairo\nBACKUPS_ENABLED=false\n"),
        );
        write(
            r,
            "ecosystem.config.js",
            "module.exports = { apps: [ { name: 'hrsm-backend', env: { MONGODB_URI: 'mongodb://hrsm:pm2pw@db:27017/hrsm_platform', BACKUPS_ENABLED: true } } ] };\n",
        );
        write(
            r,
            "hrsm-license-server/.env",
            "MONGODB_URI=mongodb://lic:licpw@db:27017/hrsm_license_db\nJWT_PRIVATE_KEY_PATH=./keys/private.pem\n",
        );
        write(
            r,
            "hrsm-license-server/ecosystem.config.cjs",
            "module.exports = { apps: [{ name: 'hrsm-license-server', env: { PORT: 5001 } }] };\n",
        );
        write(r, "hrsm-license-server/keys/private.pem", "x");
        write(r, "hrsm-license-server/keys/public.pem", "x");
        t
    }

    #[test]
    fn pm2_env_wins_over_dotenv_and_every_candidate_is_kept() {
        let t = site();
        let r = t.path();
        let d = discover(r);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let uri = d.candidates(SettingId::MongodbUri);
        assert_eq!(uri.len(), 3);
        assert_eq!(uri[0].from, r.join("ecosystem.config.js"));
        assert_eq!(uri[0].key, "apps[hrsm-backend].env.MONGODB_URI");
        assert_eq!(uri[0].shown(), "mongodb://hrsm:***@db:27017/hrsm_platform");
        assert_eq!((uri[1].from.clone(), uri[1].key.as_str()), (r.join(".env"), "MONGODB_URI"));
        assert_eq!(uri[2].key, "MONGO_URI");
        assert_eq!(d.get(SettingId::BackupsEnabled).unwrap().value, "true");
        assert_eq!(d.candidates(SettingId::BackupsEnabled)[1].value, "false");
        let key = d.get(SettingId::EncryptionKey).unwrap();
        assert_eq!(key.shown(), "set (64 hex characters)");
        assert!(!format!("{key:?}").contains(&KEY[..16]));
        assert!(!serde_json::to_string(&d).unwrap().contains("pm2pw"));
        let main = d.main_database().unwrap();
        assert_eq!((main.name.as_str(), main.named_in_uri), ("hrsm_platform", true));
        let lic = d.license_database().unwrap();
        assert_eq!(lic.name, "hrsm_license_db");
        assert_eq!(lic.uri.from, r.join("hrsm-license-server/.env"));
        assert_eq!(d.jwt_private_key(), r.join("hrsm-license-server/keys/private.pem"));
        assert_eq!(d.jwt_public_key(), r.join("hrsm-license-server/keys/public.pem"));
        assert!(d.missing().contains(&SettingId::JwtPublicKeyPath));
        assert_eq!(d.files_read.len(), 4);
    }

    #[test]
    fn defaults_for_databases_the_uri_does_not_name() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            ".env",
            "MONGO_URI=mongodb+srv://u:p@cluster0.example.net/?retryWrites=true\nLICENSE_DB_URI=mongodb://h:1\n",
        );
        let d = discover(t.path());
        assert_eq!(d.main_database().unwrap().name, "hrms");
        assert!(!d.main_database().unwrap().named_in_uri);
        assert_eq!(d.license_database().unwrap().name, "hrsm-licenses");
        assert_eq!(d.get(SettingId::LicenseUri).unwrap().key, "LICENSE_DB_URI");
        assert_eq!(d.files_absent.len(), 5);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
    }

    #[test]
    fn a_broken_file_is_a_problem_and_the_others_still_count() {
        let t = site();
        let r = t.path();
        write(r, "ecosystem.config.js", "module.exports = require('./pm2-base')(process.env);\n");
        write(r, "hrsm-license-server/.env", "MONGODB_URI=mongodb://lic:licpw@db/x y z\n");
        let d = discover(r);
        assert_eq!(d.get(SettingId::MongodbUri).unwrap().from, r.join(".env"));
        assert_eq!(d.problems.len(), 2, "{:?}", d.problems);
        assert!(d.problems[0].contains("ecosystem.config.js") && d.problems[0].contains("config"), "{:?}", d.problems);
        assert!(d.problems[1].contains("hrsm-license-server/.env: line 1"), "{:?}", d.problems);
        assert!(!d.problems.join(" ").contains("licpw"));
        assert_eq!(d.get(SettingId::LicenseUri), None);
    }

    #[test]
    fn a_license_app_in_the_root_file_and_code_values_are_reported() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "ecosystem.config.js",
            "module.exports = { apps: [\n { name: 'hrsm', env: { MONGODB_URI: process.env.DB, BACKUP_TIMEZONE: 'Mars/Olympus' } },\n { name: 'hrsm-license-server', cwd: './hrsm-license-server', env: { MONGODB_URI: 'mongodb://l/lic' } },\n] };\n",
        );
        let d = discover(t.path());
        assert_eq!(d.license_database().unwrap().name, "lic");
        assert_eq!(d.get(SettingId::LicenseUri).unwrap().key, "apps[hrsm-license-server].env.MONGODB_URI");
        assert_eq!(d.get(SettingId::MongodbUri), None);
        let all = d.problems.join("\n");
        assert!(all.contains("MONGODB_URI is set by code"), "{all}");
        assert!(all.contains("Mars/Olympus") && all.contains("IANA"), "{all}");
    }

    #[test]
    fn masks_never_show_a_secret() {
        let s = |v: &str| Setting { value: v.into(), from: PathBuf::new(), key: "K".into(), secret: true };
        assert_eq!(s("mongodb://u:p%40ss@h/db").shown(), "mongodb://u:***@h/db");
        assert_eq!(s("mongodb://u:pa?ss@h/db").shown(), "mongodb://u:***@h/db");
        assert_eq!(s("mongodb://h:1/db").shown(), "mongodb://h:1/db");
        assert_eq!(s("not a uri").shown(), "set (9 characters, not a 64-hex key)");
        assert_eq!(s("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").shown(), "set (base64 of 32 bytes)");
        assert_eq!(s("").shown(), "empty");
        let plain = Setting { secret: false, ..s("Africa/Cairo") };
        assert_eq!(plain.shown(), "Africa/Cairo");
    }

    #[test]
    fn a_missing_root_is_a_problem() {
        let d = discover(Path::new("/nonexistent/hr-sm"));
        assert!(d.problems[0].contains("/nonexistent/hr-sm: does not exist"));
        assert_eq!(d.missing().len(), 7);
    }
}
