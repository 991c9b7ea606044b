mod bad_input;
mod cli;
mod hostile;
mod interop;
mod roundtrip;
pub mod util;
