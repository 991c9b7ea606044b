//! Helpers shared by the integration tests: temp folders, sample trees, tree comparison and
//! running the CLI binary.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hrsm_backup::{run_backup, BackupOptions, BackupOutcome, MasterKey, NoProgress, PayloadOptions, SourceConfig};
use rand::{RngCore, SeedableRng};

pub fn key() -> MasterKey {
    MasterKey::from_bytes([0x42; 32])
}

pub fn key_hex() -> String {
    hex::encode([0x42u8; 32])
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("hrsm-it-").tempdir().unwrap()
}

pub fn write(path: &Path, bytes: &[u8], mode: u32, mtime: i64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(mtime, 0)).unwrap();
}

pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// A tree with what breaks naive archivers: empty and block-sized files, files larger than a
/// payload block, random and text data, long and non-ASCII names, odd modes, old mtimes,
/// symlinks inside the source, empty folders.
pub fn sample_tree(root: &Path) {
    write(&root.join("empty.txt"), b"", 0o644, 1_000_000_000);
    write(&root.join("one.txt"), b"x", 0o600, 1_100_000_000);
    write(&root.join("block-511.bin"), &random_bytes(511, 1), 0o640, 1_200_000_000);
    write(&root.join("block-512.bin"), &random_bytes(512, 2), 0o644, 1_200_000_001);
    write(&root.join("block-513.bin"), &random_bytes(513, 3), 0o644, 1_200_000_002);
    write(&root.join("contracts/big-random.pdf"), &random_bytes(3 * 1024 * 1024 + 7, 4), 0o644, 1_700_000_000);
    let text: Vec<u8> = (0..60_000)
        .flat_map(|i| format!("{{\"employee\":{i},\"dept\":\"HR\",\"salary\":{}}}\n", i * 7 % 9000).into_bytes())
        .collect();
    write(&root.join("exports/employees.jsonl"), &text, 0o644, 1_750_000_000);
    write(&root.join("scripts/run.sh"), b"#!/bin/sh\necho hi\n", 0o755, 1_600_000_000);
    let long = format!("deep/{}/{}.txt", "d".repeat(120), "f".repeat(140));
    write(&root.join(long), b"long name", 0o644, 1_650_000_000);
    write(&root.join("café/ملف الموظف.txt"), "عقد العمل".as_bytes(), 0o644, 1_660_000_000);
    write(&root.join("with space/a b.txt"), b"spaces", 0o644, 1_660_000_001);
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::os::unix::fs::symlink("../one.txt", root.join("scripts/link-to-one")).unwrap();
    std::os::unix::fs::symlink("exports", root.join("exports-link")).unwrap();
    fs::set_permissions(root.join("scripts"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::set_permissions(root.join("empty-dir"), fs::Permissions::from_mode(0o700)).unwrap();
    for d in ["empty-dir", "scripts", "exports", "contracts", "café", "with space"] {
        filetime::set_file_mtime(root.join(d), filetime::FileTime::from_unix_time(1_500_000_000, 0)).unwrap();
    }
}

/// Everything about a tree that a restore must bring back: per relative path, the type,
/// permission bits, mtime, and content or link target.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let m = e.path().symlink_metadata().unwrap();
        let desc = if m.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(e.path()).unwrap().display())
        } else if m.is_dir() {
            format!("dir {:o} {}", m.mode() & 0o7777, if rel.is_empty() { 0 } else { m.mtime() })
        } else {
            let data = fs::read(e.path()).unwrap();
            use sha2::Digest;
            format!(
                "file {:o} {} {} {}",
                m.mode() & 0o7777,
                m.mtime(),
                data.len(),
                hex::encode(sha2::Sha256::digest(&data))
            )
        };
        out.insert(rel, desc);
    }
    out
}

pub fn backup_of(dest: &Path, sources: Vec<SourceConfig>, block_size: usize) -> BackupOutcome {
    let opts = BackupOptions {
        destination: dest.to_path_buf(),
        sources,
        mongo: None,
        payload: PayloadOptions { block_size, level: 6, threads: 2 },
        verify: true,
        retention: None,
        trigger: Default::default(),
    };
    run_backup(&opts, &key(), &NoProgress, Box::new(rand::rngs::OsRng)).unwrap()
}

/// Restores every file source of `archive` into `target` (no overwrite).
pub fn restore_all(archive: &Path, target: &Path) -> hrsm_backup::Result<hrsm_backup::RestoreReport> {
    hrsm_backup::restore_files(
        archive,
        &key(),
        &hrsm_backup::FileRestoreOptions {
            target: target.to_path_buf(),
            only: None,
            overwrite: false,
            in_place: false,
        },
        &NoProgress,
    )
}

