//! Bad input gets a clear error and loses nothing: wrong key, tampered, truncated or extended
//! archives, conflicts in the target, unreadable sources, a full disk.

use std::fs;
use std::path::Path;
use std::process::Command;

use hrsm_backup::{
    restore_files, run_backup, verify_archive, BackupOptions, Catalog, FileRestoreOptions, MasterKey, NoProgress,
    OnUnreadable, PayloadOptions, SourceConfig, Status,
};

use super::util::*;

/// A backup of a small tree (several chunks) and a target folder that already holds a file.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tmp();
    let src = t.path().join("data");
    sample_tree(&src);
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("data", &src)], 64 * 1024);
    let target = t.path().join("target");
    write(&target.join("keep.txt"), b"precious", 0o644, 1_700_000_000);
    (t, done.archive, target)
}

fn restore_into(archive: &Path, target: &Path, key: &MasterKey) -> hrsm_backup::Result<hrsm_backup::RestoreReport> {
    restore_files(
        archive,
        key,
        &FileRestoreOptions { target: target.to_path_buf(), only: None, overwrite: false, in_place: false },
        &NoProgress,
    )
}

fn assert_untouched(target: &Path) {
    let names: Vec<_> = fs::read_dir(target).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, vec!["keep.txt"], "the target must be exactly as before");
    assert_eq!(fs::read(target.join("keep.txt")).unwrap(), b"precious");
}

#[test]
fn wrong_key_names_the_key_the_archive_needs() {
    let (_t, archive, target) = setup();
    let other = MasterKey::from_bytes([7; 32]);
    let err = restore_into(&archive, &target, &other).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: wrong key or damaged header: this archive names key {}, but the key in use is {}; import the key {} with `hrsm-backup key import` or set BACKUP_ENCRYPTION_KEY (if that is already the key in use, the archive's header is damaged)",
            archive.display(),
            key().id(),
            other.id(),
            key().id()
        )
    );
    assert_untouched(&target);
}

#[test]
fn a_flipped_bit_anywhere_is_rejected_before_the_target_changes() {
    let (_t, archive, target) = setup();
    let good = fs::read(&archive).unwrap();
    let len = good.len();
    for at in [0, 9, 20, 40, 70, 95, 96, 100, 120, 1000, len / 3, len / 2, len - 40, len - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        fs::write(&archive, &bad).unwrap();
        let err = restore_into(&archive, &target, &key()).expect_err(&format!("flip at {at} was accepted"));
        let msg = err.to_string();
        assert!(
            [
                "not an HR-SM",
                "not supported",
                "header is invalid",
                "wrong key",
                "header failed authentication",
                "is malformed",
                "failed authentication"
            ]
            .iter()
            .any(|s| msg.contains(s)),
            "flip at {at}: {msg}"
        );
        assert_untouched(&target);
        assert!(verify_archive(&archive, &key(), &NoProgress).is_err());
    }
}

#[test]
fn truncation_anywhere_is_rejected_before_the_target_changes() {
    let (_t, archive, target) = setup();
    let good = fs::read(&archive).unwrap();
    for cut in [0, 10, 95, 96, 97, 500, good.len() / 2, good.len() - 33, good.len() - 1] {
        fs::write(&archive, &good[..cut]).unwrap();
        let err = restore_into(&archive, &target, &key()).expect_err(&format!("cut at {cut} was accepted"));
        assert!(
            err.to_string().contains("truncated") || err.to_string().contains("failed authentication"),
            "cut at {cut}: {err}"
        );
        assert_untouched(&target);
    }
    fs::write(&archive, &good[..good.len() / 2]).unwrap();
    let msg = verify_archive(&archive, &key(), &NoProgress).unwrap_err().to_string();
    assert!(
        msg.contains("the archive is truncated: it ends after") && msg.contains("without its final chunk"),
        "{msg}"
    );
}

#[test]
fn appended_data_is_rejected() {
    let (_t, archive, target) = setup();
    let mut bytes = fs::read(&archive).unwrap();
    bytes.extend_from_slice(b"garbage");
    fs::write(&archive, &bytes).unwrap();
    let msg = restore_into(&archive, &target, &key()).unwrap_err().to_string();
    assert!(msg.contains("data after its final chunk"), "{msg}");
    assert_untouched(&target);
}

