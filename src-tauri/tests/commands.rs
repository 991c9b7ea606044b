//! The commands through Tauri's mock runtime: the real invoke handler and state, no window
//! system. (The real app window is tested end to end by scripts/e2e.)

use hrsm_backup_desktop::{handlers, AppState};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::Manager;
use tauri::WebviewWindow;

/// The keychain entries (the MongoDB passwords) are one per session: tests that save settings
/// or use a site take turns, or one's save (which clears a password it does not need) would
/// land between another's write and read.
static KEYCHAIN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn keychain_turn() -> std::sync::MutexGuard<'static, ()> {
    KEYCHAIN.lock().unwrap_or_else(|e| e.into_inner())
}

fn setup() -> (tempfile::TempDir, tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    // The commands read and write the MongoDB password in the keychain: only the private one.
    hrsm_backup::assert_private_test_session();
    std::env::set_var("BACKUP_ENCRYPTION_KEY", "42".repeat(32));
    std::env::remove_var("BACKUPS_ENABLED");
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!("destination = \"{}\"\nsources = []\n[mongodb]\nenabled = false\n", t.path().join("backups").display()),
    )
    .unwrap();
    let state = AppState::with_paths(t.path().join("hrsm-backup.toml"), t.path().to_path_buf(), None).unwrap();
    // The app's real context: its capabilities decide which commands the page may call.
    let mut context: tauri::Context<MockRuntime> = tauri::generate_context!();
    context.set_assets(Box::new(noop_assets()));
    let app = mock_builder().manage(state).invoke_handler(handlers!()).build(context).unwrap();
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    (t, app, webview)
}

fn invoke(w: &WebviewWindow<MockRuntime>, cmd: &str, body: Value) -> Result<Value, Value> {
    invoke_from(w, "tauri://localhost", cmd, body)
}

