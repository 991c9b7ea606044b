mod backuplog;
mod bad_input;
mod cli;
mod crash;
mod discover;
mod fixtures;
mod hostile;
mod interop;
mod keychain;
mod legacy;
mod mongo;
mod retention;
mod roundtrip;
mod safety;
#[path = "../common/site.rs"]
pub mod site;
mod tamper;
pub mod util;