#[test]
fn a_file_that_is_not_an_archive_says_so() {
    let t = tmp();
    let p = t.path().join("notes.txt");
    fs::write(&p, vec![b'a'; 500]).unwrap();
    let msg = verify_archive(&p, &key(), &NoProgress).unwrap_err().to_string();
    assert_eq!(msg, format!("{}: not an HR-SM Backup archive (bad magic bytes)", p.display()));
}

#[test]
fn existing_files_are_not_overwritten_unless_asked() {
    let t = tmp();
    write(&t.path().join("src/a.txt"), b"from backup", 0o644, 1_700_000_000);
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("data", t.path().join("src"))], 1 << 20);
    let target = t.path().join("target");
    write(&target.join("data/a.txt"), b"newer local edit", 0o644, 1_700_000_100);
    let err = restore_into(&done.archive, &target, &key()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "1 item(s) already exist in {}, e.g. {}; restore into an empty folder, or choose to replace existing files",
            target.display(),
            target.join("data/a.txt").display()
        )
    );
    assert_eq!(fs::read(target.join("data/a.txt")).unwrap(), b"newer local edit");
    restore_files(
        &done.archive,
        &key(),
        &FileRestoreOptions { target: target.clone(), only: None, overwrite: true, in_place: false },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(fs::read(target.join("data/a.txt")).unwrap(), b"from backup");
}

fn fifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn an_unbackupable_file_fails_the_run_naming_it_or_warns_if_configured() {
    let t = tmp();
    let src = t.path().join("src");
    write(&src.join("ok.txt"), b"ok", 0o644, 1_700_000_000);
    fifo(&src.join("pipe"));
    let opts = |on_unreadable| BackupOptions {
        destination: t.path().join("backups"),
        sources: vec![SourceConfig { on_unreadable, ..SourceConfig::folder("data", &src) }],
        mongo: None,
        payload: PayloadOptions::default(),
        verify: true,
        retention: None,
        trigger: Default::default(),
    };
    let err = run_backup(&opts(OnUnreadable::Fail), &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "source 'data': cannot back up {}: it is a named pipe (FIFO), which a backup cannot hold (fix it, exclude it, or set on_unreadable = \"warn\")",
            src.join("pipe").display()
        )
    );
    let listing = Catalog::existing(&t.path().join("backups")).unwrap().list().unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].status, Status::Failed, "a failed run is recorded as failed");
    assert!(listing.entries[0].archive.is_none());

    let done = run_backup(&opts(OnUnreadable::Warn), &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap();
    assert_eq!(done.manifest.warnings.len(), 1, "{:?}", done.manifest.warnings);
    assert!(done.manifest.warnings[0].contains("pipe"));
    assert_eq!(done.entry.files, 1);
}

#[test]
fn permission_denied_names_the_file() {
    // Root reads everything, so the CLI runs as `nobody` here; CI runs as root.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root to switch to nobody (CI runs as root)");
    let t = tmp();
    fs::set_permissions(t.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let src = t.path().join("src");
    write(&src.join("readable.txt"), b"ok", 0o644, 1_700_000_000);
    write(&src.join("secret.pdf"), b"no", 0o000, 1_700_000_000);
    fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let cfg = write_config(t.path(), &src);
    fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    // A copy of the binary that `nobody` can run, wherever the checkout lives.
    let exe = t.path().join("hrsm-backup");
    fs::copy(bin(), &exe).unwrap();
    fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&exe)
        .args(["--config", "hrsm-backup.toml", "backup"])
        .current_dir(t.path())
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("cannot back up {}: permission denied", src.join("secret.pdf").display())),
        "{}",
        text(&o)
    );
    assert!(!stderr.contains(&key_hex()));
}

#[test]
fn a_missing_source_says_what_to_fix() {
    let t = tmp();
    let opts = BackupOptions {
        destination: t.path().join("backups"),
        sources: vec![SourceConfig::folder("uploads", "/nonexistent/hr-sm/uploads")],
        mongo: None,
        payload: PayloadOptions::default(),
        verify: true,
        retention: None,
        trigger: Default::default(),
    };
    let err = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "source 'uploads': cannot open /nonexistent/hr-sm/uploads: no such file or directory; fix its path in the config file (or set required = false)"
    );
}

