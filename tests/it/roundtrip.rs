//! Backups come back exactly: bytes, modes, mtimes, links, long and non-ASCII names.

use std::fs;
use std::process::Command;

use hrsm_backup::{restore_files, FileRestoreOptions, NoProgress, OnUnreadable, SourceConfig};

use super::util::*;

#[test]
fn folder_tree_round_trip_is_byte_identical_with_modes_and_mtimes() {
    let t = tmp();
    let src = t.path().join("src/data");
    sample_tree(&src);
    // 64 KiB blocks: the 3 MiB file spans ~50 chunks, so chunk order and gzip members matter.
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("data", &src)], 64 * 1024);
    assert!(done.entry.verified);
    assert_eq!(done.entry.files, 11);
    let out = t.path().join("restored");
    let report = restore_all(&done.archive, &out).unwrap();
    assert_eq!(report.plan.files, 11);
    assert_eq!(report.plan.symlinks, 2);
    assert_eq!(snapshot(&src), snapshot(&out.join("data")));
    let leftovers: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec!["data"], "the staging folder must be gone");
}

#[test]
fn plain_tar_reads_the_decrypted_payload() {
    let t = tmp();
    let src = t.path().join("data");
    sample_tree(&src);
    write_config(t.path(), &src);
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "decrypt", "latest", "-o", "plain.tar.gz"]);
    assert!(o.status.success(), "{}", text(&o));
    let x = t.path().join("x");
    fs::create_dir(&x).unwrap();
    let tar = Command::new("tar").arg("-xzpf").arg(t.path().join("plain.tar.gz")).arg("-C").arg(&x).output().unwrap();
    assert!(tar.status.success(), "tar: {}", String::from_utf8_lossy(&tar.stderr));
    let names = Command::new("tar").arg("-tzf").arg(t.path().join("plain.tar.gz")).output().unwrap();
    let first = String::from_utf8_lossy(&names.stdout).lines().next().unwrap_or_default().to_string();
    assert_eq!(first, "manifest.json", "the manifest must be the first entry");
    assert_eq!(snapshot(&src), snapshot(&x.join("files/data")));
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(x.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "hrsm-backup-manifest");
    assert!(manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"] == "files/data/one.txt" && e["sha256"].as_str().unwrap().len() == 64));
}

#[test]
fn only_the_chosen_source_is_restored() {
    let t = tmp();
    write(&t.path().join("a/x.txt"), b"a", 0o644, 1_700_000_000);
    write(&t.path().join("b/y.txt"), b"b", 0o644, 1_700_000_000);
    let done = backup_of(
        &t.path().join("backups"),
        vec![
            SourceConfig::folder("uploads", t.path().join("a")),
            SourceConfig::folder("license-keys", t.path().join("b")),
        ],
        1 << 20,
    );
    let out = t.path().join("out");
    restore_files(
        &done.archive,
        &key(),
        &FileRestoreOptions {
            target: out.clone(),
            only: Some("license-keys".into()),
            overwrite: false,
            in_place: false,
        },
        &NoProgress,
    )
    .unwrap();
    assert!(out.join("license-keys/y.txt").exists());
    assert!(!out.join("uploads").exists());
    let err = restore_files(
        &done.archive,
        &key(),
        &FileRestoreOptions { target: out, only: Some("nope".into()), overwrite: false, in_place: false },
        &NoProgress,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "source \"nope\" is not in this backup; it holds: uploads, license-keys");
}

#[test]
fn include_and_exclude_globs_select_what_is_backed_up() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    write(&root.join(".env"), b"PORT=5000", 0o600, 1_700_000_000);
    write(&root.join("server/config/db.js"), b"module.exports={}", 0o644, 1_700_000_000);
    write(&root.join("server/index.js"), b"big app code", 0o644, 1_700_000_000);
    write(&root.join("uploads/a.tmp"), b"temp", 0o644, 1_700_000_000);
    write(&root.join("uploads/a.pdf"), b"pdf", 0o644, 1_700_000_000);
    let config = SourceConfig {
        include: vec![".env".into(), "server/config/**".into()],
        ..SourceConfig::folder("config", &root)
    };
    let uploads =
        SourceConfig { exclude: vec!["*.tmp".into()], ..SourceConfig::folder("uploads", root.join("uploads")) };
    let done = backup_of(&t.path().join("backups"), vec![config, uploads], 1 << 20);
    let paths: Vec<&str> = done.manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "files/config",
            "files/config/.env",
            "files/config/server",
            "files/config/server/config",
            "files/config/server/config/db.js",
            "files/uploads",
            "files/uploads/a.pdf"
        ]
    );
}

#[test]
fn a_single_file_can_be_a_source() {
    let t = tmp();
    write(&t.path().join("keys/private.pem"), b"-----BEGIN KEY-----", 0o600, 1_700_000_000);
    let done = backup_of(
        &t.path().join("backups"),
        vec![SourceConfig::folder("license-key", t.path().join("keys/private.pem"))],
        1 << 20,
    );
    let out = t.path().join("out");
    restore_all(&done.archive, &out).unwrap();
    assert_eq!(fs::read(out.join("license-key/private.pem")).unwrap(), b"-----BEGIN KEY-----");
}

#[test]
fn thousands_of_small_files_round_trip() {
    let t = tmp();
    let src = t.path().join("uploads");
    for i in 0..3000 {
        write(
            &src.join(format!("emp{:03}/doc-{i}.txt", i % 97)),
            format!("document {i}").as_bytes(),
            0o644,
            1_700_000_000 + i,
        );
    }
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("uploads", &src)], 1 << 20);
    assert_eq!(done.entry.files, 3000);
    let out = t.path().join("out");
    restore_all(&done.archive, &out).unwrap();
    assert_eq!(snapshot(&src), snapshot(&out.join("uploads")));
}

#[test]
fn an_optional_missing_source_is_a_warning_not_a_silent_skip() {
    let t = tmp();
    write(&t.path().join("a/x"), b"x", 0o644, 1_700_000_000);
    let missing = SourceConfig {
        required: false,
        on_unreadable: OnUnreadable::Fail,
        ..SourceConfig::folder("gone", t.path().join("nope"))
    };
    let done =
        backup_of(&t.path().join("backups"), vec![SourceConfig::folder("a", t.path().join("a")), missing], 1 << 20);
    assert_eq!(done.manifest.warnings.len(), 1);
    assert!(done.manifest.warnings[0].contains("does not exist"), "{:?}", done.manifest.warnings);
    assert_eq!(done.entry.warnings, 1);
}
