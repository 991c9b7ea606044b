//! Discovery of a real HR-SM site's settings (`hrsm-backup discover`), on the realistic tree
//! of tests/common/site.rs: every setting found with its source, nothing secret in any output.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use super::site::*;
use super::util::*;

/// The test tree itself: what it promises is there, sizes stay small, keys are real PEM.
#[test]
fn the_site_tree_is_what_its_facts_say() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    let f = build_site(&root);
    for rel in f.keep.iter().chain(&f.code) {
        assert!(root.join(rel).is_file(), "{} missing", rel.display());
    }
    for rel in &f.junk {
        assert!(root.join(rel).symlink_metadata().is_ok(), "{} missing", rel.display());
    }
    let uploads =
        f.keep.iter().filter(|p| p.starts_with("uploads") || p.to_string_lossy().contains("uploads/")).count();
    assert!(uploads >= 250, "{uploads} upload files");
    assert!(f.upload_bytes > 5 << 20 && f.upload_bytes < 40 << 20, "{} bytes of uploads", f.upload_bytes);
    let private = root.join("hrsm-license-server/keys/private.pem");
    assert_eq!(fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(fs::read_to_string(&private).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(fs::read_to_string(root.join("keys/public.pem")).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        fs::read_link(root.join("node_modules/.bin/express")).unwrap().to_str(),
        Some("../express/bin/express.js")
    );
    assert_eq!(fs::metadata(root.join(&f.unreadable)).unwrap().permissions().mode() & 0o777, 0);
    assert_eq!(f.encryption_key.len(), 64);
    assert!(f.mongodb_uri.ends_with("/hrsm_platform?authSource=admin") && f.license_uri.contains("/hrsm_license_db"));
    release(&f);
}

/// The CLI with a clean environment plus `envs`, and the most verbose logging.
fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args).current_dir(dir).env("HRSM_LOG", "trace");
    for v in [
        "HRSM_BACKUP_CONFIG",
        "HRSM_BACKUP_KEY_FILE",
        "BACKUPS_ENABLED",
        "MONGODB_URI",
        "MONGO_URI",
        "LICENSE_DB_URI",
        "BACKUP_ENCRYPTION_KEY",
    ] {
        c.env_remove(v);
    }
    c.envs(envs.iter().copied()).output().unwrap()
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// No secret of the site, nor any 12-character piece of one, in stdout or stderr.
fn assert_no_secret(o: &Output, secrets: &[String]) {
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    for s in secrets {
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(12.min(chars.len())) {
            let piece: String = w.iter().collect();
            assert!(!all.contains(&piece), "a piece of a secret ({piece:?}) is in the output:\n{all}");
        }
    }
}

#[test]
fn discover_finds_every_setting_of_a_real_site_with_its_source_and_no_secret() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    let f = build_site(&root);
    let r = root.to_str().unwrap();
    let mut secrets = f.secrets.clone();
    secrets.push("envonlysecret42".into());
    let env = [("MONGODB_URI", "mongodb://ops:envonlysecret42@10.0.0.9:27017/x")];

    let o = run(t.path(), &["--json", "discover", r], &env);
    assert!(o.status.success(), "{}", text(&o));
    assert_no_secret(&o, &secrets);
    let j = json_of(&o);
    let s = &j["settings"];
    let at = |rel: &str| root.join(rel).to_str().unwrap().to_string();
    let source = |name: &str| {
        (s[name]["from"].as_str().unwrap_or("-").to_string(), s[name]["key"].as_str().unwrap_or("-").to_string())
    };
    assert_eq!(source("mongodb_uri"), (at("ecosystem.config.js"), "apps[hrsm-backend].env.MONGODB_URI".into()));
    assert_eq!(s["mongodb_uri"]["shown"], f.mongodb_uri.replace(&f.secrets[0], "***"));
    assert_eq!(s["mongodb_uri"]["candidates"][1]["from"], at(".env"), "the .env value is kept as a candidate");
    assert_eq!(s["mongodb_uri"]["candidates"][1]["key"], "MONGODB_URI");
    assert_eq!(source("license_uri"), (at("hrsm-license-server/.env"), "MONGODB_URI".into()));
    assert_eq!(source("jwt_private_key_path"), (at("hrsm-license-server/.env"), "JWT_PRIVATE_KEY_PATH".into()));
    assert_eq!(s["jwt_private_key_path"]["path"], at("hrsm-license-server/keys/private.pem"));
    assert_eq!(s["jwt_private_key_path"]["shown"], f.jwt_private_key_path);
    assert_eq!(source("jwt_public_key_path"), (at("hrsm-license-server/.env"), "JWT_PUBLIC_KEY_PATH".into()));
    assert_eq!(s["jwt_public_key_path"]["path"], at("hrsm-license-server/keys/public.pem"));
    assert_eq!(source("encryption_key"), (at(".env"), "BACKUP_ENCRYPTION_KEY".into()));
    assert_eq!(s["encryption_key"]["shown"], "set (64 hex characters)");
    assert_eq!(source("timezone"), (at(".env"), "BACKUP_TIMEZONE".into()));
    assert_eq!(s["timezone"]["shown"], f.timezone);
    assert_eq!(source("backups_enabled"), (at("ecosystem.config.js"), "apps[hrsm-backend].env.BACKUPS_ENABLED".into()));
    assert_eq!(s["backups_enabled"]["shown"], f.backups_enabled);
    assert_eq!(j["missing"], serde_json::json!([]));
    assert_eq!(j["problems"], serde_json::json!([]), "{}", text(&o));
    assert_eq!(j["databases"][0]["name"], f.main_db);
    assert_eq!(j["databases"][0]["role"], "main");
    assert_eq!(j["databases"][1]["name"], f.license_db);
    assert_eq!(j["databases"][1]["server"], f.license_uri.replace(&f.secrets[2], "***"));
    let names: Vec<&str> = j["sources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"uploads") && names.contains(&"config"), "{names:?}");
    assert_eq!(j["sources"][0]["path"], at("uploads"));
    assert!(j["overrides"][0].as_str().unwrap().starts_with("MONGODB_URI is set in hrsm-backup's environment"));
    assert_eq!(j["files_read"].as_array().unwrap().len(), 4);

    let o = run(t.path(), &["discover", r], &env);
    assert!(o.status.success(), "{}", text(&o));
    assert_no_secret(&o, &secrets);
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "from ecosystem.config.js apps[hrsm-backend].env.MONGODB_URI",
        "also .env MONGODB_URI (mongodb://hrsm:***@",
        "from hrsm-license-server/.env JWT_PRIVATE_KEY_PATH = ./keys/private.pem",
        "set (64 hex characters)",
        "hrsm_platform        main, on mongodb://hrsm:***@127.0.0.1:27017/",
        "hrsm_license_db      license, on mongodb://hrsm_license:***@",
        "MONGODB_URI is set in hrsm-backup's environment",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    assert!(!out.contains("problems:"), "{out}");
    release(&f);
}

