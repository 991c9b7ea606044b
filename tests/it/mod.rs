mod bad_input;
mod cli;
mod hostile;
mod interop;
mod mongo;
mod roundtrip;
pub mod util;