/// Mounts a small tmpfs for the life of the value.
struct SmallDisk(std::path::PathBuf);
impl SmallDisk {
    fn new(path: &Path, size: &str) -> Self {
        fs::create_dir_all(path).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs needs root (CI runs as root)");
        SmallDisk(path.to_path_buf())
    }
}
impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_clearly_and_keeps_old_backups() {
    let t = tmp();
    let disk = SmallDisk::new(&t.path().join("disk"), "1m");
    let src = t.path().join("src");
    write(&src.join("small.txt"), b"small", 0o644, 1_700_000_000);
    let dest = disk.0.join("daily");
    let first = backup_of(&dest, vec![SourceConfig::folder("data", &src)], 1 << 20);
    write(&src.join("big.bin"), &random_bytes(3 << 20, 9), 0o644, 1_700_000_000);
    let opts = BackupOptions {
        destination: dest.clone(),
        sources: vec![SourceConfig::folder("data", &src)],
        mongo: None,
        payload: PayloadOptions::default(),
        verify: true,
        retention: None,
        trigger: Default::default(),
    };
    let err = run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("cannot write {}/.hrsm-", dest.display())), "{msg}");
    assert!(msg.ends_with("no space left on the device; free space or choose another destination"), "{msg}");
    let leftovers: Vec<String> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    verify_archive(&first.archive, &key(), &NoProgress).expect("the earlier backup is intact");
}

#[test]
fn a_second_backup_while_one_runs_is_refused_and_the_lock_dies_with_its_holder() {
    let t = tmp();
    write(&t.path().join("d/x"), b"x", 0o644, 1_700_000_000);
    write_config(t.path(), &t.path().join("d"));
    let dest = t.path().join("backups");
    fs::create_dir_all(&dest).unwrap();
    // Another process holds the lock: `flock` from util-linux, like a running backup would.
    let mut holder = Command::new("flock").arg("-o").arg(dest.join(".lock")).args(["sleep", "30"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("backups is busy") && err.contains("wait for it to finish"), "{err}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let o = cli(t.path(), &["--config", "hrsm-backup.toml", "backup"]);
    assert!(o.status.success(), "the lock of a killed holder must not block: {}", text(&o));
}

/// Cancels once `after` items have been packed.
struct CancelAfter(std::sync::atomic::AtomicU64, u64);
impl hrsm_backup::Progress for CancelAfter {
    fn event(&self, _: hrsm_backup::Event) {}
    fn cancelled(&self) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= self.1
    }
}

/// A run the admin stops is recorded as cancelled (not failed), keeps no archive, and the
/// local log says "cancelled" too: the app shows it as neither a backup nor a failure.
#[test]
fn a_cancelled_run_is_recorded_as_cancelled_not_failed() {
    let t = tmp();
    let src = t.path().join("src");
    for i in 0..20 {
        write(&src.join(format!("f{i}.txt")), b"data", 0o644, 1_700_000_000);
    }
    let opts = BackupOptions {
        destination: t.path().join("backups"),
        sources: vec![SourceConfig::folder("data", &src)],
        mongo: None,
        payload: PayloadOptions::default(),
        verify: true,
        retention: None,
        trigger: Default::default(),
    };
    let err = run_backup(&opts, &key(), &CancelAfter(Default::default(), 3), Box::new(rand::rngs::OsRng)).unwrap_err();
    assert!(matches!(err, hrsm_backup::Error::Cancelled), "{err}");
    let listing = Catalog::existing(&t.path().join("backups")).unwrap().list().unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].status, Status::Cancelled);
    assert!(listing.entries[0].archive.is_none());
    let archives = fs::read_dir(t.path().join("backups"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("hrsmbk"));
    assert_eq!(archives.count(), 0, "nothing of the run is kept");
    let log = fs::read_to_string(t.path().join("backups").join(hrsm_backup::LOCAL_LOG)).unwrap();
    assert!(log.contains("\"status\":\"cancelled\""), "{log}");
}
