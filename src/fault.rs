//! Named crash points for the crash-safety tests. When `HRSM_FAULT_POINT` names a point, the
//! process kills itself there with SIGKILL: no destructor runs and nothing is flushed, like a
//! power cut. Costs one comparison when unset.
//!
//! Depends on nothing.

use std::sync::OnceLock;

pub fn point(name: &str) {
    static WANT: OnceLock<Option<String>> = OnceLock::new();
    if WANT.get_or_init(|| std::env::var("HRSM_FAULT_POINT").ok().filter(|v| !v.is_empty())).as_deref() == Some(name) {
        // SAFETY: signalling our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
