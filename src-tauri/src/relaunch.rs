//! Giving the window's memory back (Linux): a while after the admin closed the window, when
//! nothing runs, the app replaces itself with a fresh start of the same program as its tray
//! alone (`--hidden`), in the same process (`exec`).
//!
//! Why a restart and not a cleanup: on Linux, Tauri keeps WebKitGTK's web context, and with it
//! WebKit's network process, for the app's whole life (tauri-apps/tauri#14626: WebKit does not
//! end that process when the last web view closes, and a new context would start another), and
//! the web view's libraries stay mapped in the app. Measured with bench/desktop-idle.sh: an app
//! whose window was opened once stays at about 170 MB plus a 60 MB network process, against
//! about 80 MB for the tray alone. On Windows and macOS the web view's processes end with the
//! window, so this runs on Linux only.
//!
//! Why `exec` and not a new process: the process id stays, so a session manager or a systemd
//! unit that started the app does not see it end, and there is no hand-over of the
//! single-instance lock between two processes; if the program cannot be started again, `exec`
//! returns and the app carries on as it was (and it does not try while its own file was
//! replaced by an update). Once started, the new program is the app: if it failed at start,
//! the app would be gone as after any failed start, until the next login.
//!
//! It is safe because the app already survives a restart (it must survive a reboot): the
//! settings, the scheduler's tries of a slot, its reminders and the history are on disk. It
//! never happens while a backup, restore or check runs, an off-site copy is being made or the
//! scheduler is at work: it takes the app's one-job slot first, and the decision and the
//! restart run on the main thread, where the tray's clicks are handled, so no window can be
//! asked for in between.
//!
//! May depend on: `state`, `jobs` (the job slot), `scheduler` (whether it is at work), Tauri.
//! Holds no backup logic.

use std::time::Duration;

use tauri::{AppHandle, Runtime};

/// How long the window stays closed before the restart, unless
/// `HRSM_DESKTOP_RELAUNCH_AFTER` says otherwise (seconds, at least 1, or `off`). Long enough
/// that an admin who closes and reopens the window does not wait for a new web view.
const DEFAULT_AFTER: Duration = Duration::from_secs(60);
const AFTER_ENV: &str = "HRSM_DESKTOP_RELAUNCH_AFTER";
/// Set on the restarted program, which first waits for the single-instance lock of the one it
/// replaced to be released.
const RELAUNCHED_ENV: &str = "HRSM_DESKTOP_RELAUNCHED";

/// The delay before the restart; `None` when switched off, under a WebDriver test (tauri-driver
/// sets TAURI_WEBVIEW_AUTOMATION; its session is the window) or not on Linux.
pub fn after() -> Option<Duration> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    delay(std::env::var("TAURI_WEBVIEW_AUTOMATION").ok().as_deref(), std::env::var(AFTER_ENV).ok().as_deref())
}

/// `after` from the two variables' values.
fn delay(automation: Option<&str>, after: Option<&str>) -> Option<Duration> {
    if automation == Some("true") {
        return None;
    }
    match after.map(str::trim) {
        None => Some(DEFAULT_AFTER),
        Some(v) if v.eq_ignore_ascii_case("off") => None,
        Some(v) => Some(v.parse::<u64>().map(|s| Duration::from_secs(s.max(1))).unwrap_or(DEFAULT_AFTER)),
    }
}

/// Each closing or opening of the window makes a pending restart stale.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Called when the window is made again: a pending restart is off.
pub fn window_opened() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

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
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = app.clone();
        if app.run_on_main_thread(move || drop(tx.send(restart(&handle, generation)))).is_err() {
            return;
        }
        match rx.recv() {
            // The window was opened again, or the app is ending.
            Ok(Ok(())) | Err(_) => return,
            // Busy, or the program could not be started again: look again as long after.
            Ok(Err(why)) => tracing::info!("not restarting as the tray alone yet: {why}"),
        }
    });
}

/// On the main thread. Returns only when the app carries on as it is: `Ok` when there is
/// nothing to do any more, `Err` (why) to look again later.
fn restart<R: Runtime>(app: &AppHandle<R>, generation: u64) -> Result<(), String> {
    use tauri::Manager;
    if GENERATION.load(std::sync::atomic::Ordering::SeqCst) != generation || app.get_webview_window("main").is_some() {
        return Ok(());
    }
    // Not found, or replaced by an update: nothing changes that before the next start.
    let exe = match current_exe() {
        Ok(exe) => exe,
        Err(why) => {
            tracing::info!("not restarting as the tray alone: {why}");
            return Ok(());
        }
    };
    let state = app.state::<crate::state::AppState>();
    let slot = take_slot(&state)?;
    let err = exec_hidden(&exe);
    drop(slot);
    tracing::warn!("cannot restart as the tray alone, carrying on: {err}");
    Err(err)
}

/// The app's one-job slot, kept until the restart (so no job can start in between), when
/// nothing runs: no job, no off-site copy, the scheduler not at work.
fn take_slot(state: &crate::state::AppState) -> Result<crate::jobs::Busy<'_>, String> {
    let (slot, _) =
        crate::jobs::Busy::claim(state, "Restarting…").map_err(|_| "a backup, restore or check is running")?;
    if state.copying.load(std::sync::atomic::Ordering::SeqCst) {
        return Err("an off-site copy is being made".into());
    }
    if crate::scheduler::ticking() {
        return Err("the scheduler is at work".into());
    }
    Ok(slot)
}

