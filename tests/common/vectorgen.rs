//! Generates the container test vectors of docs/FORMAT.md section 4, deterministically: every
//! random byte (salt, IVs, keys) comes from a ChaCha20 RNG with a fixed seed per vector.
//! Shared by `examples/gen_vectors.rs` (writes tests/vectors/) and `tests/vectors.rs` (checks
//! that the files on disk are exactly what this code makes).

use aes::Aes256;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use hrsm_backup::{ContainerWriter, MasterKey};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

pub struct Vector {
    pub name: &'static str,
    pub expect: &'static str,
    pub comment: &'static str,
    pub key: [u8; 32],
    pub payload: Option<Vec<u8>>,
    pub archive: Vec<u8>,
}

impl Vector {
    pub fn to_text(&self) -> String {
        let mut s = String::from("# HR-SM Backup container test vector (docs/FORMAT.md section 4)\n");
        s += &format!("expect: {}\ncomment: {}\nkey: {}\n", self.expect, self.comment, hex::encode(self.key));
        if let Some(p) = &self.payload {
            s += &format!("payload: {}\n", hex::encode(p));
        }
        s += &format!("archive: {}\n", hex::encode(&self.archive));
        s
    }
}

const MAX_PLAIN: u32 = 32;
/// FORMAT.md section 2.1: the largest `max_plain` a reader accepts.
const MAX_PLAIN_LIMIT: u32 = 16 * 1024 * 1024;
const MAGIC: &[u8; 8] = b"\x89HRSMBK\n";
const TEXT: &[u8] = b"HR-SM restore point: 80 bytes of payload that spans three chunks of 32 bytes!!";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn master(seed: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    rng(seed).fill_bytes(&mut k);
    k
}

fn seal(key: &[u8; 32], seed: u64, payload: &[u8]) -> Vec<u8> {
    let w = ContainerWriter::new(Vec::new(), &MasterKey::from_bytes(*key), MAX_PLAIN, rng(seed)).unwrap();
    w.write_all_final(payload).unwrap()
}

