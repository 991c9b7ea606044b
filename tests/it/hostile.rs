//! Hostile archives (made with the right key, so they pass authentication): names with `..`,
//! absolute names, links that escape, hard links, devices, absurd sizes, entries the manifest
//! does not list. Each is refused and nothing is written inside or outside the target.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use hrsm_backup::{
    restore_files, ContainerWriter, Entry, EntryType, FileRestoreOptions, Manifest, NoProgress, SourceSummary,
};
use tar::{EntryType as T, Header};

use super::util::*;

pub(super) fn entry(path: &str, kind: EntryType, size: Option<u64>, sha: Option<&str>, target: Option<&str>) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode: 0o644,
        mtime: 1_700_000_000,
        size,
        sha256: sha.map(Into::into),
        target: target.map(Into::into),
    }
}

fn manifest(entries: Vec<Entry>) -> Vec<u8> {
    Manifest {
        format: "hrsm-backup-manifest".into(),
        version: 1,
        backup_id: "hrsm-hostile".into(),
        app_version: "test".into(),
        host: "attacker".into(),
        key_id: key().id().to_string(),
        started: Utc::now(),
        finished: Utc::now(),
        sources: vec![SourceSummary { name: "s".into(), path: "/x".into(), files: 1, bytes: 1 }],
        entries,
        mongo: None,
        warnings: vec![],
        origin: None,
    }
    .to_json()
}

pub(super) fn raw(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: T, link: &str, data: &[u8]) {
    let mut h = Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

pub(super) const SHA_X: &str = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"; // sha256("x")

/// Seals a hand-made tar stream (manifest first) with the test key.
pub(super) fn forge(dir: &Path, entries: Vec<Entry>, body: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    raw(&mut b, "manifest.json", T::Regular, "", &manifest(entries));
    body(&mut b);
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let sealed = ContainerWriter::new(Vec::new(), &key(), 1 << 20, rand::rngs::OsRng)
        .unwrap()
        .write_all_final(&gz.finish().unwrap())
        .unwrap();
    let p = dir.join("hostile.hrsmbk");
    fs::write(&p, sealed).unwrap();
    p
}

/// Restores `archive` into `t/area/target` (which holds keep.txt) and checks the refusal and
/// that `t/area` holds nothing new.
fn assert_refused(t: &Path, archive: &Path, needle: &str) {
    let area = t.join("area");
    let target = area.join("target");
    write(&target.join("keep.txt"), b"precious", 0o644, 1_700_000_000);
    let err = restore_files(
        archive,
        &key(),
        &FileRestoreOptions { target: target.clone(), only: None, overwrite: true, in_place: false },
        &NoProgress,
    )
    .expect_err("a hostile archive was restored");
    assert!(err.to_string().contains(needle), "expected {needle:?} in: {err}");
    let mut seen: Vec<String> = walkdir::WalkDir::new(&area)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(&area).unwrap().display().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, vec!["", "target", "target/keep.txt"], "something was written");
    assert!(!Path::new("/tmp/hrsm-pwned").exists());
    fs::remove_dir_all(&area).unwrap();
}

#[test]
fn dot_dot_names_are_refused() {
    let t = tmp();
    let a = forge(t.path(), vec![entry("files/s", EntryType::Dir, None, None, None)], |b| {
        raw(b, "files/s", T::Directory, "", b"");
        raw(b, "files/s/../../../evil", T::Regular, "", b"x");
    });
    assert_refused(t.path(), &a, "it contains '..'");
}

#[test]
fn dot_dot_names_in_the_manifest_are_refused_before_reading_on() {
    let t = tmp();
    let a = forge(t.path(), vec![entry("files/s/../../evil", EntryType::File, Some(1), Some(SHA_X), None)], |b| {
        raw(b, "files/s/x", T::Regular, "", b"x");
    });
    assert_refused(t.path(), &a, "it contains '..'");
}

#[test]
fn absolute_names_are_refused() {
    let t = tmp();
    let a = forge(t.path(), vec![], |b| raw(b, "/tmp/hrsm-pwned", T::Regular, "", b"x"));
    assert_refused(t.path(), &a, "it is an absolute path");
}

#[test]
fn links_that_leave_the_source_are_refused() {
    let t = tmp();
    for (target, needle) in [
        ("../../../../tmp", "points outside its source"),
        ("..", "points outside its source"),
        ("/etc", "symbolic link to an absolute path"),
    ] {
        let a = forge(
            t.path(),
            vec![
                entry("files/s", EntryType::Dir, None, None, None),
                entry("files/s/l", EntryType::Symlink, None, None, Some(target)),
            ],
            |b| {
                raw(b, "files/s", T::Directory, "", b"");
                raw(b, "files/s/l", T::Symlink, target, b"");
            },
        );
        assert_refused(t.path(), &a, needle);
    }
}

