//! The tray: an icon that shows the state (healthy, running, failed, overdue), a status line
//! "Last: ... · Next: ...", and Back up now / Open / Quit. Closing the window only hides it.

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

use crate::state::AppState;

const TRAY_ID: &str = "main";

struct TrayStatus<R: Runtime>(MenuItem<R>);

fn icon(state: &str) -> Option<Image<'static>> {
    let bytes: &'static [u8] = match state {
        "running" => include_bytes!("../../icons/tray-running.png"),
        "failed" | "no-key" | "copy-failed" => include_bytes!("../../icons/tray-failed.png"),
        "overdue" | "paused" | "no-backup" | "setup" => include_bytes!("../../icons/tray-overdue.png"),
        _ => include_bytes!("../../icons/tray-healthy.png"),
    };
    Image::from_bytes(bytes).ok()
}

/// Shows the window, making it again from the config if it was closed.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    let window = match app.get_webview_window("main") {
        Some(w) => Some(w),
        None => app
            .config()
            .app
            .windows
            .first()
            .and_then(|conf| tauri::WebviewWindowBuilder::from_config(app, conf).ok())
            .and_then(|b| {
                crate::relaunch::window_opened();
                b.build().ok()
            }),
    };
    if let Some(w) = window {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
    let backup = MenuItem::with_id(app, "backup", "Back up now", true, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &PredefinedMenuItem::separator(app)?, &backup, &open, &quit])?;
    let mut builder =
        TrayIconBuilder::with_id(TRAY_ID).tooltip("HR-SM Backup").menu(&menu).on_menu_event(|app, event| {
            match event.id().as_ref() {
                // Before the set-up there is nothing to back up: the window shows the steps.
                "backup" if app.try_state::<AppState>().is_some_and(|s| s.needs_setup()) => show_main(app),
                "backup" => {
                    let app = app.clone();
                    std::thread::spawn(move || {
                        let _ = crate::jobs::backup(&app, |_| {}, hrsm_backup::Trigger::Manual);
                    });
                }
                "open" => show_main(app),
                "quit" => app.exit(0),
                _ => {}
            }
        });
    if let Some(i) = icon("healthy") {
        builder = builder.icon(i);
    }
    builder.build(app)?;
    app.manage(TrayStatus(status));
    refresh(app);
    Ok(())
}

/// A time in the schedule's zone, named ("01 Dec 04:00 Africa/Cairo").
fn short(state: &AppState, t: chrono::DateTime<chrono::Utc>) -> String {
    match state.schedule() {
        Some(s) => s.local_label(t),
        None => t.format("%d %b %H:%M UTC").to_string(),
    }
}

/// Brings the icon and the status line up to date with the app's state.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else { return };
    let s = state.status();
    crate::events::announce(app, &state, &s);
    let last = match (&s.last, s.state.as_str()) {
        (_, "running") => "running now".to_string(),
        (Some(e), _) => {
            format!(
                "{} {}",
                short(&state, e.started),
                if e.status == hrsm_backup::Status::Ok { "ok" } else { "FAILED" }
            )
        }
        (None, _) => "none yet".to_string(),
    };
    let next = match (s.next_run, s.state.as_str()) {
        (_, "setup") => "not set up".to_string(),
        (Some(t), _) => short(&state, t),
        (None, _) => "paused".to_string(),
    };
    let line = format!("Last: {last} · Next: {next}");
    if let Some(item) = app.try_state::<TrayStatus<R>>() {
        let _ = item.0.set_text(&line);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_icon(icon(&s.state));
        let demo = if s.demo { " (sample data)" } else { "" };
        let _ = tray.set_tooltip(Some(format!("HR-SM Backup{demo}: {} — {line}", s.label)));
    }
}
