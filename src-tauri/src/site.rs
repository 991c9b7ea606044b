//! The HR-SM installation as the admin confirms it: "Look" shows what the site's own files
//! say (the engine's discovery, secrets masked, in plain words), "Use these settings" saves the
//! folder and the non-secret parts to the config and any password to the keychain. Discovery
//! runs again on "Use", so a secret never crosses to the page and back.
//!
//! Depends on the engine (discovery, config, keychain) and `commands`/`state`.

use std::path::{Path, PathBuf};

use hrsm_backup::{discover, Config, Discovery, Keychain, SettingId};
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};

use crate::commands::{blocking, settings_of, CmdResult, CommandError, SettingsDto};
use crate::state::AppState;

/// One line of what was found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FoundDto {
    pub label: String,
    /// The value as it may be shown (passwords and keys masked).
    pub shown: String,
    /// Which file of the installation said so.
    pub from: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SiteDto {
    pub root: String,
    pub found: Vec<FoundDto>,
    /// Plain sentences: what was not found and what happens then.
    pub missing: Vec<String>,
    /// Files that could not be read.
    pub problems: Vec<String>,
    /// What a backup of this site takes.
    pub databases: Vec<String>,
    pub folders: Vec<String>,
}

fn label(id: SettingId) -> &'static str {
    match id {
        SettingId::MongodbUri => "Main database",
        SettingId::LicenseUri => "License database",
        SettingId::JwtPrivateKeyPath => "License signing key",
        SettingId::JwtPublicKeyPath => "License public key",
        SettingId::EncryptionKey => "Key of the old backups",
        SettingId::Timezone => "Time zone",
        SettingId::BackupsEnabled => "Old backup service switched on",
    }
}

fn if_missing(id: SettingId) -> Option<&'static str> {
    match id {
        SettingId::MongodbUri => Some("The main database's address was not found: type it under Settings → MongoDB."),
        SettingId::LicenseUri => {
            Some("No license database address was found: the license database is looked for on the main server.")
        }
        SettingId::Timezone => Some("No time zone was found: backups run at the time set here, in its time zone."),
        _ => None,
    }
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The folder as the admin typed it, or a sentence saying why it cannot be used.
fn installation(root: &str) -> CmdResult<PathBuf> {
    let root = PathBuf::from(root.trim());
    if root.as_os_str().is_empty() {
        return Err(CommandError::new("usage", "Choose the folder HR-SM is installed in."));
    }
    if !root.is_dir() {
        return Err(CommandError::new(
            "usage",
            format!("{} is not a folder on this computer: choose the folder HR-SM is installed in.", root.display()),
        ));
    }
    Ok(root)
}

fn describe(root: &Path, d: &Discovery) -> SiteDto {
    let found = SettingId::ALL
        .into_iter()
        .filter_map(|id| {
            d.get(id).map(|s| FoundDto { label: label(id).into(), shown: s.shown(), from: relative(root, &s.from) })
        })
        .collect();
    let missing = d.missing().into_iter().filter_map(if_missing).map(String::from).collect();
    let databases = [d.main_database(), d.license_database()]
        .into_iter()
        .flatten()
        .map(|db| format!("{} ({}) on {}", db.name, db.role, hrsm_backup::mask_uri(&db.uri.value)))
        .collect();
    let cfg = Config { hrsm_root: root.to_path_buf(), ..Config::default() };
    let folders = cfg.file_sources().into_iter().map(|s| format!("{}: {}", s.name, s.path.display())).collect();
    SiteDto { root: root.display().to_string(), found, missing, problems: d.problems.clone(), databases, folders }
}

#[tauri::command]
pub async fn discover_site(root: String) -> CmdResult<SiteDto> {
    blocking(move || {
        let root = installation(&root)?;
        Ok(describe(&root, &discover(&root)))
    })
    .await
}

#[tauri::command]
pub async fn use_site<R: Runtime>(app: AppHandle<R>, root: String) -> CmdResult<SettingsDto> {
    blocking(move || {
        let state = app.state::<AppState>();
        let root = installation(&root)?;
        let d = discover(&root);
        // Choosing a real installation ends the sample data; the admin's own settings (not
        // the demo's) are what the site's settings go into.
        if state.is_demo() {
            state.leave_demo().map_err(|m| CommandError::new("config", m))?;
        }
        let mut cfg = if state.config_path.exists() { Config::load(&state.config_path)? } else { Config::default() };
        use_discovery(&mut cfg, &root, &d)?;
        cfg.save(&state.config_path)?;
        let mut effective = cfg.clone();
        crate::state::apply_env(&mut effective); // as at start
        if let Ok(mut c) = state.config.lock() {
            *c = effective;
        }
        crate::tray::refresh(&app);
        Ok(settings_of(&state))
    })
    .await
}

/// The site's settings into `cfg` (its folder, its default sources, its servers without their
/// passwords, its time zone) and the passwords into the keychain.
fn use_discovery(cfg: &mut Config, root: &Path, d: &Discovery) -> CmdResult<()> {
    use hrsm_backup::mongo::client::{split_uri, without_password};
    cfg.hrsm_root = root.to_path_buf();
    cfg.sources = None; // the site's own folders (docs/CONFIG.md, default sources)
    let keep = |entry: Keychain, uri: &str| -> CmdResult<()> {
        if split_uri(uri).and_then(|p| p.password).is_some() {
            entry.set_text(uri)?;
        } else {
            let _ = entry.delete();
        }
        Ok(())
    };
    if let Some(main) = d.get(SettingId::MongodbUri) {
        keep(Keychain::mongodb_uri(), &main.value)?;
        cfg.mongodb.uri = without_password(&main.value);
        cfg.mongodb.databases.clear(); // chosen from the site: main, license, companies
    }
    if let Some(license) = d.get(SettingId::LicenseUri) {
        keep(Keychain::license_uri(), &license.value)?;
        cfg.mongodb.license_uri = Some(without_password(&license.value));
    }
    if let Some(tz) = d.get(SettingId::Timezone) {
        if hrsm_backup::Schedule::daily(&cfg.schedule.time, &tz.value).is_ok() {
            cfg.schedule.timezone = tz.value.clone();
        }
    }
    Ok(())
}
