//! HR-SM Backup desktop shell (Tauri 2): the tray, the daily scheduler, the keychain and
//! notification glue, and the commands the page calls. It holds no backup logic: every
//! backup, restore and check is the engine's (`hrsm_backup`).
//!
//! `main.rs` only calls `run()`; `app_builder()` is what the mock-runtime tests build too.

pub mod commands;
mod demo;
mod jobs;
mod keys;
mod notify;
mod scheduler;
mod state;
mod tray;

pub use commands::CommandError;
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
            $crate::commands::restore,
            $crate::commands::verify,
            $crate::commands::get_settings,
            $crate::commands::set_settings,
            $crate::commands::export_key,
            $crate::commands::save_key_file,
            $crate::commands::confirm_key_exported,
            $crate::commands::import_key,
            $crate::commands::logs,
        ]
    };
}

pub fn run() {
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
        .invoke_handler(handlers!())
        .setup(|app| {
            let state = state::AppState::start(app.handle())?;
            app.manage(state);
            tray::create(app.handle())?;
            scheduler::spawn(app.handle().clone());
            if std::env::args().any(|a| a == "--hidden") {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.hide();
                }
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the app in the tray; Quit is in the tray menu.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(e) => {
            eprintln!("hrsm-backup-desktop: cannot start: {e}");
            std::process::exit(1);
        }
    }
}
