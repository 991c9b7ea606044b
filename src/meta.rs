//! Facts about this program and machine that runs and records carry: the app version and the
//! host name.
//!
//! Depends on nothing else in the crate.

pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}
