//! Tampering, counted: over a thousand single-bit flips spread over a whole archive (header
//! included), swapped, dropped and duplicated chunks, truncations at random offsets and appended
//! garbage. Every one is rejected, and none lets a byte reach a restore target.

use std::path::Path;

use hrsm_backup::{restore_files, verify_archive, FileRestoreOptions, NoProgress, SourceConfig};
use rand::{Rng, SeedableRng};

use super::util::*;

/// Byte ranges of the chunks (FORMAT.md 2.2).
fn chunks(a: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 96;
    while at < a.len() {
        let ct = u32::from_be_bytes(a[at..at + 4].try_into().unwrap()) as usize;
        out.push(at..at + 21 + ct + 32);
        at += 21 + ct + 32;
    }
    out
}

fn archive() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let t = tmp();
    let src = t.path().join("data");
    for i in 0..40 {
        write(&src.join(format!("f{i}.bin")), &random_bytes(700 + i * 37, i as u64), 0o644, 1_700_000_000);
        write(
            &src.join(format!("t{i}.txt")),
            format!("employee record {i} ").repeat(50).as_bytes(),
            0o644,
            1_700_000_000,
        );
    }
    // 4 KiB blocks: about a dozen chunks, so order and boundaries are exercised.
    let done = backup_of(&t.path().join("backups"), vec![SourceConfig::folder("data", &src)], 4096);
    let bytes = std::fs::read(&done.archive).unwrap();
    assert!(chunks(&bytes).len() >= 8, "{} chunks", chunks(&bytes).len());
    (t, done.archive, bytes)
}

fn rejected(path: &Path, bytes: &[u8]) -> bool {
    std::fs::write(path, bytes).unwrap();
    verify_archive(path, &key(), &NoProgress).is_err()
}

#[test]
fn a_thousand_bit_flips_are_all_rejected() {
    let (_t, path, good) = archive();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut flips = 0;
    // Every header bit once, then random bits over the whole file.
    let mut positions: Vec<(usize, u8)> = (0..96 * 8).map(|b| (b / 8, 1u8 << (b % 8))).collect();
    positions.extend((0..1000).map(|_| (rng.gen_range(0..good.len()), 1u8 << rng.gen_range(0..8))));
    for (at, bit) in positions {
        let mut bad = good.clone();
        bad[at] ^= bit;
        assert!(rejected(&path, &bad), "flipping bit {bit:#04x} of byte {at} was not detected");
        flips += 1;
    }
    assert_eq!(flips, 1768);
    println!("{flips} single-bit flips, all rejected");
}

#[test]
fn reordered_dropped_duplicated_truncated_and_extended_archives_are_rejected() {
    let (_t, path, good) = archive();
    let c = chunks(&good);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let rebuild = |order: &[usize]| {
        let mut out = good[..96].to_vec();
        for &i in order {
            out.extend_from_slice(&good[c[i].clone()]);
        }
        out
    };
    let n = c.len();
    let mut cases = 0;
    for _ in 0..50 {
        let (i, j) = (rng.gen_range(0..n), rng.gen_range(0..n));
        if i == j {
            continue;
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.swap(i, j);
        assert!(rejected(&path, &rebuild(&order)), "swap {i} {j}");
        cases += 1;
    }
    for drop in 0..n {
        let order: Vec<usize> = (0..n).filter(|&k| k != drop).collect();
        assert!(rejected(&path, &rebuild(&order)), "drop {drop}");
        let mut dup: Vec<usize> = (0..n).collect();
        dup.insert(drop, drop);
        assert!(rejected(&path, &rebuild(&dup)), "duplicate {drop}");
        cases += 2;
    }
    for _ in 0..200 {
        let cut = rng.gen_range(0..good.len());
        assert!(rejected(&path, &good[..cut]), "truncated at {cut}");
        cases += 1;
    }
    for len in [1, 16, 53, 1000] {
        let mut extended = good.clone();
        extended.extend((0..len).map(|_| rng.gen::<u8>()));
        assert!(rejected(&path, &extended), "{len} bytes appended");
        let mut with_copy = good.clone();
        with_copy.extend_from_slice(&good[c[n - 1].clone()]);
        assert!(rejected(&path, &with_copy), "final chunk appended again");
        cases += 2;
    }
    println!("{cases} reorder/drop/duplicate/truncate/append cases, all rejected");
}

#[test]
fn no_damaged_archive_writes_a_byte_into_the_restore_target() {
    let (t, path, good) = archive();
    let target = t.path().join("target");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    for round in 0..150 {
        let mut bad = good.clone();
        match round % 3 {
            0 => {
                let at = rng.gen_range(0..bad.len());
                bad[at] ^= 1 << rng.gen_range(0..8);
            }
            1 => bad.truncate(rng.gen_range(0..good.len())),
            _ => bad.extend_from_slice(b"x"),
        }
        std::fs::write(&path, &bad).unwrap();
        let r = restore_files(
            &path,
            &key(),
            &FileRestoreOptions { target: target.clone(), only: None, overwrite: false, in_place: false },
            &NoProgress,
        );
        assert!(r.is_err(), "round {round} restored a damaged archive");
        assert!(!target.exists(), "round {round}: the target was created or written");
    }
}
