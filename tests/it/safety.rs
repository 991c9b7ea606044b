//! Regression tests of issue 8 ("nothing lost, nothing leaked"): each failed before its fix.
//! Set-id bits, verified-but-unrestorable archives, stale catalog status, size lies, locks,
//! exit codes and messages, and a repository that needs nothing beside it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use hrsm_backup::{
    restore_files, verify_archive, Catalog, DestinationLock, EntryType, Event, FileRestoreOptions, NoProgress,
    Progress, SourceConfig, Status,
};
use tar::EntryType as T;

use super::hostile::{entry, forge, raw, SHA_X};
use super::util::*;

/// Counts the bytes a restore or verify reports as written or read.
#[derive(Default)]
struct Counted(AtomicU64);

impl Progress for Counted {
    fn event(&self, e: Event) {
        if let Event::Advance(n) = e {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }
}

fn status_of(dest: &Path, id: &str) -> (Status, bool, Option<String>) {
    let e = Catalog::existing(dest).unwrap().get(id).unwrap().unwrap();
    (e.status, e.verified, e.error)
}

/// Defect 1: a set-uid file owned by anyone came back, restored as root, as `-rwsr-xr-x root`.
#[test]
fn set_id_bits_are_recorded_but_never_restored() {
    let t = tmp();
    let src = t.path().join("uploads");
    write(&src.join("suid"), b"#!/bin/sh\nid\n", 0o4755, 1_700_000_000);
    write(&src.join("sgid"), b"#!/bin/sh\nid\n", 0o2755, 1_700_000_000);
    fs::create_dir_all(src.join("shared")).unwrap();
    fs::set_permissions(src.join("shared"), fs::Permissions::from_mode(0o1777)).unwrap();
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("uploads", &src)], 1 << 20);
    let recorded: Vec<(String, u32)> = done.manifest.entries.iter().map(|e| (e.path.clone(), e.mode)).collect();
    assert!(recorded.contains(&("files/uploads/suid".into(), 0o4755)), "{recorded:?}");
    let target = t.path().join("restored");
    restore_all(&done.archive, &target).unwrap();
    let mode = |p: &str| fs::metadata(target.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("uploads/suid"), 0o755, "set-uid must never be applied");
    assert_eq!(mode("uploads/sgid"), 0o755, "set-gid must never be applied");
    assert_eq!(mode("uploads/shared"), 0o1777, "the sticky bit is kept");
}

/// Defect 2: an absolute link (Let's Encrypt's), a link out of its source or a chain was backed
/// up and verified, and then restore refused the whole archive.
#[test]
fn a_backup_that_verified_restores_links_no_restore_could_make_are_left_out() {
    let t = tmp();
    let src = t.path().join("config");
    write(&src.join("ssl/archive/cert1.pem"), b"-----BEGIN CERTIFICATE-----", 0o644, 1_700_000_000);
    fs::create_dir_all(src.join("ssl/live")).unwrap();
    std::os::unix::fs::symlink("../archive/cert1.pem", src.join("ssl/live/cert.pem")).unwrap();
    std::os::unix::fs::symlink("/etc/letsencrypt/live/hr.example/privkey.pem", src.join("ssl/live/privkey.pem"))
        .unwrap();
    std::os::unix::fs::symlink("../../elsewhere", src.join("ssl/outside")).unwrap();
    std::os::unix::fs::symlink("ssl", src.join("l1")).unwrap();
    std::os::unix::fs::symlink("l1/live", src.join("chain")).unwrap();
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("config", &src)], 1 << 20);
    assert!(done.entry.verified);
    let warnings = done.manifest.warnings.join("\n");
    for (name, why) in
        [("ssl/live/privkey.pem", "absolute path"), ("ssl/outside", "outside its source"), ("chain", "another link")]
    {
        assert!(
            warnings.contains(&format!("{}", src.join(name).display())) && warnings.contains(why),
            "{name}: {warnings}"
        );
    }
    let kept: Vec<&str> = done.manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(kept.contains(&"files/config/ssl/live/cert.pem") && kept.contains(&"files/config/l1"), "{kept:?}");
    let target = t.path().join("restored");
    restore_all(&done.archive, &target).expect("a verified backup must restore");
    assert_eq!(fs::read_link(target.join("config/ssl/live/cert.pem")).unwrap(), Path::new("../archive/cert1.pem"));
}