#[test]
fn an_unparsable_ecosystem_file_is_named_and_the_dotenv_values_still_count() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    let f = build_site(&root);
    let eco = root.join("ecosystem.config.js");
    fs::write(&eco, "const base = require('./pm2.base.js');\nmodule.exports = base(process.env);\n").unwrap();
    let o = run(t.path(), &["--json", "discover", root.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_no_secret(&o, &f.secrets);
    let j = json_of(&o);
    let problems = j["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = problems[0].as_str().unwrap();
    assert!(p.starts_with(&format!("{}: ", eco.display())) && p.contains("hrsm-backup's config"), "{p}");
    let s = &j["settings"];
    assert_eq!(s["mongodb_uri"]["from"], root.join(".env").to_str().unwrap());
    assert_eq!(s["mongodb_uri"]["key"], "MONGODB_URI");
    assert_eq!(s["mongodb_uri"]["shown"], f.mongodb_uri_dotenv.replace(&f.secrets[1], "***"));
    assert_eq!(s["backups_enabled"]["shown"], "false", "without PM2's file, the .env value counts");
    assert_eq!(s["encryption_key"]["found"], true);
    assert_eq!(j["databases"][0]["name"], f.main_db);

    // Code inside the literal: the plain env pairs are still read, and the file is named.
    let good = fs::read_to_string(root.join("hrsm-license-server/ecosystem.config.cjs")).unwrap();
    let main_app = good
        .replace("'hrsm-license-server'", "'hrsm-backend'")
        .replace("/var/www/hr-sm/hrsm-license-server", "/var/www/hr-sm")
        .replace("PORT: 5001,", "PORT: process.env.PORT || 5001,\n        MONGODB_URI: 'mongodb://x/pm2db',");
    fs::write(&eco, main_app).unwrap();
    let o = run(t.path(), &["discover", root.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("main MongoDB URI       mongodb://x/pm2db\n"), "{out}");
    assert!(out.contains("from ecosystem.config.js apps[hrsm-backend].env.MONGODB_URI"), "{out}");
    assert!(out.contains("pm2db                main, on mongodb://x/pm2db"), "{out}");
    assert!(
        out.contains(&format!("problems:\n  {}: line ", eco.display())) && out.contains("not read, being code: PORT"),
        "{out}"
    );
    release(&f);
}

#[test]
fn a_missing_root_fails_clearly_and_missing_settings_are_explained() {
    let t = tmp();
    let o = run(t.path(), &["discover", "no-such-site"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("hrsm-backup: error: ") && err.contains("no-such-site does not exist or is not a folder"),
        "{err}"
    );
    // The default ROOT is the config's hrsm_root.
    fs::write(t.path().join("c.toml"), "hrsm_root = \"gone\"\n").unwrap();
    let o = run(t.path(), &["--config", "c.toml", "discover"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("gone does not exist"), "{}", text(&o));

    // A folder with no settings at all: exit 0, every setting explained.
    fs::create_dir(t.path().join("gone")).unwrap();
    let o = run(t.path(), &["--config", "c.toml", "discover"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("read: no settings file"), "{out}");
    assert!(out.contains("main MongoDB URI       not found"), "{out}");
    assert!(out.contains("set MONGODB_URI in hrsm-backup's environment, or mongodb.uri"), "{out}");
    assert!(out.contains("main: no URI found;"), "{out}");
    let o = run(t.path(), &["--json", "--config", "c.toml", "discover"], &[]);
    let j = json_of(&o);
    assert_eq!(j["missing"].as_array().unwrap().len(), 7);
    assert_eq!(
        j["settings"]["timezone"]["if_missing"],
        "set schedule.timezone in hrsm-backup's config file (default UTC)"
    );
}
