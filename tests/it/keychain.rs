//! The master key in a real Secret Service (gnome-keyring on the private D-Bus session that
//! scripts/with-session starts): created there, read back from outside with `secret-tool`,
//! used for a backup, never overwritten; without a keychain, an error that says what to do.

use std::process::Command;

use super::util::*;

/// The private session's bus; panics anywhere else (never the admin's real keychain).
fn session_bus() -> String {
    hrsm_backup::assert_private_test_session();
    std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default()
}

const SERVICE: &str = hrsm_backup::TEST_SERVICE;

#[test]
fn the_master_key_lives_in_the_secret_service() {
    session_bus();
    let t = tmp();
    let run = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .current_dir(t.path())
            .env_remove("BACKUP_ENCRYPTION_KEY")
            .env_remove("HRSM_BACKUP_KEY_FILE")
            .output()
            .unwrap()
    };
    let _ = Command::new("secret-tool").args(["clear", "service", SERVICE, "username", "master-key"]).status();
    let o = run(&["key", "generate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .starts_with("new key stored in OS keychain (service hrsm-backup-test, account master-key): key id "),
        "{}",
        text(&o)
    );
    let looked_up =
        Command::new("secret-tool").args(["lookup", "service", SERVICE, "username", "master-key"]).output().unwrap();
    let secret = String::from_utf8_lossy(&looked_up.stdout).trim().to_string();
    assert!(secret.starts_with("hrsm-key-v1:") && secret.len() == 12 + 64, "secret-tool saw {:?}", secret.len());
    let key = hrsm_backup::parse_key_text(&secret, "test").unwrap();
    let o = run(&["key", "id"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("key in use: key id {}", key.id()));
    assert!(!String::from_utf8_lossy(&o.stdout).contains(&secret[12..]));
    write(&t.path().join("d/x"), b"x", 0o644, 1_700_000_000);
    write_config(t.path(), &t.path().join("d"));
    let o = run(&["--config", "hrsm-backup.toml", "--json", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["key", "generate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already holds a key; refusing to overwrite it"),
        "{}",
        text(&o)
    );
    let _ = Command::new("secret-tool").args(["clear", "service", SERVICE, "username", "master-key"]).status();
}

#[test]
fn without_a_keychain_the_error_says_what_to_do() {
    let t = tmp();
    let o = Command::new(bin())
        .args(["key", "id"])
        .current_dir(t.path())
        .env_remove("BACKUP_ENCRYPTION_KEY")
        .env_remove("HRSM_BACKUP_KEY_FILE")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("OS keychain") && err.contains("BACKUP_ENCRYPTION_KEY"), "{err}");
}