/// The repository's top folder (these tests belong to the `cli/` package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("..")).to_path_buf()
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hrsm-backup"))
}

/// Runs the CLI with the test key in the environment and a clean config environment.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .env_remove("HRSM_BACKUP_CONFIG")
        .env_remove("HRSM_BACKUP_KEY_FILE")
        .env_remove("BACKUPS_ENABLED")
        .env_remove("MONGODB_URI")
        .env_remove("MONGO_URI")
        .env_remove("LICENSE_DB_URI")
        .output()
        .unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A config file for `root` (sources `data`) writing into `dir/backups`.
pub fn write_config(dir: &Path, source: &Path) -> PathBuf {
    let p = dir.join("hrsm-backup.toml");
    fs::write(
        &p,
        format!(
            "destination = \"backups\"\n[mongodb]\nenabled = false\n[[sources]]\nname = \"data\"\npath = \"{}\"\n",
            source.display()
        ),
    )
    .unwrap();
    p
}

/// The URI of the test MongoDB-wire server (SecantusDB): $HRSM_TEST_MONGODB_URI as started by
/// scripts/test, else one this test process starts from the cached build. A test that needs it
/// and cannot have it fails: it never passes silently.
pub fn mongo_uri() -> String {
    static URI: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URI.get_or_init(|| {
        if let Ok(u) = std::env::var("HRSM_TEST_MONGODB_URI") {
            if !u.is_empty() {
                return u;
            }
        }
        start_secantus().0
    })
    .clone()
}

/// Starts a SecantusDB server of this test's own (to stop it on purpose); returns its URI and pid.
pub fn start_secantus() -> (String, u32) {
    let bin = std::env::var("HRSM_SECANTUSD").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/hrsm-tools/bin/secantusd-rs")
    });
    assert!(
        bin.exists(),
        "no MongoDB test server: set HRSM_TEST_MONGODB_URI or run scripts/test (it builds SecantusDB into {})",
        bin.display()
    );
    sweep_dead_servers();
    let dir = tempfile::Builder::new().prefix("hrsm-secantus-").tempdir().unwrap().keep();
    let log = dir.join("log");
    let pid_file = dir.join("pid");
    let (tx, rx) = std::sync::mpsc::channel();
    // Spawned from a thread that never ends, with PDEATHSIG: the server dies with this test
    // process, whatever test thread asked for it first.
    std::thread::spawn(move || {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(bin);
        cmd.args(["--port", "0", "--log-file-max", "16MB", "--cache-size", "1G", "--storage-path"])
            .arg(dir.join("data"))
            .stdout(fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null());
        // SAFETY: prctl in the forked child before exec, no allocation.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        fs::write(&pid_file, child.id().to_string()).unwrap();
        tx.send((child.id(), log)).unwrap();
        // This thread lives as long as the server: PDEATHSIG fires when it ends.
        let _ = child.wait();
        // A server a test stopped on purpose: its data goes now. One that died with the test
        // process goes at the next sweep.
        let _ = fs::remove_dir_all(&dir);
    });
    let (pid, log) = rx.recv().unwrap();
    for _ in 0..200 {
        if let Ok(text) = fs::read_to_string(&log) {
            if let Some(i) = text.find("listening on ") {
                let addr: String = text[i + 13..].chars().take_while(|c| !c.is_whitespace()).collect();
                return (format!("mongodb://{addr}/?directConnection=true"), pid);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("SecantusDB did not start: {}", fs::read_to_string(&log).unwrap_or_default());
}

/// Removes the data folders of test servers whose process has ended. The server dies with the
/// test process (PDEATHSIG), which cannot clean up after itself; without this sweep each run
/// left 70-400 MB in the temp folder, and CI's disk filled up.
fn sweep_dead_servers() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("hrsm-secantus-"));
        if !is_ours {
            continue;
        }
        let pid: Option<i32> = fs::read_to_string(path.join("pid")).ok().and_then(|t| t.trim().parse().ok());
        let alive = match pid {
            // SAFETY: signal 0 only asks whether the process exists.
            Some(pid) => unsafe { libc::kill(pid, 0) == 0 },
            // No pid yet: a server starting right now in another test process, unless it is old.
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default() < std::time::Duration::from_secs(600))
                .unwrap_or(false),
        };
        if !alive {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// A database name no other test uses.
pub fn fresh_db(prefix: &str) -> String {
    format!("{prefix}_{:08x}", rand::random::<u32>())
}
