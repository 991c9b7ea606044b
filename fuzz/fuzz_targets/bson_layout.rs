//! The mongodump layout readers: BSON document boundaries, `.metadata.json`, name unescaping.
#![no_main]
use hrsm_backup::mongo::layout::{file_stem, parse_metadata, query_unescape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hrsm_backup::mongo::scan_bson_reader(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_metadata(text);
        if let Some(name) = query_unescape(text) {
            assert!(file_stem(&name).len() <= 238 + 3 + 27);
        }
    }
});