fn invoke_from(w: &WebviewWindow<MockRuntime>, url: &str, cmd: &str, body: Value) -> Result<Value, Value> {
    get_ipc_response(
        w,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: url.parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

#[test]
fn status_settings_history_and_key_through_the_invoke_handler() {
    let _turn = keychain_turn();
    let (t, _app, w) = setup();
    let s = invoke(&w, "status", json!({})).unwrap();
    assert_eq!(s["state"], "no-backup");
    assert_eq!(s["schedule"], "02:00 UTC");
    assert_eq!(s["key_exported"], false);
    assert_eq!(s["key_id"].as_str().unwrap().len(), 32);
    assert_eq!(invoke(&w, "history", json!({})).unwrap(), json!([]));

    let mut settings = invoke(&w, "get_settings", json!({})).unwrap();
    settings["scheduleTime"] = json!("03:30");
    settings["scheduleTimezone"] = json!("Africa/Cairo");
    let saved = invoke(&w, "set_settings", json!({ "settings": settings })).unwrap();
    assert_eq!(saved["scheduleTime"], "03:30");
    let written = std::fs::read_to_string(t.path().join("hrsm-backup.toml")).unwrap();
    assert!(written.contains("time = \"03:30\"") && written.contains("timezone = \"Africa/Cairo\""), "{written}");
    assert_eq!(invoke(&w, "status", json!({})).unwrap()["schedule"], "03:30 Africa/Cairo");

    settings["scheduleTimezone"] = json!("Mars/Olympus");
    let err = invoke(&w, "set_settings", json!({ "settings": settings })).unwrap_err();
    assert_eq!(err["field"], "scheduleTimezone", "{err}");
    assert_eq!(err["message"], "Choose a time zone from the list.");

    let text = invoke(&w, "export_key", json!({})).unwrap();
    assert_eq!(text, json!(format!("hrsm-key-v1:{}", "42".repeat(32))));
    invoke(&w, "confirm_key_exported", json!({})).unwrap();
    assert_eq!(invoke(&w, "status", json!({})).unwrap()["key_exported"], true);
}

#[test]
fn only_the_apps_own_page_may_call_the_commands() {
    let (_t, _app, w) = setup();
    let err = invoke_from(&w, "https://evil.example", "export_key", json!({})).unwrap_err();
    assert!(err.as_str().unwrap_or("").starts_with("export_key not allowed"), "{err}");
}

#[test]
fn typed_errors_reach_the_page() {
    let (_t, _app, w) = setup();
    let err = invoke(&w, "backup_details", json!({ "id": "hrsm-nope" })).unwrap_err();
    assert_eq!(err["kind"], "usage");
    assert!(
        err["message"].as_str().unwrap().contains("is not a backup folder")
            || err["message"].as_str().unwrap().contains("not in"),
        "{err}"
    );
    // A restore no check armed is refused, whatever is typed.
    let err = invoke(
        &w,
        "restore",
        json!({ "request": { "id": "x" }, "confirm": "RESTORE", "token": "forged", "onEvent": "__CHANNEL__:1" }),
    )
    .unwrap_err();
    assert_eq!(err["kind"], "usage");
    assert!(err["message"].as_str().unwrap().starts_with("Check the restore again first"), "{err}");
}

/// The settings form: each wrong field is named with words an admin can act on, nothing is
/// saved, and saving unchanged settings leaves the file as it was, byte for byte.
#[test]
fn settings_errors_name_their_field_and_an_unchanged_save_changes_nothing() {
    let _turn = keychain_turn();
    let (t, _app, w) = setup();
    let path = t.path().join("hrsm-backup.toml");
    let settings = invoke(&w, "get_settings", json!({})).unwrap();
    invoke(&w, "set_settings", json!({ "settings": settings })).unwrap();
    let before = std::fs::read(&path).unwrap();
    invoke(&w, "set_settings", json!({ "settings": settings })).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before, "a second unchanged save changes nothing");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("destination", json!(""), "destination"),
        ("destination", json!("relative/backups"), "destination"),
        ("keepDays", json!(0), "keepDays"),
        ("keepMinVerified", json!(0), "keepMinVerified"),
        ("scheduleTime", json!("25:99"), "scheduleTime"),
        ("sources", json!([{ "name": "uploads", "path": "" }]), "sources.0.path"),
        ("sources", json!([{ "name": "", "path": "/srv/x" }]), "sources.0.name"),
        ("sources", json!([{ "name": "a", "path": "/srv/a" }, { "name": "a", "path": "/srv/b" }]), "sources.1.name"),
        ("sources", json!([{ "name": "a", "path": "/srv/a", "include": ["[bad"] }]), "sources.0.include"),
    ];
    for (key, value, field) in cases {
        let mut bad = settings.clone();
        bad[key] = value.clone();
        let err = invoke(&w, "set_settings", json!({ "settings": bad })).unwrap_err();
        assert_eq!(err["field"], field, "{key} = {value}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(
            !message.contains("config:") && !message.contains("configuration") && message.ends_with('.'),
            "{message}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "nothing saved for {key} = {value}");
    }
}

/// A first start with nothing configured is the set-up: nothing runs, nothing is written.
#[test]
fn a_first_start_is_the_setup_and_writes_no_settings() {
    hrsm_backup::assert_private_test_session();
    std::env::set_var("BACKUP_ENCRYPTION_KEY", "42".repeat(32));
    std::env::remove_var("MONGODB_URI");
    std::env::remove_var("MONGO_URI");
    let t = tempfile::tempdir().unwrap();
    let state = AppState::with_paths(t.path().join("hrsm-backup.toml"), t.path().to_path_buf(), None).unwrap();
    let mut context: tauri::Context<MockRuntime> = tauri::generate_context!();
    context.set_assets(Box::new(noop_assets()));
    let app = mock_builder().manage(state).invoke_handler(handlers!()).build(context).unwrap();
    let w = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    let s = invoke(&w, "status", json!({})).unwrap();
    assert_eq!(s["state"], "setup");
    assert_eq!(s["label"], "Not set up yet");
    assert!(s["next_run"].is_null());
    let err = invoke(&w, "backup_now", json!({ "onEvent": "__CHANNEL__:1" })).unwrap_err();
    assert_eq!(err["kind"], "setup");
    let settings = invoke(&w, "get_settings", json!({})).unwrap();
    let proposed = settings["destination"].as_str().unwrap();
    assert!(std::path::Path::new(proposed).is_absolute() && proposed.ends_with("HR-SM Backups"), "{proposed}");
    assert!(!t.path().join("hrsm-backup.toml").exists());
}

/// The demo is a choice that never touches the admin's settings: entering it, saving its
/// settings and leaving it leave the admin's file byte for byte as it was, and a restart
/// after leaving is not a demo.
#[test]
fn the_demo_never_writes_over_the_admins_settings() {
    let _turn = keychain_turn();
    let (t, app, w) = setup();
    let real = t.path().join("hrsm-backup.toml");
    let before = std::fs::read(&real).unwrap();
    let s = invoke(&w, "start_demo", json!({})).unwrap();
    assert_eq!(s["demo"], true, "{s}");
    let demo_cfg = t.path().join("demo").join("hrsm-backup.toml");
    assert!(demo_cfg.exists());
    let mut settings = invoke(&w, "get_settings", json!({})).unwrap();
    assert!(settings["destination"].as_str().unwrap().contains("demo"), "{settings}");
    settings["scheduleTime"] = json!("05:45");
    invoke(&w, "set_settings", json!({ "settings": settings })).unwrap();
    assert!(std::fs::read_to_string(&demo_cfg).unwrap().contains("05:45"));
    assert_eq!(std::fs::read(&real).unwrap(), before, "the demo saved over the admin's settings");
    let state = app.state::<AppState>();
    assert!(state.persisted().demo, "the choice survives a restart");
    let s = invoke(&w, "leave_demo", json!({})).unwrap();
    assert_eq!(s["demo"], false);
    assert_eq!(std::fs::read(&real).unwrap(), before);
    assert!(!state.persisted().demo);
    let settings = invoke(&w, "get_settings", json!({})).unwrap();
    assert_eq!(settings["destination"], t.path().join("backups").display().to_string());
}

/// Regression: a torn `state.json` silently reset to defaults (forgetting, without a word,
/// that the key had been exported). Now it is kept aside, and the page says so.
#[test]
fn a_damaged_state_file_is_kept_aside_and_reported() {
    hrsm_backup::assert_private_test_session();
    std::env::set_var("BACKUP_ENCRYPTION_KEY", "42".repeat(32));
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("hrsm-backup.toml"),
        format!("destination = \"{}\"\nsources = []\n[mongodb]\nenabled = false\n", t.path().join("backups").display()),
    )
    .unwrap();
    std::fs::write(t.path().join("state.json"), b"{\"first_start\": \"2026-11-0").unwrap();
    let state = AppState::with_paths(t.path().join("hrsm-backup.toml"), t.path().to_path_buf(), None).unwrap();
    let status = state.status();
    let message = status.message.unwrap_or_default();
    assert!(message.contains("damaged") && message.contains("export the recovery key"), "{message}");
    assert!(!status.key_exported);
    let kept: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.json.damaged-"))
        .collect();
    assert_eq!(kept.len(), 1, "the damaged copy is kept");
    // The state written anew is whole and reads back.
    let again = std::fs::read(t.path().join("state.json")).unwrap();
    serde_json::from_slice::<Value>(&again).unwrap();
}

