// Declares the app's commands so that each one needs an explicit permission in
// capabilities/main.json (Tauri's app manifest).
fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(&[
        "status",
        "backup_now",
        "cancel_backup",
        "history",
        "backup_details",
        "restore_preflight",
        "restore",
        "resume_expiry",
        "verify",
        "get_settings",
        "set_settings",
        "export_key",
        "save_key_file",
        "print_sheet",
        "confirm_key_exported",
        "import_key",
        "logs",
        "discover_site",
        "use_site",
        "start_demo",
        "leave_demo",
        "test_connection",
        "time_zones",
        "legacy_look",
        "legacy_import",
        "offsite_status",
        "offsite_test",
        "offsite_save",
        "offsite_remove",
        "offsite_copy_now",
        "offsite_backups",
        "offsite_fetch",
    ])))
    .expect("tauri build script failed");
}