#[test]
fn a_file_written_through_an_escaping_link_never_happens() {
    let t = tmp();
    let a = forge(
        t.path(),
        vec![
            entry("files/s", EntryType::Dir, None, None, None),
            entry("files/s/l", EntryType::Symlink, None, None, Some("/tmp")),
            entry("files/s/l/hrsm-pwned", EntryType::File, Some(1), Some(SHA_X), None),
        ],
        |b| {
            raw(b, "files/s", T::Directory, "", b"");
            raw(b, "files/s/l", T::Symlink, "/tmp", b"");
            raw(b, "files/s/l/hrsm-pwned", T::Regular, "", b"x");
        },
    );
    assert_refused(t.path(), &a, "symbolic link to an absolute path");
}

#[test]
fn hard_links_and_devices_are_refused() {
    let t = tmp();
    let a = forge(t.path(), vec![entry("files/s", EntryType::Dir, None, None, None)], |b| {
        raw(b, "files/s", T::Directory, "", b"");
        raw(b, "files/s/h", T::Link, "/etc/passwd", b"");
    });
    assert_refused(t.path(), &a, "hard links are refused");
    let a = forge(t.path(), vec![entry("files/s", EntryType::Dir, None, None, None)], |b| {
        raw(b, "files/s", T::Directory, "", b"");
        raw(b, "files/s/dev", T::Char, "", b"");
    });
    assert_refused(t.path(), &a, "device files, FIFOs and other special files are refused");
}

#[test]
fn entries_missing_from_the_manifest_are_refused() {
    let t = tmp();
    let a = forge(t.path(), vec![entry("files/s", EntryType::Dir, None, None, None)], |b| {
        raw(b, "files/s", T::Directory, "", b"");
        raw(b, "files/s/smuggled", T::Regular, "", b"x");
    });
    assert_refused(t.path(), &a, "is not in the manifest");
}

#[test]
fn content_that_differs_from_the_manifest_is_refused() {
    let t = tmp();
    let a = forge(
        t.path(),
        vec![
            entry("files/s", EntryType::Dir, None, None, None),
            entry("files/s/x", EntryType::File, Some(1), Some(SHA_X), None),
        ],
        |b| {
            raw(b, "files/s", T::Directory, "", b"");
            raw(b, "files/s/x", T::Regular, "", b"y");
        },
    );
    assert_refused(t.path(), &a, "does not match the manifest");
}

#[test]
fn absurd_sizes_are_refused_before_writing() {
    let t = tmp();
    let a = forge(
        t.path(),
        vec![
            entry("files/s", EntryType::Dir, None, None, None),
            entry("files/s/x", EntryType::File, Some(1 << 52), Some(SHA_X), None),
        ],
        |b| {
            raw(b, "files/s", T::Directory, "", b"");
            raw(b, "files/s/x", T::Regular, "", b"x");
        },
    );
    assert_refused(t.path(), &a, "free but the restore needs");
}

#[test]
fn an_archive_whose_first_entry_is_not_the_manifest_is_refused() {
    let t = tmp();
    let mut b = tar::Builder::new(Vec::new());
    raw(&mut b, "files/s/x", T::Regular, "", b"x");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    let sealed = ContainerWriter::new(Vec::new(), &key(), 1 << 20, rand::rngs::OsRng)
        .unwrap()
        .write_all_final(&gz.finish().unwrap())
        .unwrap();
    let p = t.path().join("nomanifest.hrsmbk");
    fs::write(&p, sealed).unwrap();
    assert_refused(t.path(), &p, "the first entry is \"files/s/x\", not manifest.json");
}

#[test]
fn a_chain_of_links_cannot_climb_out() {
    // Each link alone stays inside, but y walks through l1 (which is the source root again)
    // until it leaves the restore target: refused because it goes through another link.
    let t = tmp();
    let a = forge(
        t.path(),
        vec![
            entry("files/s", EntryType::Dir, None, None, None),
            entry("files/s/x", EntryType::Dir, None, None, None),
            entry("files/s/x/l1", EntryType::Symlink, None, None, Some("..")),
            entry("files/s/y", EntryType::Symlink, None, None, Some("x/l1/x/l1/x/l1/../../..")),
        ],
        |b| {
            raw(b, "files/s", T::Directory, "", b"");
            raw(b, "files/s/x", T::Directory, "", b"");
            raw(b, "files/s/x/l1", T::Symlink, "..", b"");
            raw(b, "files/s/y", T::Symlink, "x/l1/x/l1/x/l1/../../..", b"");
        },
    );
    assert_refused(t.path(), &a, "goes through another link");
}

#[test]
fn a_source_root_that_is_a_link_is_refused() {
    let t = tmp();
    let a = forge(t.path(), vec![entry("files/s", EntryType::Symlink, None, None, Some("../other"))], |b| {
        raw(b, "files/s", T::Symlink, "../other", b"");
    });
    assert_refused(t.path(), &a, "a source's root must be a folder");
}
