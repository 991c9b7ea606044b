//! A second implementation, written from docs/FORMAT.md alone (tests/interop/decrypt.py, Python
//! + `cryptography`), must read what the Rust code writes and agree on every vector.

use std::process::Command;

use hrsm_backup::SourceConfig;

use super::util::*;

fn python() -> Command {
    let c = Command::new("python3");
    let probe = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .expect("python3 must be installed (.ci/run installs it)");
    assert!(
        probe.status.success(),
        "python3 needs the `cryptography` package (.ci/run installs it): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    c
}

fn script() -> std::path::PathBuf {
    repo_root().join("tests/interop/decrypt.py")
}

#[test]
fn python_decryptor_reads_our_archive_and_tar_lists_it() {
    let t = tmp();
    let src = t.path().join("data");
    sample_tree(&src);
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("data", &src)], 64 * 1024);
    let out = t.path().join("py.tar.gz");
    let o =
        python().arg(script()).arg(&done.archive).arg(&out).env("BACKUP_ENCRYPTION_KEY", key_hex()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let listing = Command::new("tar").arg("-tzf").arg(&out).output().unwrap();
    assert!(listing.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout).lines().map(str::to_owned).collect();
    assert_eq!(names[0], "manifest.json");
    assert!(names.iter().any(|n| n == "files/data/contracts/big-random.pdf"), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(&format!("{}.txt", "f".repeat(140)))), "long pax names survive");
    let x = t.path().join("x");
    std::fs::create_dir(&x).unwrap();
    assert!(Command::new("tar").arg("-xzpf").arg(&out).arg("-C").arg(&x).status().unwrap().success());
    assert_eq!(snapshot(&src), snapshot(&x.join("files/data")));
}

#[test]
fn python_decryptor_agrees_on_every_vector() {
    let dir = repo_root().join("tests/vectors");
    let o = python().arg(script()).arg("--vectors").arg(&dir).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains(" passed, 0 failed"), "{summary}");
}

#[test]
fn python_decryptor_rejects_a_tampered_archive() {
    let t = tmp();
    write(&t.path().join("d/x.txt"), b"x", 0o644, 1_700_000_000);
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("d", t.path().join("d"))], 1 << 20);
    let mut bytes = std::fs::read(&done.archive).unwrap();
    let n = bytes.len();
    bytes[n - 50] ^= 1;
    std::fs::write(&done.archive, &bytes).unwrap();
    let out = t.path().join("py.tar.gz");
    let o =
        python().arg(script()).arg(&done.archive).arg(&out).env("BACKUP_ENCRYPTION_KEY", key_hex()).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("reject: chunk-damaged"));
    assert!(!out.exists());
}
