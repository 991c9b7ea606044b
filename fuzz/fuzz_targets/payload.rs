//! Everything after decryption: arbitrary bytes are sealed with the right key (so they pass
//! authentication, as an archive made by a hostile key holder would), then verified and
//! restored. No panic, and nothing is ever written outside the target.
#![no_main]
use std::io::Write;

use hrsm_backup::{restore_files, verify_archive, ContainerWriter, FileRestoreOptions, MasterKey, NoProgress};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_bytes([0x42; 32]);
    // Half the inputs as raw payload, half gzip-wrapped so the tar layer is reached often.
    let payload = if data.first().is_some_and(|b| b & 1 == 1) {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data[1..]).unwrap();
        gz.finish().unwrap()
    } else {
        data.to_vec()
    };
    let sealed = ContainerWriter::new(Vec::new(), &key, 1 << 16, rand::rngs::OsRng).unwrap().write_all_final(&payload).unwrap();
    let dir = std::env::temp_dir().join(format!("hrsm-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("a.hrsmbk");
    std::fs::write(&archive, &sealed).unwrap();
    let _ = verify_archive(&archive, &key, &NoProgress);
    let target = dir.join("inside/target");
    let _ = restore_files(&archive, &key, &FileRestoreOptions { target: target.clone(), only: None, overwrite: false, in_place: false }, &NoProgress);
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name();
        // The archive, the restore target, and the folder lock verify and restore take.
        let expected = ["a.hrsmbk", "inside", ".lock", ".lock.holder"];
        assert!(expected.iter().any(|e| name == *e), "a restore wrote outside its target: {name:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
});
