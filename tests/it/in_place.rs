//! Restore in place: each source back into the folder it was backed up from, with nested
//! sources (the installation root with include patterns, its uploads folder a source of its
//! own), through the engine and the CLI. Real files, the real archive format.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hrsm_backup::{restore_files, Error, Event, FileRestoreOptions, NoProgress, Progress, RestoreReport, SourceConfig};

use super::util::*;

/// An installation at `root`: settings (`.env`, `config/`), uploads, and what a backup leaves
/// out (code, `node_modules`). Folder times are set too: a restore in place puts them back.
fn installation(root: &Path) {
    write(&root.join(".env"), b"NODE_ENV=production\nPORT=5000\n", 0o600, 1_700_000_001);
    write(&root.join("config/a.yml"), b"company: acme\nleave_days: 21\n", 0o644, 1_700_000_002);
    write(&root.join("config/sub/b.json"), b"{\"smtp\":\"mail.example\"}", 0o640, 1_700_000_003);
    write(&root.join("uploads/x/y.pdf"), &random_bytes(300_000, 21), 0o644, 1_700_000_004);
    write(&root.join("uploads/x/z.png"), &random_bytes(70_000, 22), 0o644, 1_700_000_005);
    write(&root.join("uploads/readme.txt"), b"employee documents", 0o644, 1_700_000_006);
    write(&root.join("server/index.js"), b"require('./app')", 0o644, 1_700_000_007);
    write(&root.join("node_modules/pkg/index.js"), b"module.exports = 1", 0o644, 1_700_000_008);
    fs::set_permissions(root.join("config/sub"), fs::Permissions::from_mode(0o750)).unwrap();
    for (d, t) in [
        ("config/sub", 1_600_000_001),
        ("config", 1_600_000_002),
        ("uploads/x", 1_600_000_003),
        ("uploads", 1_600_000_004),
        ("server", 1_600_000_005),
        ("node_modules/pkg", 1_600_000_006),
        ("node_modules", 1_600_000_007),
        ("", 1_600_000_008),
    ] {
        filetime::set_file_mtime(root.join(d), filetime::FileTime::from_unix_time(t, 0)).unwrap();
    }
}

/// The installation root (settings only, by include patterns) and its uploads folder.
fn sources(root: &Path) -> Vec<SourceConfig> {
    vec![
        SourceConfig { include: vec![".env".into(), "config/**".into()], ..SourceConfig::folder("config", root) },
        SourceConfig::folder("uploads", root.join("uploads")),
    ]
}

fn in_place(archive: &Path, only: Option<&str>, overwrite: bool) -> hrsm_backup::Result<RestoreReport> {
    in_place_with(archive, only, overwrite, &NoProgress)
}

fn in_place_with(
    archive: &Path,
    only: Option<&str>,
    overwrite: bool,
    progress: &dyn Progress,
) -> hrsm_backup::Result<RestoreReport> {
    restore_files(
        archive,
        &key(),
        &FileRestoreOptions { target: PathBuf::new(), only: only.map(Into::into), overwrite, in_place: true },
        progress,
    )
}

/// Notes the staging folders under `dir` as the restore writes its first bytes.
struct Watch {
    dir: PathBuf,
    seen: Mutex<Option<Vec<PathBuf>>>,
}

impl Progress for Watch {
    fn event(&self, e: Event) {
        if let Event::Advance(_) = e {
            let mut seen = self.seen.lock().unwrap();
            if seen.is_none() {
                *seen = Some(staging_left(&self.dir));
            }
        }
    }
}