/// Byte ranges of the chunks of a well-formed archive.
fn chunks(a: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 96;
    while at < a.len() {
        let ct = u32::from_be_bytes(a[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 21 + ct + 32;
        out.push(at..end);
        at = end;
    }
    out
}

fn reorder(a: &[u8], order: &[usize]) -> Vec<u8> {
    let c = chunks(a);
    let mut out = a[..96].to_vec();
    for &i in order {
        out.extend_from_slice(&a[c[i].clone()]);
    }
    out
}

fn flip(mut a: Vec<u8>, at: usize) -> Vec<u8> {
    a[at] ^= 0x01;
    a
}

fn set_u32(mut a: Vec<u8>, at: usize, value: u32) -> Vec<u8> {
    a[at..at + 4].copy_from_slice(&value.to_be_bytes());
    a
}

// The vectors below need headers and chunks that no writer may produce, yet authentic. They
// are built here from FORMAT.md sections 1 and 2 directly (HKDF, HMAC, raw AES-CBC), not with
// the library's sealer, which refuses to make them.

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// K_hdr, K_enc, K_mac of the archive whose header is `header` (section 1).
fn archive_keys(master: &[u8; 32], header: &[u8]) -> [[u8; 32]; 3] {
    let hk = Hkdf::<Sha256>::new(Some(&header[32..64]), master);
    let mut keys = [[0u8; 32]; 3];
    for (info, out) in ["header-mac", "aes-256-cbc", "chunk-mac"].iter().zip(keys.iter_mut()) {
        hk.expand(format!("hrsm-backup/v1 {info}").as_bytes(), out).unwrap();
    }
    keys
}

/// `a` with its header edited by `edit` and the header MAC recomputed, so that only the
/// edited field can make a reader reject it. (The chunks no longer match the new header
/// digest: a reader must have stopped at the header.)
fn remac(master: &[u8; 32], mut a: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    edit(&mut a[..64]);
    let mac = hmac_sha256(&archive_keys(master, &a)[0], &[&a[..64]]);
    a[64..96].copy_from_slice(&mac);
    a
}

/// Chunk `index` of the archive whose header is `header`, encrypting `padded` (a multiple of
/// 16 bytes) as it is, without adding padding, under a correct tag (section 2.2).
fn raw_chunk(master: &[u8; 32], header: &[u8], index: u64, flags: u8, seed: u64, padded: &[u8]) -> Vec<u8> {
    let [_, k_enc, k_mac] = archive_keys(master, header);
    let mut iv = [0u8; 16];
    rng(seed).fill_bytes(&mut iv);
    let mut ct = padded.to_vec();
    cbc::Encryptor::<Aes256>::new(&k_enc.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut ct, padded.len())
        .unwrap();
    let digest = Sha256::digest(&header[..96]);
    let tag = hmac_sha256(&k_mac, &[&digest, &index.to_be_bytes(), &[flags], &iv, &ct]);
    let mut out = (ct.len() as u32).to_be_bytes().to_vec();
    out.push(flags);
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    out
}

/// PKCS#7 padding to a multiple of 16 bytes.
fn pkcs7(plain: &[u8]) -> Vec<u8> {
    let n = 16 - plain.len() % 16;
    let mut out = plain.to_vec();
    out.resize(plain.len() + n, n as u8);
    out
}

/// The header of a fresh archive (max_plain 32) followed by `chunk` made for it.
fn with_raw_chunk(master: &[u8; 32], seed: u64, chunk: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut a = seal(master, seed, b"")[..96].to_vec();
    let c = chunk(&a);
    a.extend_from_slice(&c);
    a
}

pub fn all() -> Vec<Vector> {
    let key = master(1);
    let other_key = master(2);
    let good = seal(&key, 10, TEXT);
    let c = chunks(&good);
    assert_eq!(c.len(), 3);
    let v = |name, expect, comment, archive: Vec<u8>| Vector { name, expect, comment, key, payload: None, archive };
    let ok = |name, comment, payload: &[u8], seed| Vector {
        name,
        expect: "ok",
        comment,
        key,
        payload: Some(payload.to_vec()),
        archive: seal(&key, seed, payload),
    };
    let mut empty_nonfinal = ContainerWriter::new(Vec::new(), &MasterKey::from_bytes(key), MAX_PLAIN, rng(12)).unwrap();
    empty_nonfinal.write_chunk(b"", false).unwrap();
    let empty_nonfinal = empty_nonfinal.write_all_final(b"tail").unwrap();
    let other_archive = seal(&key, 11, TEXT);
    let oc = chunks(&other_archive);
    let mut spliced = good.clone();
    spliced.splice(c[1].clone(), other_archive[oc[1].clone()].iter().copied());
    let mut bad_len = good.clone();
    bad_len[c[0].start..c[0].start + 4].copy_from_slice(&17u32.to_be_bytes());
    let mut too_long = good.clone();
    too_long[c[0].start..c[0].start + 4].copy_from_slice(&64u32.to_be_bytes());
    let mut bad_flags = good.clone();
    bad_flags[c[0].start + 4] = 2;
    let mut unflagged_final = good.clone();
    unflagged_final[c[2].start + 4] = 0;
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"\0");
    let mut reserved = good.clone();
    reserved[11] = 1;
    let mut zero_chunk_size = good.clone();
    zero_chunk_size[12..16].copy_from_slice(&0u32.to_be_bytes());
    // Each vector below starts from an archive of its own seed.
    let fresh = |seed| seal(&key, seed, TEXT);
    let mut empty_final = ContainerWriter::new(Vec::new(), &MasterKey::from_bytes(key), MAX_PLAIN, rng(40)).unwrap();
    empty_final.write_chunk(&TEXT[..32], false).unwrap();
    empty_final.write_chunk(&TEXT[32..64], false).unwrap();
    let empty_final = empty_final.write_all_final(b"").unwrap();
    let prefix_cut = {
        let a = fresh(39);
        let c = chunks(&a);
        a[..c[1].start + 2].to_vec()
    };
    let mut mixed_padding = *b"padding 0102 ->";
    mixed_padding[14] = 0x01;
    let mixed_padding = [&mixed_padding[..], &[0x02]].concat();

    vec![
        ok("ok-empty", "an empty payload: one final chunk with an empty plaintext", b"", 20),
        ok("ok-one-chunk", "a payload that fits in one chunk", b"manifest.json first, always", 21),
        ok("ok-three-chunks", "80 bytes in chunks of 32, 32 and 16", TEXT, 10),
        ok("ok-exact-multiple", "64 bytes: two full chunks, the second one final", &TEXT[..64], 22),
        v("truncated-header", "truncated", "the file ends inside the header", good[..50].to_vec()),
        v(
            "truncated-at-chunk-boundary",
            "truncated",
            "the final chunk is missing: the file ends after chunk 1",
            good[..c[1].end].to_vec(),
        ),
        v(
            "truncated-mid-chunk",
            "truncated",
            "the file ends in the middle of chunk 1",
            good[..c[1].start + 30].to_vec(),
        ),
        v("truncated-no-chunks", "truncated", "only the header", good[..96].to_vec()),
        v("not-an-archive", "not-an-archive", "first magic byte changed", flip(good.clone(), 0)),
        v("unsupported-version", "unsupported", "version byte is 3", {
            let mut a = good.clone();
            a[8] = 3;
            a
        }),
        v("bad-header-reserved", "bad-header", "reserved bytes are not zero", reserved),
        v("bad-header-chunk-size", "bad-header", "max_plain is 0", zero_chunk_size),
        Vector {
            name: "wrong-key",
            expect: "wrong-key",
            comment: "made with another key; the key line is the reader's",
            key: other_key,
            payload: None,
            archive: good.clone(),
        },
        v("header-damaged-salt", "header-damaged", "one bit of the salt flipped", flip(good.clone(), 40)),
        v("header-damaged-mac", "header-damaged", "one bit of the header MAC flipped", flip(good.clone(), 70)),
        v("header-damaged-chunk-size", "header-damaged", "max_plain changed from 32 to 48", {
            let mut a = good.clone();
            a[15] = 48;
            a
        }),
        v(
            "chunk-damaged-ciphertext",
            "chunk-damaged",
            "one bit of chunk 1's ciphertext flipped",
            flip(good.clone(), c[1].start + 21 + 5),
        ),
        v("chunk-damaged-iv", "chunk-damaged", "one bit of chunk 0's IV flipped", flip(good.clone(), c[0].start + 6)),
        v(
            "chunk-damaged-tag",
            "chunk-damaged",
            "one bit of the final chunk's tag flipped",
            flip(good.clone(), c[2].end - 1),
        ),
        v("chunk-swapped", "chunk-damaged", "chunks 0 and 1 swapped", reorder(&good, &[1, 0, 2])),
        v("chunk-dropped", "chunk-damaged", "chunk 1 removed", reorder(&good, &[0, 2])),
        v("chunk-duplicated", "chunk-damaged", "chunk 0 repeated", reorder(&good, &[0, 0, 1, 2])),
        v(
            "chunk-from-other-archive",
            "chunk-damaged",
            "chunk 1 replaced by chunk 1 of another archive with the same key",
            spliced,
        ),
        v("final-flag-cleared", "chunk-damaged", "the final chunk's flag set to 00", unflagged_final),
        v("bad-chunk-flags", "bad-chunk", "chunk 0 has flags 02", bad_flags),
        v("bad-chunk-length", "bad-chunk", "chunk 0's ct_len is 17, not a multiple of 16", bad_len),
        v("bad-chunk-too-long", "bad-chunk", "chunk 0's ct_len is 64, more than max_plain 32 allows", too_long),
        v("bad-chunk-empty-nonfinal", "bad-chunk", "an authentic but empty non-final chunk", empty_nonfinal),
        v("trailing-data", "trailing-data", "one byte after the final chunk", trailing),
        Vector {
            name: "ok-empty-final-chunk",
            expect: "ok",
            comment: "chunks of 32 and 32 bytes, then an authentic empty final chunk",
            key,
            payload: Some(TEXT[..64].to_vec()),
            archive: empty_final,
        },
        v("truncated-empty-file", "truncated", "a file of 0 bytes", Vec::new()),
        v("truncated-1-byte", "truncated", "a file of 1 byte (00): shorter than the magic", vec![0]),
        v("truncated-7-bytes", "truncated", "a file of the first 7 bytes of the magic", MAGIC[..7].to_vec()),
        v("not-an-archive-8-bytes", "not-an-archive", "a file of 8 bytes: the magic with its last byte 0D", {
            let mut a = MAGIC.to_vec();
            a[7] = 0x0D;
            a
        }),
        v("truncated-in-chunk-prefix", "truncated", "the file ends 2 bytes into chunk 1's ct_len field", prefix_cut),
        v(
            "unsupported-suite",
            "unsupported",
            "suite byte is 2; the header MAC is valid for the changed header",
            remac(&key, fresh(30), |h| h[9] = 2),
        ),
        v(
            "unsupported-before-bad-header",
            "unsupported",
            "version 2, reserved 00 01 and max_plain 0, header MAC valid: version is checked first",
            remac(&key, fresh(31), |h| {
                h[8] = 2;
                h[11] = 1;
                h[12..16].copy_from_slice(&0u32.to_be_bytes());
            }),
        ),
        v(
            "bad-header-chunk-size-too-large",
            "bad-header",
            "max_plain is 16777217, one above the limit; the header MAC is valid",
            remac(&key, fresh(32), |h| h[12..16].copy_from_slice(&(MAX_PLAIN_LIMIT + 1).to_be_bytes())),
        ),
        Vector {
            name: "bad-header-before-wrong-key",
            expect: "bad-header",
            comment: "max_plain is ffffffff and the key line is another key: max_plain is checked first",
            key: other_key,
            payload: None,
            archive: remac(&key, fresh(33), |h| h[12..16].copy_from_slice(&u32::MAX.to_be_bytes())),
        },
        v(
            "wrong-key-damaged-key-id",
            "wrong-key",
            "one bit of the header's key id flipped; the key line is the right key",
            flip(fresh(41), 20),
        ),
        v("bad-chunk-length-zero", "bad-chunk", "chunk 0's ct_len is 0", set_u32(fresh(34), 96, 0)),
        v(
            "bad-chunk-length-huge",
            "bad-chunk",
            "chunk 0's ct_len is fffffff0 (about 4 GiB): refused before reading or allocating it",
            set_u32(fresh(35), 96, 0xFFFF_FFF0),
        ),
        v(
            "bad-chunk-padding-zero",
            "bad-chunk",
            "an authentic final chunk whose decrypted last byte (the padding length) is 00",
            with_raw_chunk(&key, 36, |h| raw_chunk(&key, h, 0, 1, 136, b"padding byte 00\0")),
        ),
        v(
            "bad-chunk-padding-mixed",
            "bad-chunk",
            "an authentic final chunk whose decrypted block ends in 01 02 (padding length 2, bytes differ)",
            with_raw_chunk(&key, 37, |h| raw_chunk(&key, h, 0, 1, 137, &mixed_padding)),
        ),
        v(
            "bad-chunk-plaintext-too-long",
            "bad-chunk",
            "an authentic final chunk of 40 bytes (ct_len 48 is within bounds) under max_plain 32",
            with_raw_chunk(&key, 38, |h| raw_chunk(&key, h, 0, 1, 138, &pkcs7(&TEXT[..40]))),
        ),
    ]
}
