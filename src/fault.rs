//! Named crash points for the crash-safety tests, and pauses for the race tests. Built only
//! with the `fault-injection` feature (scripts/test enables it; release builds never do): then,
//! when `HRSM_FAULT_POINT` names a point, the process kills itself there with SIGKILL: no
//! destructor runs and nothing is flushed, like a power cut. Without the feature a point (and a
//! pause) is an empty inline function.
//!
//! Depends on nothing.

#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    use std::sync::OnceLock;
    static WANT: OnceLock<Option<String>> = OnceLock::new();
    if WANT.get_or_init(|| std::env::var("HRSM_FAULT_POINT").ok().filter(|v| !v.is_empty())).as_deref() == Some(name) {
        #[cfg(unix)]
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        #[cfg(not(unix))]
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// A named pause for the race tests, with the same feature: when `HRSM_FAULT_PAUSE` names the
/// point, the process writes `<name>.reached` into `HRSM_FAULT_DIR` and waits there (up to a
/// minute) until the test has made `<name>.go`, so a test can change the world at exactly
/// that moment.
#[cfg(feature = "fault-injection")]
pub fn pause(name: &str) {
    if std::env::var("HRSM_FAULT_PAUSE").ok().as_deref() != Some(name) {
        return;
    }
    let Some(dir) = std::env::var_os("HRSM_FAULT_DIR").map(std::path::PathBuf::from) else { return };
    let _ = std::fs::write(dir.join(format!("{name}.reached")), b"");
    let go = dir.join(format!("{name}.go"));
    let start = std::time::Instant::now();
    while !go.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn pause(_name: &str) {}

/// Whether this build carries the crash points (tests that need them check it).
pub const ENABLED: bool = cfg!(feature = "fault-injection");