/// Staging folders left anywhere under `dir`.
fn staging_left(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hrsm-restore-"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

fn mtime(p: &Path) -> i64 {
    fs::symlink_metadata(p).unwrap().mtime()
}

#[test]
fn deleted_files_come_back_where_they_were_and_nothing_else_changes() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    installation(&root);
    let done = backup_of(&t.path().join("backups"), sources(&root), 64 * 1024);
    assert!(done.entry.verified);
    let before = snapshot(&root);
    let root_mtime = mtime(&root);

    // The uploads folder and `.env` are gone, one settings file too; unrelated files appeared,
    // in the installation root and inside a restored folder.
    fs::remove_dir_all(root.join("uploads")).unwrap();
    fs::remove_file(root.join(".env")).unwrap();
    fs::remove_file(root.join("config/sub/b.json")).unwrap();
    write(&root.join("notes.txt"), b"admin notes", 0o600, 1_650_000_000);
    write(&root.join("config/local.yml"), b"debug: true", 0o644, 1_650_000_001);
    let mut expected = before;
    for unrelated in ["notes.txt", "config/local.yml"] {
        expected.insert(unrelated.into(), snapshot(&root.join(unrelated))[""].clone());
    }

    // config/a.yml is still there: without overwrite that is a conflict, and nothing changes.
    let damaged = snapshot(&root);
    let err = in_place(&done.archive, None, false).unwrap_err().to_string();
    let conflict =
        format!("1 item(s) already exist in {}, e.g. {};", root.display(), root.join("config/a.yml").display());
    assert!(err.starts_with(&conflict), "{err}");
    assert_eq!(snapshot(&root), damaged);

    let report = in_place(&done.archive, None, true).unwrap();
    assert_eq!(report.roots, vec![root.clone(), root.join("uploads")]);
    assert_eq!(report.target, root);
    assert_eq!((report.plan.files, report.plan.bytes), (6, done.manifest.file_bytes()));
    assert_eq!(report.plan.replaced, vec![root.join("config/a.yml").display().to_string()]);
    let dest: Vec<(String, PathBuf)> =
        report.plan.destinations.iter().map(|d| (d.source.clone(), d.path.clone())).collect();
    assert_eq!(dest, vec![("config".into(), root.clone()), ("uploads".into(), root.join("uploads"))]);

    // Everything as it was (bytes, modes, times of files and folders), plus the unrelated files
    // untouched; the code and node_modules were never part of it.
    assert_eq!(snapshot(&root), expected);
    assert_eq!(mtime(&root), root_mtime, "the installation folder's time is put back too");
    assert!(staging_left(t.path()).is_empty(), "{:?}", staging_left(t.path()));
}

#[test]
fn a_changed_file_is_a_conflict_without_overwrite_and_replaced_with_it() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    installation(&root);
    let done = backup_of(&t.path().join("backups"), sources(&root), 64 * 1024);
    let original = snapshot(&root);

    write(&root.join("config/a.yml"), b"company: changed\n", 0o644, 1_750_000_000);
    fs::remove_file(root.join("uploads/x/y.pdf")).unwrap();
    let changed = snapshot(&root);

    let err = in_place(&done.archive, None, false).unwrap_err();
    assert!(matches!(err, Error::RestoreConflict { count: 5, replaceable: true, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("already exist in {}", root.display()))
            && text.contains(&root.join("config/a.yml").display().to_string())
            && text.contains("choose to replace existing files"),
        "{text}"
    );
    assert_eq!(snapshot(&root), changed, "a refused restore changes nothing, not even the missing file");
    assert!(staging_left(t.path()).is_empty());

    let report = in_place(&done.archive, None, true).unwrap();
    assert!(report.plan.replaced.contains(&root.join("config/a.yml").display().to_string()), "{report:?}");
    assert!(!report.plan.replaced.contains(&root.join("uploads/x/y.pdf").display().to_string()));
    assert_eq!(snapshot(&root), original);
    assert!(staging_left(t.path()).is_empty());
}

#[test]
fn one_source_alone_goes_back_and_the_other_stays_as_it_is() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    installation(&root);
    let done = backup_of(&t.path().join("backups"), sources(&root), 64 * 1024);
    let uploads = snapshot(&root.join("uploads"));
    let uploads_mtime = mtime(&root.join("uploads"));
    fs::remove_dir_all(root.join("uploads")).unwrap();
    fs::remove_file(root.join(".env")).unwrap();

    let report = in_place(&done.archive, Some("uploads"), false).unwrap();
    assert_eq!(report.roots, vec![root.join("uploads")]);
    assert!(!root.join(".env").exists(), "only the uploads were asked for");
    assert_eq!(snapshot(&root.join("uploads")), uploads);
    assert_eq!(mtime(&root.join("uploads")), uploads_mtime);
}

