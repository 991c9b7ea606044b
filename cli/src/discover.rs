//! `hrsm-backup discover [ROOT]`: what an HR-SM installation's own files say (MongoDB URIs,
//! the license server's keys, the old backup service's settings), where each value came from,
//! the databases and file sources a backup of it takes. Secrets are shown masked only, in
//! text and JSON alike; a setting that is missing is explained, not an error.

use std::path::{Path, PathBuf};

use hrsm_backup::{discover, Config, Discovery, Error, Result, Setting, SettingId, SourceConfig};
use serde_json::{json, Value};

use crate::commands::load_config;
use crate::output::print_json;
use crate::Cli;

/// Variables of hrsm-backup's own environment that win over discovered values.
const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("MONGODB_URI", "the main MongoDB URI"),
    ("MONGO_URI", "the main MongoDB URI (when MONGODB_URI is not set)"),
    ("LICENSE_DB_URI", "the license database URI"),
    ("BACKUP_ENCRYPTION_KEY", "the key (hrsm-backup's own master key)"),
    ("BACKUPS_ENABLED", "whether backups run"),
    ("BACKUP_TIMEZONE", "the schedule's time zone"),
];

pub fn run(cli: &Cli, root: Option<&Path>) -> Result<()> {
    let cfg = load_config(cli)?;
    let root = root.map(Path::to_path_buf).unwrap_or_else(|| cfg.hrsm_root.clone());
    let root = std::path::absolute(&root).unwrap_or(root);
    if !root.is_dir() {
        return Err(Error::Usage(format!(
            "{} does not exist or is not a folder; give the HR-SM installation folder (where .env and ecosystem.config.js are), e.g. hrsm-backup discover /var/www/hr-sm",
            root.display()
        )));
    }
    let d = discover(&root);
    let sources = Config { hrsm_root: root.clone(), ..cfg.clone() }.file_sources();
    let overrides = overrides(&cfg);
    if cli.json {
        print_json(&to_json(&d, &sources, &overrides));
    } else {
        print_text(&d, &sources, &overrides);
    }
    Ok(())
}

