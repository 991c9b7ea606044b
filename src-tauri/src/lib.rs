//! HR-SM Backup desktop shell (Tauri 2): the tray, the daily scheduler, the keychain and
//! notification glue, and the commands the page calls. It holds no backup logic: every
//! backup, restore and check is the engine's (`hrsm_backup`).
//!
//! `main.rs` only calls `run()`; `app_builder()` is what the mock-runtime tests build too.

pub mod commands;
mod demo;
mod events;
mod jobs;
mod keys;
pub mod legacy;
mod notify;
pub mod offsite;
mod relaunch;
mod scheduler;
pub mod setup;
pub mod site;
mod state;
mod tray;

pub use commands::CommandError;

/// tauri.conf.json's identifier: the single-instance name's stem and the app id Windows shows
/// notifications under (the Windows installer registers the same, from the config).
pub const APP_ID: &str = "com.hrsm.backup";
pub use state::{AppState, Persisted, StatusDto};

use tauri::Manager;

/// The invoke handler with every command; one list, used by the app and by the tests.
#[macro_export]
macro_rules! handlers {
    () => {
        tauri::generate_handler![
            $crate::commands::status,
            $crate::commands::backup_now,
            $crate::commands::cancel_backup,
            $crate::commands::history,
            $crate::commands::backup_details,
            $crate::commands::restore_preflight,
            $crate::commands::resume_expiry,
            $crate::commands::restore,
            $crate::commands::verify,
            $crate::commands::get_settings,
            $crate::commands::set_settings,
            $crate::commands::export_key,
            $crate::commands::save_key_file,
            $crate::commands::print_sheet,
            $crate::commands::confirm_key_exported,
            $crate::commands::import_key,
            $crate::commands::logs,
            $crate::site::discover_site,
            $crate::site::use_site,
            $crate::setup::start_demo,
            $crate::setup::leave_demo,
            $crate::setup::test_connection,
            $crate::setup::time_zones,
            $crate::legacy::legacy_look,
            $crate::legacy::legacy_import,
            $crate::offsite::offsite_status,
            $crate::offsite::offsite_test,
            $crate::offsite::offsite_save,
            $crate::offsite::offsite_remove,
            $crate::offsite::offsite_copy_now,
            $crate::offsite::offsite_backups,
            $crate::offsite::offsite_fetch,
        ]
    };
}

/// The engine's warnings and details (and mongodump's lines, at debug) go to
/// `hrsm-backup-desktop.log` in the app's data folder; `HRSM_LOG` sets the level (warn by
/// default, `info` or `debug` for more).
fn init_logging(data_dir: &std::path::Path) {
    let path = data_dir.join("hrsm-backup-desktop.log");
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) else {
        eprintln!("hrsm-backup-desktop: cannot open the log file {}", path.display());
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HRSM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}

pub fn run() {
    relaunch::wait_for_previous();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            // A second start just brings the running app's window forward.
            tray::show_main(app);
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ))
        .plugin(tauri_plugin_dialog::init())
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::Destroyed = event {
                if window.label() == "main" {
                    relaunch::window_closed(window.app_handle());
                }
            }
        })
        .invoke_handler(handlers!())
        .setup(|app| {
            let state = state::AppState::start(app.handle())?;
            init_logging(&state.data_dir);
            app.manage(state);
            tray::create(app.handle())?;
            scheduler::spawn(app.handle().clone());
            // Copies that failed or were never made (the machine was off) are tried again now.
            offsite::spawn_copies(app.handle());
            // Read by bench/desktop-idle.sh for "start to tray ready".
            eprintln!("hrsm-backup-desktop: tray ready");
            // The window is not made from the config at start (`create: false`): started at
            // login (`--hidden`) the app is only its tray, and the web view (WebKitGTK on Linux,
            // most of an idle app's memory) is not even loaded until the admin opens it.
            if !std::env::args().any(|a| a == "--hidden") {
                tray::show_main(app.handle());
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    match app {
        // Closing the window closes the page (and its web process) but not the app: only Quit
        // in the tray menu (an explicit exit code) ends it. On Linux the app restarts as its
        // tray alone a minute later, to give back the rest of the web view's memory (relaunch).
        Ok(app) => app.run(|_, event| {
            if let tauri::RunEvent::ExitRequested { api, code: None, .. } = event {
                api.prevent_exit();
            }
        }),
        Err(e) => {
            eprintln!("hrsm-backup-desktop: cannot start: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_app_id_is_the_configs_identifier() {
        let conf: serde_json::Value = serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        assert_eq!(conf["identifier"], super::APP_ID);
    }
}
