mod bad_input;
mod cli;
mod fixtures;
mod hostile;
mod interop;
mod mongo;
mod roundtrip;
pub mod util;
