//! The header and chunk reader on arbitrary bytes: it must reject or decrypt, never panic, and
//! never return a payload for input it did not authenticate.
#![no_main]
use hrsm_backup::{open_all, MasterKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_bytes([0x42; 32]);
    let _ = open_all(data, &key);
});