/// Defect 2, reader side: what restore refuses, verify refuses too (a verified archive is a
/// restorable one), and an entry outside files/ and mongo/ is refused by both.
#[test]
fn verify_and_restore_refuse_the_same_archives() {
    let t = tmp();
    let absolute = forge(
        t.path(),
        vec![
            entry("files/s", EntryType::Dir, None, None, None),
            entry("files/s/l", EntryType::Symlink, None, None, Some("/etc/ssl/private")),
        ],
        |b| {
            raw(b, "files/s", T::Directory, "", b"");
            raw(b, "files/s/l", T::Symlink, "/etc/ssl/private", b"");
        },
    );
    let err = verify_archive(&absolute, &key(), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("symbolic link to an absolute path"), "{err}");
    let err = restore_all(&absolute, &t.path().join("r1")).unwrap_err().to_string();
    assert!(err.contains("symbolic link to an absolute path"), "{err}");

    let outside = forge(t.path(), vec![entry("files/s", EntryType::Dir, None, None, None)], |b| {
        raw(b, "files/s", T::Directory, "", b"");
        raw(b, "etc/cron.d/evil", T::Regular, "", b"x");
    });
    let err = verify_archive(&outside, &key(), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("outside files/ and mongo/"), "{err}");
    let err = restore_all(&outside, &t.path().join("r2")).unwrap_err().to_string();
    assert!(err.contains("outside files/ and mongo/"), "restore used to skip it silently: {err}");

    let long = format!("files/s/{}", "n".repeat(256));
    let too_long = forge(
        t.path(),
        vec![
            entry("files/s", EntryType::Dir, None, None, None),
            entry(&long, EntryType::File, Some(1), Some(SHA_X), None),
        ],
        |b| {
            raw(b, "files/s", T::Directory, "", b"");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(T::Regular);
            h.set_size(1);
            h.set_mode(0o644);
            b.append_data(&mut h, &long, &b"x"[..]).unwrap();
        },
    );
    let err = verify_archive(&too_long, &key(), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("longer than 255 bytes"), "{err}");
    let err = restore_all(&too_long, &t.path().join("r3")).unwrap_err().to_string();
    assert!(err.contains("longer than 255 bytes"), "{err}");
}

/// Defect 3: one failed verify left the entry FAILED for good, so `latest` skipped a good
/// archive; a wrong key marked it too; a restore that found damage did not.
#[test]
fn the_catalog_always_shows_the_latest_finding() {
    let t = tmp();
    write(&t.path().join("d/x"), &random_bytes(200_000, 9), 0o644, 1_700_000_000);
    write_config(t.path(), &t.path().join("d"));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "--json", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let dest = t.path().join("backups");
    let listing = Catalog::existing(&dest).unwrap().list().unwrap();
    let id = listing.entries[0].id.clone();
    let archive = dest.join(format!("{id}.hrsmbk"));
    let good = fs::read(&archive).unwrap();

    // A wrong key says nothing about the archive: nothing is marked.
    let wrong = hrsm_backup::MasterKey::from_bytes([7; 32]);
    assert!(verify_archive(&archive, &wrong, &NoProgress).is_err());
    assert_eq!(status_of(&dest, &id).0, Status::Ok);

    // Damage found by verify marks it failed ...
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    fs::write(&archive, &bad).unwrap();
    assert!(verify_archive(&archive, &key(), &NoProgress).is_err());
    assert_eq!(status_of(&dest, &id).0, Status::Failed);
    // ... and the good file put back and verified again is good again, and `latest` again.
    fs::write(&archive, &good).unwrap();
    verify_archive(&archive, &key(), &NoProgress).unwrap();
    let (status, verified, error) = status_of(&dest, &id);
    assert_eq!((status, verified, error), (Status::Ok, true, None));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "verify", "latest"]);
    assert!(o.status.success(), "latest must find the good archive again: {}", text(&o));

    // A restore that finds damage records it as well.
    fs::write(&archive, &bad).unwrap();
    assert!(restore_all(&archive, &t.path().join("restored")).is_err());
    let (status, verified, error) = status_of(&dest, &id);
    assert_eq!((status, verified), (Status::Failed, false));
    assert!(error.unwrap_or_default().contains("failed authentication"));
}

