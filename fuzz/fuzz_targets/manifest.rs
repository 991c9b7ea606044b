//! The manifest parser on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = hrsm_backup::Manifest::parse(data) {
        let _ = hrsm_backup::mongo::MongoPart::of(&m);
        let _ = m.file_bytes();
    }
});
