//! Giving the window's memory back (Linux): a while after the admin closed the window, when
//! nothing runs, the app starts itself again as its tray alone (`--hidden`) and exits.
//!
//! Why a restart and not a cleanup: on Linux, Tauri keeps WebKitGTK's web context, and with it
//! WebKit's network process, for the app's whole life (tauri-apps/tauri#14626: WebKit does not
//! end that process when the last web view closes, and a new context would start another), and
//! the web view's libraries stay mapped in the app. Measured with bench/desktop-idle.sh: an app
//! whose window was opened once stays at about 170 MB plus a 60 MB network process, against
//! about 80 MB for the tray alone. On Windows and macOS the web view's processes end with the
//! window, so this runs on Linux only.
//!
//! It is safe because the app already survives a restart (it must survive a reboot): the
//! settings, the scheduler's tries of a slot and the history are on disk. It never happens
//! while a backup, restore or check runs or an off-site copy is being made: it takes the app's
//! one-job slot first and keeps it until the process ends, so no job can start in between.
//!
//! May depend on: `state`, `jobs` (the job slot), Tauri. Holds no backup logic.

use std::time::Duration;

use tauri::{AppHandle, Runtime};

/// How long the window stays closed before the restart, unless
/// `HRSM_DESKTOP_RELAUNCH_AFTER` says otherwise (seconds, or `off`). Long enough that an admin
/// who closes and reopens the window does not wait for a new web view.
const DEFAULT_AFTER: Duration = Duration::from_secs(60);
const AFTER_ENV: &str = "HRSM_DESKTOP_RELAUNCH_AFTER";
/// Set on the new process: the process id it waits for before starting (the single-instance
/// lock is the old process's until it has ended).
const PREVIOUS_ENV: &str = "HRSM_DESKTOP_RELAUNCH_OF";

/// The delay before the restart; `None` when switched off or not on Linux.
pub fn after() -> Option<Duration> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    match std::env::var(AFTER_ENV) {
        Err(_) => Some(DEFAULT_AFTER),
        Ok(v) if v.trim().eq_ignore_ascii_case("off") => None,
        Ok(v) => v.trim().parse::<u64>().ok().map(Duration::from_secs).or(Some(DEFAULT_AFTER)),
    }
}

/// Why the app cannot restart now, in words for its log; `None` when it can.
pub fn why_not_now(state: &crate::state::AppState) -> Option<&'static str> {
    if state.is_running() {
        Some("a backup, restore or check is running")
    } else if state.copying.load(std::sync::atomic::Ordering::Relaxed) {
        Some("an off-site copy is being made")
    } else {
        None
    }
}

/// Each closing of the window starts a wait; a later opening or closing makes it stale.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Called when the main window was destroyed (closed).
pub fn window_closed<R: Runtime>(app: &AppHandle<R>) {
    window_opened();
    let Some(after) = after() else { return };
    let generation = GENERATION.load(std::sync::atomic::Ordering::SeqCst);
    let app = app.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(after);
        if GENERATION.load(std::sync::atomic::Ordering::SeqCst) != generation {
            return;
        }
        match restart(&app) {
            Ok(()) => return,
            // Busy: wait as long again, then look again.
            Err(why) => tracing::info!("not restarting as the tray alone yet: {why}"),
        }
    });
}

/// Called when the window is made again: a pending restart is off.
pub fn window_opened() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn restart<R: Runtime>(app: &AppHandle<R>) -> Result<(), String> {
    use tauri::Manager;
    if app.get_webview_window("main").is_some() {
        return Err("the window is open".into());
    }
    let state = app.state::<crate::state::AppState>();
    if let Some(why) = why_not_now(&state) {
        return Err(why.into());
    }
    let slot = crate::jobs::Busy::claim(&state, "Restarting…").map_err(|e| e.message)?;
    // A copy may have begun between the check above and the claim (copies start only after a
    // backup or at start, but look again now that no job can start).
    if state.copying.load(std::sync::atomic::Ordering::Relaxed) {
        return Err("an off-site copy is being made".into());
    }
    let exe = current_exe()?;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).filter(|a| a != "--hidden").collect();
    args.push("--hidden".into());
    std::process::Command::new(&exe)
        .args(&args)
        .env(PREVIOUS_ENV, std::process::id().to_string())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    tracing::info!("restarting as the tray alone, to give back the window's memory");
    eprintln!("hrsm-backup-desktop: restarting as the tray alone");
    // The slot stays taken until this process has ended: no job may start in it now.
    std::mem::forget(slot);
    app.exit(0);
    Ok(())
}

/// This program's file. After a package upgrade replaced it while it ran, Linux names the old
/// one "<path> (deleted)": the new one at the same path is what starts.
fn current_exe() -> Result<std::path::PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program's file: {e}"))?;
    let shown = exe.to_string_lossy();
    match shown.strip_suffix(" (deleted)") {
        Some(path) if std::path::Path::new(path).is_file() => Ok(path.into()),
        Some(_) => Err(format!("this program's file {} was removed", exe.display())),
        None => Ok(exe),
    }
}

/// At start: a process started by `restart` waits (up to 20 s) until the one that started it has
/// ended, so that the single-instance check finds no other instance.
pub fn wait_for_previous() {
    let Some(pid) = std::env::var(PREVIOUS_ENV).ok().and_then(|p| p.parse::<u32>().ok()) else { return };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its D-Bus name (the single-instance lock) is released as its connection closes, which
    // the bus daemon handles just after the process has gone.
    std::thread::sleep(Duration::from_millis(200));
}

/// Whether a process runs (a zombie waiting for its parent to reap it has ended).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_alive_and_a_missing_one_is_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX - 1));
    }

    #[test]
    fn an_upgraded_programs_file_is_found_at_its_path() {
        assert!(current_exe().is_ok());
    }
}