/// Defect 8: desktop restore and verify took no lock, so a prune could delete the archive
/// being read. Now every operation on a backup folder takes it.
#[test]
fn verify_and_restore_take_the_folder_lock() {
    let t = tmp();
    write(&t.path().join("d/x"), b"x", 0o644, 1_700_000_000);
    let dest = t.path().join("backups");
    let done = backup_of(&dest, vec![SourceConfig::folder("d", t.path().join("d"))], 1 << 20);
    let held = DestinationLock::acquire(&dest, "a prune").unwrap();
    for err in [
        verify_archive(&done.archive, &key(), &NoProgress).err(),
        restore_all(&done.archive, &t.path().join("restored")).err(),
        hrsm_backup::prune_destination(&dest, &hrsm_backup::RetentionPolicy::default(), true).err(),
    ] {
        let err = err.expect("ran while another operation held the folder").to_string();
        assert!(err.contains("is busy") && err.contains("a prune by pid"), "{err}");
    }
    drop(held);
    verify_archive(&done.archive, &key(), &NoProgress).unwrap();
}

/// Defect 10: restore trusted the tar header's size: a manifest saying 9 bytes over a 4.5 MB
/// entry wrote it all (filling the disk) before failing. Now nothing past the manifest's size.
#[test]
fn a_size_that_lies_stops_before_a_byte_is_written() {
    let t = tmp();
    let big = random_bytes(4_500_000, 3);
    let a = forge(
        t.path(),
        vec![
            entry("files/s", EntryType::Dir, None, None, None),
            entry("files/s/x", EntryType::File, Some(9), Some(SHA_X), None),
        ],
        |b| {
            raw(b, "files/s", T::Directory, "", b"");
            raw(b, "files/s/x", T::Regular, "", &big);
        },
    );
    for (what, result, counted) in [
        {
            let c = Counted::default();
            let r = restore_files(
                &a,
                &key(),
                &FileRestoreOptions { target: t.path().join("r"), only: None, overwrite: false, in_place: false },
                &c,
            );
            ("restore", r.err().map(|e| e.to_string()), c.0.load(Ordering::Relaxed))
        },
        {
            let c = Counted::default();
            let r = verify_archive(&a, &key(), &c);
            ("verify", r.err().map(|e| e.to_string()), c.0.load(Ordering::Relaxed))
        },
    ] {
        let err = result.unwrap_or_else(|| panic!("{what} accepted a size lie"));
        assert!(err.contains("is 4500000 bytes in the archive but the manifest says 9"), "{what}: {err}");
        assert_eq!(counted, 0, "{what} read or wrote {counted} bytes of the lying entry");
    }
    assert!(!t.path().join("r").exists());
}

/// Defect 11: runtime failures exited 2 (usage), `--overwrite` was suggested where it cannot
/// help, and a typo in BACKUPS_ENABLED enabled backups.
#[test]
fn exit_codes_and_messages_tell_the_truth() {
    let t = tmp();
    write(&t.path().join("d/x"), b"x", 0o644, 1_700_000_000);
    write_config(t.path(), &t.path().join("d"));
    fs::create_dir_all(t.path().join("backups")).unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest", "--files-to", "out"]);
    assert_eq!(o.status.code(), Some(1), "no good backup is a failure, not a usage error: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("there is no good backup"), "{}", text(&o));

    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    // The target has a link where the backup has a file: --overwrite cannot fix that.
    fs::create_dir_all(t.path().join("out/data")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", t.path().join("out/data/x")).unwrap();
    for args in [&["--overwrite"][..], &[][..]] {
        let mut all = vec!["--config", "hrsm-backup.toml", "restore", "latest", "--files-to", "out"];
        all.extend_from_slice(args);
        let o = cli(t.path(), &all);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("--overwrite") && err.contains("never replaces"), "{err}");
    }
    // A plain file in the way: there --overwrite is the answer.
    fs::remove_file(t.path().join("out/data/x")).unwrap();
    fs::write(t.path().join("out/data/x"), b"local").unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "restore", "latest", "--files-to", "out"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("(pass --overwrite to replace them)"), "{}", text(&o));

    let o = std::process::Command::new(bin())
        .args(["--config", "hrsm-backup.toml", "backup"])
        .current_dir(t.path())
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .env("BACKUPS_ENABLED", "flase")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("BACKUPS_ENABLED=\"flase\" is not understood"), "{}", text(&o));
}

