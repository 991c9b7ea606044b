//! Walks tests/vectors/ and checks every vector against the reader, and checks that the files
//! are exactly what the generator makes (so they can never drift from the code).

#[path = "common/vectorgen.rs"]
mod vectorgen;

use std::collections::BTreeMap;
use std::path::Path;

use hrsm_backup::{open_all, MasterKey};

const KNOWN: &[&str] = &[
    "ok",
    "truncated",
    "not-an-archive",
    "unsupported",
    "bad-header",
    "wrong-key",
    "header-damaged",
    "bad-chunk",
    "chunk-damaged",
    "trailing-data",
];

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn every_vector_gives_its_expected_result() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut seen = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("vec") {
            continue;
        }
        let fields = parse(&std::fs::read_to_string(&path).unwrap());
        let expect = fields.get("expect").unwrap_or_else(|| panic!("{}: no expect line", path.display()));
        assert!(KNOWN.contains(&expect.as_str()), "{}: unknown expectation {expect:?}", path.display());
        let key: [u8; 32] = hex::decode(&fields["key"]).unwrap().try_into().unwrap();
        let archive = hex::decode(&fields["archive"]).unwrap();
        let got = open_all(&archive, &MasterKey::from_bytes(key));
        match (expect.as_str(), got) {
            ("ok", Ok(payload)) => assert_eq!(hex::encode(payload), fields["payload"], "{}", path.display()),
            ("ok", Err(e)) => panic!("{}: expected ok, got {e}", path.display()),
            (want, Ok(_)) => panic!("{}: expected {want}, but it decrypted", path.display()),
            (want, Err(e)) => assert_eq!(e.kind(), want, "{}: {e}", path.display()),
        }
        kinds.insert(expect.clone());
        seen += 1;
    }
    assert!(seen >= 45, "only {seen} vectors in {}", dir.display());
    assert_eq!(kinds.len(), KNOWN.len(), "some expectation has no vector: {kinds:?}");
}

#[test]
fn vector_files_match_the_generator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let made: std::collections::BTreeSet<String> = vectorgen::all().iter().map(|v| format!("{}.vec", v.name)).collect();
    assert_eq!(made.len(), vectorgen::all().len(), "two vectors share a name");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            !name.ends_with(".vec") || made.contains(&name),
            "{name} is not made by the generator: remove it or add it to tests/common/vectorgen.rs"
        );
    }
    for v in vectorgen::all() {
        let on_disk = std::fs::read_to_string(dir.join(format!("{}.vec", v.name)))
            .unwrap_or_else(|_| panic!("{}.vec missing: run `cargo run --example gen_vectors`", v.name));
        assert_eq!(
            on_disk,
            v.to_text(),
            "{}.vec differs from the generator: run `cargo run --example gen_vectors`",
            v.name
        );
    }
}

#[test]
fn wrong_key_error_names_the_key_the_archive_needs() {
    let v = vectorgen::all().into_iter().find(|v| v.name == "wrong-key").unwrap();
    let err = open_all(&v.archive, &MasterKey::from_bytes(v.key)).unwrap_err().to_string();
    let needed = hex::encode(&v.archive[16..32]);
    assert!(err.contains(&needed) && err.contains("key import"), "{err}");
}

#[test]
fn damaged_key_id_reads_as_wrong_key_or_damaged_header() {
    let v = vectorgen::all().into_iter().find(|v| v.name == "wrong-key-damaged-key-id").unwrap();
    let key = MasterKey::from_bytes(v.key);
    let err = open_all(&v.archive, &key).unwrap_err().to_string();
    let named = hex::encode(&v.archive[16..32]);
    assert!(err.starts_with("wrong key or damaged header"), "{err}");
    assert!(err.contains(&named) && err.contains(&key.id().to_string()), "{err}");
}
