//! Named crash points for the crash-safety tests. Built only with the `fault-injection`
//! feature (scripts/test enables it; release builds never do): then, when `HRSM_FAULT_POINT`
//! names a point, the process kills itself there with SIGKILL: no destructor runs and nothing
//! is flushed, like a power cut. Without the feature a point is an empty inline function.
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

/// Whether this build carries the crash points (tests that need them check it).
pub const ENABLED: bool = cfg!(feature = "fault-injection");