#[test]
fn a_whole_installation_gone_comes_back_and_a_damaged_archive_leaves_no_trace() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    installation(&root);
    // Small blocks: the archive has many chunks, the damage is found after files were staged.
    let done = backup_of(&t.path().join("backups"), sources(&root), 16 * 1024);
    let before = snapshot(&root);
    let (root_mode, root_mtime) = (fs::metadata(&root).unwrap().mode() & 0o7777, mtime(&root));
    fs::remove_dir_all(&root).unwrap();

    // Damage in the final chunk: found after every file was staged.
    let good = fs::read(&done.archive).unwrap();
    let mut bad = good.clone();
    let at = bad.len() - 200;
    bad[at] ^= 1;
    fs::write(&done.archive, &bad).unwrap();
    let watch = Watch { dir: t.path().to_path_buf(), seen: Mutex::new(None) };
    let err = in_place_with(&done.archive, None, false, &watch).unwrap_err();
    assert!(err.is_integrity(), "{err}");
    let seen = watch.seen.lock().unwrap().clone().unwrap_or_default();
    let mut staged: Vec<PathBuf> = seen.iter().filter_map(|p| p.parent().map(Path::to_path_buf)).collect();
    staged.sort();
    assert_eq!(staged, vec![root.clone(), root.join("uploads")], "one staging folder in each root: {seen:?}");
    assert!(!root.exists(), "the folders made for the restore are removed with its staging");

    fs::write(&done.archive, &good).unwrap();
    in_place(&done.archive, None, false).unwrap();
    // Back as it was, but for what the backup never held.
    let expected: BTreeMap<String, String> =
        before.into_iter().filter(|(k, _)| !k.starts_with("server") && !k.starts_with("node_modules")).collect();
    assert_eq!(snapshot(&root), expected);
    assert_eq!((fs::metadata(&root).unwrap().mode() & 0o7777, mtime(&root)), (root_mode, root_mtime));
}

/// A config file for the installation at `root`: the same two sources.
fn config_for(dir: &Path, root: &Path) {
    fs::write(
        dir.join("hrsm-backup.toml"),
        format!(
            "destination = \"backups\"\n[mongodb]\nenabled = false\n\
             [[sources]]\nname = \"config\"\npath = \"{}\"\ninclude = [\".env\", \"config/**\"]\n\
             [[sources]]\nname = \"uploads\"\npath = \"{}\"\n",
            root.display(),
            root.join("uploads").display()
        ),
    )
    .unwrap();
}

#[test]
fn the_cli_restores_in_place() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    installation(&root);
    config_for(t.path(), &root);
    let run = |args: &[&str]| {
        let mut all = vec!["--config", "hrsm-backup.toml"];
        all.extend_from_slice(args);
        cli(t.path(), &all)
    };
    let o = run(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let original = snapshot(&root);
    fs::remove_dir_all(root.join("uploads")).unwrap();
    fs::remove_file(root.join(".env")).unwrap();
    let damaged = snapshot(&root);

    // A dry run says where each source goes and what it would replace, and changes nothing.
    let o = run(&["restore", "latest", "--files-in-place", "--overwrite", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("would restore 6 files"), "{out}");
    assert!(out.contains("of config, uploads in place:\n"), "{out}");
    assert!(out.contains(&format!("  config -> {}\n", root.display())), "{out}");
    assert!(out.contains(&format!("  uploads -> {}\n", root.join("uploads").display())), "{out}");
    assert!(out.contains(&format!("  would replace {}\n", root.join("config/a.yml").display())), "{out}");
    let o = run(&["--json", "restore", "latest", "--files-in-place", "--only", "uploads", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"]["destinations"][0]["path"], root.join("uploads").display().to_string());
    assert_eq!(snapshot(&root), damaged);
    assert!(staging_left(t.path()).is_empty());

    // Usage errors: both destinations at once, or --only / --overwrite without any.
    for args in [
        &["restore", "latest", "--files-in-place", "--files-to", "out"][..],
        &["restore", "latest", "--only", "uploads"][..],
        &["restore", "latest", "--overwrite", "--mongo"][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
    let o = run(&["restore", "latest", "--files-in-place", "--files-to", "out"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"), "{}", text(&o));
    assert_eq!(snapshot(&root), damaged);

    // The settings still there are conflicts: refused with the flag that replaces them named.
    let o = run(&["restore", "latest", "--files-in-place"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("config/a.yml") && err.contains("(pass --overwrite to replace them)"), "{}", text(&o));
    assert_eq!(snapshot(&root), damaged);

    // The uploads alone go back without replacing anything; then everything, replacing.
    let o = run(&["restore", "latest", "--files-in-place", "--only", "uploads"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("restored 3 files") && out.contains("of uploads in place:\n"), "{out}");
    assert!(out.contains(&format!("  uploads -> {}\n", root.join("uploads").display())), "{out}");
    write(&root.join("config/a.yml"), b"company: changed\n", 0o644, 1_750_000_000);
    let o = run(&["restore", "latest", "--files-in-place", "--overwrite"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(snapshot(&root), original);
    assert!(staging_left(t.path()).is_empty());
}