/// The HR-SM installation card: "Look" shows the site's settings masked, in plain words;
/// "Use these settings" saves its folder and servers without passwords (the passwords go to
/// the private keychain); a folder that is not there, or nothing typed, is said plainly; using
/// the site twice gives the same settings.
#[test]
fn the_site_is_looked_at_masked_and_used_without_its_passwords_in_the_config() {
    let _turn = keychain_turn();
    let (t, _app, w) = setup();
    let site = t.path().join("hr-sm");
    std::fs::create_dir_all(site.join("hrsm-license-server")).unwrap();
    std::fs::write(
        site.join(".env"),
        "MONGODB_URI=mongodb://hrsm:S3cretPw@db.local:27017/hrsm_platform\nBACKUP_TIMEZONE=Africa/Cairo\n",
    )
    .unwrap();
    std::fs::write(
        site.join("hrsm-license-server/.env"),
        "MONGODB_URI=mongodb://lic:L1cPw@lic.local:27017/hrsm_license_db\n",
    )
    .unwrap();
    let root = site.display().to_string();

    let found = invoke(&w, "discover_site", json!({ "root": root })).unwrap();
    let shown = found.to_string();
    assert!(!shown.contains("S3cretPw") && !shown.contains("L1cPw"), "{shown}");
    assert!(shown.contains("hrsm_platform (main)") && shown.contains("hrsm_license_db (license)"), "{shown}");
    assert!(shown.contains("Africa/Cairo") && shown.contains("\"from\":\".env\""), "{shown}");

    for bad in ["", "/no/such/hr-sm"] {
        let err = invoke(&w, "discover_site", json!({ "root": bad })).unwrap_err();
        assert_eq!(err["kind"], "usage");
        assert!(err["message"].as_str().unwrap().contains("folder HR-SM is installed in"), "{err}");
    }

    let first = invoke(&w, "use_site", json!({ "root": root })).unwrap();
    let again = invoke(&w, "use_site", json!({ "root": root })).unwrap();
    assert_eq!(first, again, "using the site twice changes nothing more");
    assert_eq!(first["scheduleTimezone"], "Africa/Cairo");
    assert_eq!(first["mongodbUri"], "mongodb://hrsm:***@db.local:27017/hrsm_platform");
    let saved = std::fs::read_to_string(t.path().join("hrsm-backup.toml")).unwrap();
    assert!(!saved.contains("S3cretPw") && !saved.contains("L1cPw"), "{saved}");
    assert!(saved.contains("lic@lic.local:27017/hrsm_license_db"), "{saved}");
    assert_eq!(
        hrsm_backup::Keychain::license_uri().get_text().unwrap().as_deref(),
        Some("mongodb://lic:L1cPw@lic.local:27017/hrsm_license_db")
    );
    assert!(!saved.contains("[[sources]]"), "the site's default sources, with their rules: {saved}");

    // Saving the settings page afterwards (the schedule changed) keeps the default sources and
    // their include rules: the configuration source must never become the whole folder.
    let mut settings = first.clone();
    settings["scheduleTime"] = json!("04:15");
    invoke(&w, "set_settings", json!({ "settings": settings })).unwrap();
    let saved = std::fs::read_to_string(t.path().join("hrsm-backup.toml")).unwrap();
    assert!(!saved.contains("[[sources]]") && saved.contains("04:15"), "{saved}");
    // Removing a folder there makes the list explicit, each kept source with its rules.
    let mut settings = first.clone();
    settings["sources"].as_array_mut().unwrap().retain(|s| s["name"] != "keys");
    invoke(&w, "set_settings", json!({ "settings": settings })).unwrap();
    let cfg = hrsm_backup::Config::load(&t.path().join("hrsm-backup.toml")).unwrap();
    let sources = cfg.file_sources();
    assert!(!sources.iter().any(|s| s.name == "keys"));
    let config = sources.iter().find(|s| s.name == "config").unwrap();
    assert!(config.include.contains(&".env".to_string()) && config.exclude.iter().any(|e| e.contains("node_modules")));
    let _ = hrsm_backup::Keychain::license_uri().delete();
    let _ = hrsm_backup::Keychain::mongodb_uri().delete();
}