/// Defect 7: tests read ../shared/fixtures, so a clone alone could not pass its own tests.
#[test]
fn the_repository_needs_nothing_beside_it() {
    let root = &repo_root();
    let mut offenders = Vec::new();
    for dir in ["src", "tests", "scripts", "bench", "src-tauri/src", "src-tauri/tests", "fuzz"] {
        for e in walkdir::WalkDir::new(root.join(dir)).into_iter().filter_map(|e| e.ok()) {
            let p = e.path();
            let code = matches!(p.extension().and_then(|x| x.to_str()), Some("rs" | "py" | "sh" | "js"))
                || (p.parent().map(|d| d.ends_with("scripts")).unwrap_or(false) && e.file_type().is_file());
            if !code || p.ends_with("safety.rs") {
                continue;
            }
            let text = fs::read_to_string(p).unwrap_or_default();
            if text.lines().any(|l| !l.trim_start().starts_with("//") && l.contains("../shared/")) {
                offenders.push(p.display().to_string());
            }
        }
    }
    assert!(offenders.is_empty(), "these read files outside the repository: {offenders:?}");
    assert!(root.join("tests/fixtures/mongodump/NOTICE.md").exists(), "the fixtures' license notice");
}

/// The engine's `run_backup_if_due`: busy while another run holds the folder, a backup when the
/// slot is due, not due once the slot's run is in the history, and nothing written when it does
/// not run. (That the decision is made holding the lock is
/// `cli::backup_if_due_decides_from_the_history_it_sees_holding_the_lock`.)
#[test]
fn a_backup_if_due_decides_holding_the_folder_lock() {
    let t = tmp();
    write(&t.path().join("d/x"), b"x", 0o644, 1_700_000_000);
    let dest = t.path().join("backups");
    let opts = hrsm_backup::BackupOptions {
        destination: dest.clone(),
        sources: vec![SourceConfig::folder("d", t.path().join("d"))],
        mongo: None,
        payload: hrsm_backup::PayloadOptions { block_size: 1 << 20, level: 6, threads: 2 },
        verify: true,
        retention: None,
        trigger: hrsm_backup::Trigger::Scheduled,
    };
    let schedule = hrsm_backup::Schedule::daily("02:00", "Africa/Cairo").unwrap();
    let if_due = || hrsm_backup::run_backup_if_due(&opts, &schedule, &key(), &NoProgress, Box::new(rand::rngs::OsRng));
    let entries = || hrsm_backup::Catalog::existing(&dest).map(|c| c.list().unwrap().entries.len()).unwrap_or(0);

    hrsm_backup::Catalog::open(&dest).unwrap();
    let held = DestinationLock::acquire(&dest, "a backup").unwrap();
    let err = if_due().expect_err("ran while another run held the folder").to_string();
    assert!(err.contains("is busy"), "{err}");
    drop(held);
    assert_eq!(entries(), 0);

    assert!(matches!(if_due().unwrap(), hrsm_backup::IfDue::Ran(_)));
    assert_eq!(entries(), 1);
    // The slot's run is in the history now: the next start finds nothing due, under the lock.
    match if_due().unwrap() {
        hrsm_backup::IfDue::NotDue(hrsm_backup::SlotDecision::Wait { .. }) => {}
        other => panic!("expected not due, got {other:?}"),
    }
    assert_eq!(entries(), 1, "no second backup of one slot");
}