/// Replaces this program with a fresh start of itself, hidden; returns only on failure.
#[cfg(target_os = "linux")]
fn exec_hidden(exe: &std::path::Path) -> String {
    use std::os::unix::process::CommandExt;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).filter(|a| a != "--hidden").collect();
    args.push("--hidden".into());
    tracing::info!("restarting as the tray alone, to give back the window's memory");
    eprintln!("hrsm-backup-desktop: restarting as the tray alone");
    let err = std::process::Command::new(exe).args(&args).env(RELAUNCHED_ENV, "1").exec();
    // std set SIGPIPE back to its default for the new program; this one carries on, and a
    // write to a closed pipe must stay an error, not end it.
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_IGN: usize = 1;
    // SAFETY: sets SIGPIPE's disposition to "ignore", as Rust's runtime does at start.
    unsafe {
        signal(SIGPIPE, SIG_IGN);
    }
    format!("cannot start {} again: {err}", exe.display())
}

#[cfg(not(target_os = "linux"))]
fn exec_hidden(_exe: &std::path::Path) -> String {
    "only done on Linux".into()
}

#[cfg(not(target_os = "linux"))]
fn current_exe() -> Result<std::path::PathBuf, String> {
    Err("only done on Linux".into())
}

/// This program's file. After a package upgrade replaced it while it ran, Linux names the old
/// one "<path> (deleted)": then the app does not restart (a new version, perhaps half
/// installed, starts at the next login instead).
#[cfg(target_os = "linux")]
fn current_exe() -> Result<std::path::PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program's file: {e}"))?;
    if exe.to_string_lossy().ends_with(" (deleted)") {
        return Err("this program was updated while it ran; it restarts at the next login".into());
    }
    Ok(exe)
}

/// At start, in a restarted program: waits (up to 5 s) until the session bus has let go of the
/// single-instance name the replaced program held (its connection closed at the `exec`; the bus
/// daemon notices just after), or the single-instance check would find it still taken.
pub fn wait_for_previous() {
    if std::env::var_os(RELAUNCHED_ENV).is_none() {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        reap_inherited_children();
        let name = format!("{}.SingleInstance", crate::APP_ID);
        let Ok(conn) = zbus::blocking::Connection::session() else { return };
        let Ok(bus) = zbus::blocking::fdo::DBusProxy::new(&conn) else { return };
        let Ok(name) = zbus::names::BusName::try_from(name.as_str()) else { return };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while bus.name_has_owner(name.clone()).unwrap_or(false) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The replaced program's children are this process's still (WebKit's network process, which
/// ends once its connection is gone; the demo's server, ended by its parent-death signal): they
/// are waited for, so none is left a zombie. WebKit's are ended after 5 s if still running;
/// any other child (one a wrapper started before it ran this program) is only waited for.
#[cfg(target_os = "linux")]
fn reap_inherited_children() {
    extern "C" {
        fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
        fn kill(pid: i32, sig: i32) -> i32;
    }
    const WNOHANG: i32 = 1;
    const SIGKILL: i32 = 9;
    let me = std::process::id();
    // (pid, whether it is WebKit's), of this process's children.
    let mut left: Vec<(i32, bool)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            // The command name is in parentheses and may hold spaces; the parent id is the
            // second field after it.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let parent = rest.split_whitespace().nth(1)?.parse::<u32>().ok()?;
            let webkit = head.split_once('(').is_some_and(|(_, name)| name.starts_with("WebKit"));
            (parent == me).then_some((pid, webkit))
        })
        .collect();
    if left.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while !left.is_empty() && start.elapsed() < Duration::from_secs(30) {
            // SAFETY: waitpid and kill on pids that are this process's own children (found
            // above, before this program started any, and reaped by nothing else); a reaped pid
            // leaves the list at once, so none is signalled after it could have been reused.
            left.retain(|&(pid, _)| unsafe { waitpid(pid, std::ptr::null_mut(), WNOHANG) } == 0);
            if start.elapsed() > Duration::from_secs(5) {
                for &(pid, webkit) in &left {
                    if webkit {
                        unsafe { kill(pid, SIGKILL) };
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_programs_file_is_found() {
        assert!(current_exe().is_ok_and(|p| p.is_file()));
    }

    #[test]
    fn it_never_restarts_while_something_runs() {
        let t = tempfile::tempdir().unwrap();
        let state = crate::state::AppState::with_paths(t.path().join("hrsm-backup.toml"), t.path().to_path_buf(), None)
            .unwrap();
        {
            let (_job, _) = crate::jobs::Busy::claim(&state, "Backing up…").unwrap();
            assert_eq!(take_slot(&state).err().as_deref(), Some("a backup, restore or check is running"));
        }
        state.copying.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(take_slot(&state).err().as_deref(), Some("an off-site copy is being made"));
        state.copying.store(false, std::sync::atomic::Ordering::SeqCst);
        crate::scheduler::set_ticking(true);
        assert_eq!(take_slot(&state).err().as_deref(), Some("the scheduler is at work"));
        crate::scheduler::set_ticking(false);
        let slot = take_slot(&state).expect("free when nothing runs");
        // Held until the restart: no job can start meanwhile.
        assert!(state.is_running() && crate::jobs::Busy::claim(&state, "Backing up…").is_err());
        drop(slot);
        assert!(!state.is_running());
    }

    #[test]
    fn the_delay_is_at_least_a_second_and_off_under_webdriver() {
        assert_eq!(delay(None, None), Some(DEFAULT_AFTER));
        assert_eq!(delay(None, Some("0")), Some(Duration::from_secs(1)));
        assert_eq!(delay(None, Some(" 90 ")), Some(Duration::from_secs(90)));
        assert_eq!(delay(None, Some("OFF")), None);
        assert_eq!(delay(None, Some("nonsense")), Some(DEFAULT_AFTER));
        assert_eq!(delay(Some("true"), None), None);
    }
}