#[test]
fn an_offsite_folder_is_set_up_from_the_page_and_filled_after_a_backup() {
    let _turn = keychain_turn();
    let (t, _app, w) = setup();
    let usb = t.path().join("usb");
    let form = json!({ "name": "usb", "kind": "folder", "path": usb.display().to_string(), "keepDays": 30 });
    // A folder that is not chosen is said at its field; nothing is saved.
    let err = invoke(&w, "offsite_save", json!({ "form": { "name": "usb", "kind": "folder" } })).unwrap_err();
    assert_eq!((err["kind"].as_str(), err["field"].as_str()), (Some("invalid"), Some("offsitePath")), "{err}");
    // A cloud destination without its bucket neither.
    let err = invoke(&w, "offsite_save", json!({ "form": { "name": "s3", "kind": "s3" } })).unwrap_err();
    assert_eq!(err["field"], "offsiteBucket", "{err}");
    let list = invoke(&w, "offsite_save", json!({ "form": form })).unwrap();
    assert_eq!(list[0]["name"], "usb");
    assert_eq!(list[0]["state"], "never");
    let written = std::fs::read_to_string(t.path().join("hrsm-backup.toml")).unwrap();
    assert!(written.contains("[[offsite]]") && written.contains("kind = \"folder\""), "{written}");
    // Saving the other settings keeps it.
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("contract.pdf"), b"%PDF").unwrap();
    let mut settings = invoke(&w, "get_settings", json!({})).unwrap();
    assert_eq!(settings["offsite"][0]["name"], "usb");
    settings["sources"] = json!([{ "name": "data", "path": data.display().to_string(), "include": [], "exclude": [] }]);
    invoke(&w, "set_settings", json!({ "settings": settings })).unwrap();
    assert!(std::fs::read_to_string(t.path().join("hrsm-backup.toml")).unwrap().contains("[[offsite]]"));
    // Not plugged in: the backup is made, the copy waits and says so.
    let entry = invoke(&w, "backup_now", json!({ "onEvent": "__CHANNEL__:1" })).unwrap();
    let id = entry["id"].as_str().unwrap().to_string();
    let wait_until = |what: &str| {
        for _ in 0..100 {
            let s = invoke(&w, "status", json!({})).unwrap();
            if s["offsite"][0]["state"] == what {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the copy never reached {what}: {}", invoke(&w, "status", json!({})).unwrap());
    };
    let s = wait_until("waiting");
    assert!(s["offsite"][0]["message"].as_str().unwrap().contains("plugged in"), "{s}");
    // Plugged in: "Copy now" fills it.
    std::fs::create_dir_all(&usb).unwrap();
    invoke(&w, "offsite_copy_now", json!({})).unwrap();
    let s = wait_until("ok");
    assert_eq!(s["offsite"][0]["copiedIds"][0], id.as_str(), "{s}");
    assert!(usb.join(format!("{id}.hrsmbk")).exists() && usb.join(format!("{id}.json")).exists());
    // A new computer: its backups folder is empty, the copy lists and downloads it.
    std::fs::remove_dir_all(t.path().join("backups")).unwrap();
    std::fs::create_dir_all(t.path().join("backups")).unwrap();
    let there = invoke(&w, "offsite_backups", json!({ "name": "usb" })).unwrap();
    assert_eq!(there[0]["id"], id.as_str());
    let got = invoke(&w, "offsite_fetch", json!({ "name": "usb", "id": id, "onEvent": "__CHANNEL__:2" })).unwrap();
    assert_eq!(got["id"], id.as_str());
    assert_eq!(invoke(&w, "history", json!({})).unwrap()[0]["id"], id.as_str());
    // The upload limit typed in the form is kept, and shown again.
    let mut form = form.clone();
    form["originalName"] = json!("usb");
    form["uploadLimitMbps"] = json!(20);
    invoke(&w, "offsite_save", json!({ "form": form })).unwrap();
    assert!(std::fs::read_to_string(t.path().join("hrsm-backup.toml")).unwrap().contains("upload_limit_mbps = 20"));
    assert_eq!(invoke(&w, "get_settings", json!({})).unwrap()["offsite"][0]["uploadLimitMbps"], 20);
    // Removed from the settings: the copies stay where they are; this computer's record of
    // them goes (a new disk added under the name starts afresh).
    invoke(&w, "offsite_copy_now", json!({})).unwrap();
    wait_until("ok");
    let record = t.path().join("backups/.offsite/usb.json");
    assert!(record.exists());
    let list = invoke(&w, "offsite_remove", json!({ "name": "usb" })).unwrap();
    assert_eq!(list, json!([]));
    assert!(usb.join(format!("{id}.hrsmbk")).exists());
    assert!(!record.exists(), "the record of a removed destination is forgotten");
}
