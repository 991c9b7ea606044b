//! Generates the container test vectors of docs/FORMAT.md section 4, deterministically: every
//! random byte (salt, IVs, keys) comes from a ChaCha20 RNG with a fixed seed per vector.
//! Shared by `examples/gen_vectors.rs` (writes tests/vectors/) and `tests/vectors.rs` (checks
//! that the files on disk are exactly what this code makes).

use hrsm_backup::{ContainerWriter, MasterKey};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

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
const TEXT: &[u8] = b"HR-SM restore point: 80 bytes of payload that spans three chunks of 32 bytes!!";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn master(seed: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    rand_chacha::rand_core::RngCore::fill_bytes(&mut rng(seed), &mut k);
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
    ]
}