/// What wins over discovered values here: hrsm-backup's environment, its config file.
fn overrides(cfg: &Config) -> Vec<String> {
    let mut out: Vec<String> = ENV_OVERRIDES
        .iter()
        .filter(|(var, _)| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
        .map(|(var, what)| format!("{var} is set in hrsm-backup's environment: it decides {what}"))
        .collect();
    let env_uri = ["MONGODB_URI", "MONGO_URI"].iter().any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    if !env_uri && cfg.mongodb.uri != hrsm_backup::Config::default().mongodb.uri {
        out.push(format!(
            "the config file's mongodb.uri ({}) decides the main MongoDB server",
            hrsm_backup::mask_uri(&cfg.mongodb.uri)
        ));
    }
    if cfg.sources.is_some() {
        out.push("the config file lists its own [[sources]]: they are backed up, not the defaults".into());
    }
    out
}

/// A path under the root shown relative to it.
fn rel(d: &Discovery, p: &Path) -> String {
    p.strip_prefix(&d.root).map_or_else(|_| p.display().to_string(), |r| r.display().to_string())
}

fn key_path(d: &Discovery, id: SettingId) -> PathBuf {
    if id == SettingId::JwtPrivateKeyPath {
        d.jwt_private_key()
    } else {
        d.jwt_public_key()
    }
}

fn is_key_path(id: SettingId) -> bool {
    matches!(id, SettingId::JwtPrivateKeyPath | SettingId::JwtPublicKeyPath)
}

fn print_text(d: &Discovery, sources: &[SourceConfig], overrides: &[String]) {
    println!("HR-SM site {}", d.root.display());
    let list = |files: &[PathBuf]| files.iter().map(|f| rel(d, f)).collect::<Vec<_>>().join(", ");
    println!("read: {}", if d.files_read.is_empty() { "no settings file".into() } else { list(&d.files_read) });
    if !d.files_absent.is_empty() {
        println!("not there: {}", list(&d.files_absent));
    }
    println!("\nsettings (the first source of each is the one HR-SM uses; PM2's env wins over .env):");
    let from = |s: &Setting| format!("{} {}", rel(d, &s.from), s.key);
    for id in SettingId::ALL {
        let candidates = d.candidates(id);
        let value = match (candidates.first(), is_key_path(id)) {
            (_, true) => rel(d, &key_path(d, id)),
            (Some(s), false) => s.shown(),
            (None, false) => "not found".into(),
        };
        println!("  {:<22} {value}", id.label());
        match candidates.split_first() {
            Some((used, rest)) => {
                let raw = if is_key_path(id) { format!(" = {}", used.shown()) } else { String::new() };
                println!("  {:<22}   from {}{raw}", "", from(used));
                for other in rest {
                    println!("  {:<22}   also {} ({}; not used)", "", from(other), other.shown());
                }
            }
            None => println!("  {:<22}   {}", "", id.if_missing()),
        }
    }

    println!("\ndatabases to back up:");
    for (role, db) in [("main", d.main_database()), ("license", d.license_database())] {
        match db {
            Some(db) => println!(
                "  {:<20} {role}{}, on {} (from {})",
                db.name,
                if db.named_in_uri { "" } else { ", the default name (the URI names no database)" },
                db.uri.shown(),
                from(&db.uri)
            ),
            None => println!(
                "  {role}: no URI found; {}",
                if role == "main" { SettingId::MongodbUri.if_missing() } else { SettingId::LicenseUri.if_missing() }
            ),
        }
    }

    println!("\nfile sources (hrsm_root = {}):", d.root.display());
    for s in sources {
        let req = if s.required { "required" } else { "optional" };
        println!("  {:<16} {} ({req})", s.name, s.path.display());
        if !s.include.is_empty() {
            println!("  {:<16}   include: {}", "", s.include.join(", "));
        }
        if !s.exclude.is_empty() {
            println!("  {:<16}   exclude: {}", "", s.exclude.join(", "));
        }
    }
    if !overrides.is_empty() {
        println!("\noverrides (explicit config > environment > discovered):");
        for o in overrides {
            println!("  {o}");
        }
    }
    if !d.problems.is_empty() {
        println!("\nproblems:");
        for p in &d.problems {
            println!("  {p}");
        }
    }
}

fn to_json(d: &Discovery, sources: &[SourceConfig], overrides: &[String]) -> Value {
    let mut settings = serde_json::Map::new();
    for id in SettingId::ALL {
        let candidates = d.candidates(id);
        let used = candidates.first();
        let mut v = json!({
            "label": id.label(),
            "found": used.is_some(),
            "shown": used.map(Setting::shown),
            "from": used.map(|s| &s.from),
            "key": used.map(|s| &s.key),
            "secret": id.is_secret(),
            "candidates": candidates,
            "if_missing": if used.is_none() { Some(id.if_missing()) } else { None },
        });
        if is_key_path(id) {
            v["path"] = json!(key_path(d, id));
        }
        settings.insert(id.name().into(), v);
    }
    let databases: Vec<Value> = [d.main_database(), d.license_database()]
        .into_iter()
        .flatten()
        .map(|db| {
            json!({
                "role": db.role,
                "name": db.name,
                "named_in_uri": db.named_in_uri,
                "server": db.uri.shown(),
                "from": db.uri.from,
                "key": db.uri.key,
            })
        })
        .collect();
    json!({
        "ok": true,
        "root": d.root,
        "files_read": d.files_read,
        "files_absent": d.files_absent,
        "settings": settings,
        "missing": d.missing().iter().map(|id| id.name()).collect::<Vec<_>>(),
        "databases": databases,
        "sources": sources,
        "overrides": overrides,
        "problems": d.problems,
    })
}
