//! The encrypted container (docs/FORMAT.md section 2): header encoding, a chunk sealer that
//! worker threads share, a sequential writer, and a reader that authenticates every chunk
//! before it releases a byte.
//!
//! Depends on `crypto` only. The payload (gzip, tar) is opaque here.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::archive::crypto::{
    padded_len, ArchiveKeys, KeyId, MasterKey, OpenError, CHUNK_PREFIX_LEN, IV_LEN, KEY_ID_LEN, TAG_LEN,
};

pub const MAGIC: [u8; 8] = *b"\x89HRSMBK\n";
pub const VERSION: u8 = 1;
pub const SUITE: u8 = 1;
pub const HEADER_LEN: usize = 96;
/// Largest `max_plain` a reader accepts (16 MiB): bounds the memory one chunk may take.
pub const MAX_PLAIN_LIMIT: u32 = 16 * 1024 * 1024;

const FLAG_MORE: u8 = 0;
const FLAG_FINAL: u8 = 1;

/// Why a container was rejected. `kind()` is the stable name used by the test vectors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    #[error("the archive ends inside its header (file truncated)")]
    TruncatedHeader,
    #[error("not an HR-SM Backup archive (bad magic bytes)")]
    NotAnArchive,
    #[error("archive format version {version}, suite {suite} is not supported by this program (it reads version 1, suite 1); use a newer hrsm-backup")]
    Unsupported { version: u8, suite: u8 },
    #[error("the archive header is invalid: {0}")]
    BadHeader(&'static str),
    /// The header's key id is not the held key's. The key id is checked before the header MAC
    /// (FORMAT.md 2.4 step 2), so a damaged key id field also ends here.
    #[error("wrong key or damaged header: this archive names key {archive}, but the key in use is {have}; import the key {archive} with `hrsm-backup key import` or set BACKUP_ENCRYPTION_KEY (if that is already the key in use, the archive's header is damaged)")]
    WrongKey { archive: KeyId, have: KeyId },
    #[error("the archive header failed authentication: the file is damaged or was tampered with")]
    HeaderDamaged,
    #[error("chunk {index} is malformed ({reason}): the file is damaged or was tampered with")]
    BadChunk { index: u64, reason: &'static str },
    #[error("chunk {index} failed authentication: the file is damaged, tampered with, or its chunks were reordered")]
    ChunkDamaged { index: u64 },
    #[error(
        "the archive is truncated: it ends after {chunks} chunk(s) without its final chunk; the backup is incomplete"
    )]
    Truncated { chunks: u64 },
    #[error("the archive has data after its final chunk: the file was tampered with or damaged")]
    TrailingData,
    #[error("cannot read the archive: {0}")]
    Io(String),
}

impl ContainerError {
    /// The stable reason name of FORMAT.md section 4.
    pub fn kind(&self) -> &'static str {
        match self {
            ContainerError::TruncatedHeader | ContainerError::Truncated { .. } => "truncated",
            ContainerError::NotAnArchive => "not-an-archive",
            ContainerError::Unsupported { .. } => "unsupported",
            ContainerError::BadHeader(_) => "bad-header",
            ContainerError::WrongKey { .. } => "wrong-key",
            ContainerError::HeaderDamaged => "header-damaged",
            ContainerError::BadChunk { .. } => "bad-chunk",
            ContainerError::ChunkDamaged { .. } => "chunk-damaged",
            ContainerError::TrailingData => "trailing-data",
            ContainerError::Io(_) => "io",
        }
    }
}

/// Largest ciphertext a chunk may carry under `max_plain`.
fn max_ct_len(max_plain: u32) -> usize {
    padded_len(max_plain as usize)
}

/// Seals chunks for one archive. Cheap to share between threads (`Arc`).
pub struct ChunkSealer {
    keys: ArchiveKeys,
    digest: [u8; 32],
    max_plain: u32,
}

impl ChunkSealer {
    pub fn max_plain(&self) -> usize {
        self.max_plain as usize
    }

    /// Appends chunk `index` to `out`. The caller guarantees `plaintext.len() <= max_plain`
    /// and draws `iv` from a CSPRNG.
    pub fn seal(
        &self,
        index: u64,
        is_final: bool,
        iv: &[u8; IV_LEN],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        if plaintext.len() > self.max_plain as usize {
            return Err(io::Error::other(format!(
                "internal error: chunk of {} bytes exceeds the archive's limit of {}",
                plaintext.len(),
                self.max_plain
            )));
        }
        let flags = if is_final { FLAG_FINAL } else { FLAG_MORE };
        self.keys.seal_chunk(&self.digest, index, flags, iv, plaintext, out);
        Ok(())
    }
}

/// Writes the header and returns the sealer for the chunks that follow it.
pub fn write_header<W: Write, R: RngCore + CryptoRng + ?Sized>(
    out: &mut W,
    master: &MasterKey,
    max_plain: u32,
    rng: &mut R,
) -> io::Result<ChunkSealer> {
    if max_plain == 0 || max_plain > MAX_PLAIN_LIMIT {
        return Err(io::Error::other(format!("chunk size {max_plain} is outside 1..={MAX_PLAIN_LIMIT}")));
    }
    let mut salt = [0u8; 32];
    rng.fill_bytes(&mut salt);
    let keys = ArchiveKeys::derive(master, &salt);
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8] = VERSION;
    header[9] = SUITE;
    header[12..16].copy_from_slice(&max_plain.to_be_bytes());
    header[16..32].copy_from_slice(&master.id().0);
    header[32..64].copy_from_slice(&salt);
    let mac = keys.header_mac(&header[..64]);
    header[64..].copy_from_slice(&mac);
    out.write_all(&header)?;
    Ok(ChunkSealer { keys, digest: Sha256::digest(header).into(), max_plain })
}

/// The simplest writer: one chunk per call, in order. Used by tests and the vector generator;
/// the backup path uses the parallel `payload` writer over the same `ChunkSealer`.
pub struct ContainerWriter<W: Write, R: RngCore + CryptoRng> {
    out: W,
    sealer: ChunkSealer,
    rng: R,
    index: u64,
    buf: Vec<u8>,
}

impl<W: Write, R: RngCore + CryptoRng> ContainerWriter<W, R> {
    pub fn new(mut out: W, master: &MasterKey, max_plain: u32, mut rng: R) -> io::Result<Self> {
        let sealer = write_header(&mut out, master, max_plain, &mut rng)?;
        Ok(ContainerWriter { out, sealer, rng, index: 0, buf: Vec::new() })
    }

    pub fn write_chunk(&mut self, plaintext: &[u8], is_final: bool) -> io::Result<()> {
        let mut iv = [0u8; IV_LEN];
        self.rng.fill_bytes(&mut iv);
        self.buf.clear();
        self.sealer.seal(self.index, is_final, &iv, plaintext, &mut self.buf)?;
        self.out.write_all(&self.buf)?;
        self.index += 1;
        Ok(())
    }

    /// Cuts `payload` into chunks of `max_plain` bytes, the last one final.
    pub fn write_all_final(mut self, payload: &[u8]) -> io::Result<W> {
        let max = self.sealer.max_plain();
        let mut rest = payload;
        while rest.len() > max {
            let (head, tail) = rest.split_at(max);
            self.write_chunk(head, false)?;
            rest = tail;
        }
        self.write_chunk(rest, true)?;
        Ok(self.out)
    }
}

/// Parsed, authenticated header.
#[derive(Debug, Clone)]
pub struct HeaderInfo {
    pub key_id: KeyId,
    pub max_plain: u32,
}

/// Reads only the header's key id, without any key: lets a caller say which key an archive
/// needs. Performs the structural checks of FORMAT.md 2.4 step 1.
#[cfg(test)]
pub fn peek_key_id<R: Read>(input: &mut R) -> Result<HeaderInfo, ContainerError> {
    let header = read_header_bytes(input)?;
    check_structure(&header)
}

/// FORMAT.md 2.4 steps 1.1-1.3: fewer than 8 bytes (the empty file included) is truncated
/// whatever they hold; 8 or more that are not the magic is not an archive; a magic followed
/// by fewer than 96 bytes in all is truncated.
fn read_header_bytes<R: Read>(input: &mut R) -> Result<[u8; HEADER_LEN], ContainerError> {
    let mut header = [0u8; HEADER_LEN];
    match read_full(input, &mut header)? {
        n if n < MAGIC.len() => Err(ContainerError::TruncatedHeader),
        _ if header[..8] != MAGIC => Err(ContainerError::NotAnArchive),
        n if n < HEADER_LEN => Err(ContainerError::TruncatedHeader),
        _ => Ok(header),
    }
}

/// FORMAT.md 2.4 steps 1.2 and 1.4-1.6, in that order; no key needed.
fn check_structure(header: &[u8; HEADER_LEN]) -> Result<HeaderInfo, ContainerError> {
    if header[..8] != MAGIC {
        return Err(ContainerError::NotAnArchive);
    }
    if header[8] != VERSION || header[9] != SUITE {
        return Err(ContainerError::Unsupported { version: header[8], suite: header[9] });
    }
    if header[10..12] != [0, 0] {
        return Err(ContainerError::BadHeader("reserved bytes are not zero"));
    }
    let max_plain = u32::from_be_bytes([header[12], header[13], header[14], header[15]]);
    if max_plain == 0 || max_plain > MAX_PLAIN_LIMIT {
        return Err(ContainerError::BadHeader("chunk size out of range"));
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&header[16..32]);
    Ok(HeaderInfo { key_id: KeyId(id), max_plain })
}

/// The first error a reader met, kept so that callers above gzip and tar (which wrap or
/// replace io errors) can still report the precise container reason.
#[derive(Clone, Default)]
pub struct StickyError(Arc<Mutex<Option<ContainerError>>>);

impl StickyError {
    pub fn get(&self) -> Option<ContainerError> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
    fn set(&self, e: &ContainerError) {
        if let Ok(mut g) = self.0.lock() {
            if g.is_none() {
                *g = Some(e.clone());
            }
        }
    }
}

/// Streams the authenticated payload of an archive. `Read` returns end of file only after the
/// final chunk was verified and nothing follows it.
pub struct ContainerReader<R: Read> {
    input: R,
    keys: ArchiveKeys,
    digest: [u8; 32],
    info: HeaderInfo,
    index: u64,
    done: bool,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    sticky: StickyError,
}

impl<R: Read> ContainerReader<R> {
    /// Reads and authenticates the header (FORMAT.md 2.4 steps 1-3, in that order).
    pub fn open(mut input: R, master: &MasterKey) -> Result<Self, ContainerError> {
        let header = read_header_bytes(&mut input)?;
        let info = check_structure(&header)?;
        let have = master.id();
        if info.key_id != have {
            return Err(ContainerError::WrongKey { archive: info.key_id, have });
        }
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&header[32..64]);
        let keys = ArchiveKeys::derive(master, &salt);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&header[64..]);
        if !keys.verify_header_mac(&header[..64], &tag) {
            return Err(ContainerError::HeaderDamaged);
        }
        Ok(ContainerReader {
            input,
            keys,
            digest: Sha256::digest(header).into(),
            info,
            index: 0,
            done: false,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            sticky: StickyError::default(),
        })
    }

    pub fn info(&self) -> &HeaderInfo {
        &self.info
    }

    /// Number of chunks verified so far.
    pub fn chunks_read(&self) -> u64 {
        self.index
    }

    /// True once the final chunk was verified and the input was seen to end.
    pub fn is_complete(&self) -> bool {
        self.done
    }

    /// A handle on the first error this reader returns, readable after the reader moved into
    /// a decompressor or tar parser.
    pub fn sticky_error(&self) -> StickyError {
        self.sticky.clone()
    }

    /// Reads, verifies and decrypts the next chunk into `self.buf[pos..end]` (FORMAT.md 2.4
    /// steps 4.1-4.8 and 5, in that order).
    /// Returns false at the (verified) end of the archive.
    fn next_chunk(&mut self) -> Result<bool, ContainerError> {
        if self.done {
            return Ok(false);
        }
        let index = self.index;
        let mut prefix = [0u8; CHUNK_PREFIX_LEN];
        let n = read_full(&mut self.input, &mut prefix)?;
        if n < CHUNK_PREFIX_LEN {
            return Err(ContainerError::Truncated { chunks: index });
        }
        let ct_len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let flags = prefix[4];
        if flags != FLAG_MORE && flags != FLAG_FINAL {
            return Err(ContainerError::BadChunk { index, reason: "unknown flags" });
        }
        // Checked before a byte of the ciphertext is read or allocated: a ct_len near 4 GiB
        // costs nothing.
        if ct_len < 16 || !ct_len.is_multiple_of(16) || ct_len > max_ct_len(self.info.max_plain) {
            return Err(ContainerError::BadChunk { index, reason: "ciphertext length out of bounds" });
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&prefix[5..]);
        self.buf.resize(ct_len + TAG_LEN, 0);
        if read_full(&mut self.input, &mut self.buf)? < ct_len + TAG_LEN {
            return Err(ContainerError::Truncated { chunks: index });
        }
        let (ct, tag) = self.buf.split_at_mut(ct_len);
        // An authentic chunk with bad padding was written wrongly by a holder of the key: it
        // is malformed (bad-chunk), not damaged on the way (FORMAT.md 2.4 step 4.6).
        let plain_len = self.keys.open_chunk(&self.digest, index, flags, &iv, ct, tag).map_err(|e| match e {
            OpenError::BadTag => ContainerError::ChunkDamaged { index },
            OpenError::BadPadding => ContainerError::BadChunk { index, reason: "bad padding" },
        })?;
        if plain_len > self.info.max_plain as usize {
            return Err(ContainerError::BadChunk { index, reason: "plaintext longer than the header allows" });
        }
        if flags == FLAG_MORE && plain_len == 0 {
            return Err(ContainerError::BadChunk { index, reason: "empty non-final chunk" });
        }
        self.index += 1;
        self.pos = 0;
        self.end = plain_len;
        if flags == FLAG_FINAL {
            let mut probe = [0u8; 1];
            if read_full(&mut self.input, &mut probe)? != 0 {
                return Err(ContainerError::TrailingData);
            }
            self.done = true;
        }
        Ok(true)
    }

    fn fill(&mut self) -> Result<(), ContainerError> {
        while self.pos == self.end && !self.done {
            self.next_chunk()?;
        }
        Ok(())
    }
}

impl<R: Read> Read for ContainerReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Some(e) = self.sticky.get() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        if let Err(e) = self.fill() {
            self.sticky.set(&e);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        let n = (self.end - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<usize, ContainerError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ContainerError::Io(e.to_string())),
        }
    }
    Ok(filled)
}

/// Reads a whole container into memory and returns its payload (tests, vectors, small files).
pub fn open_all(archive: &[u8], master: &MasterKey) -> Result<Vec<u8>, ContainerError> {
    let mut reader = ContainerReader::open(archive, master)?;
    let mut out = Vec::new();
    loop {
        reader.fill()?;
        if reader.pos == reader.end {
            break;
        }
        out.extend_from_slice(&reader.buf[reader.pos..reader.end]);
        reader.pos = reader.end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes([5; 32])
    }

    /// A header with max_plain 32 and its sealer.
    fn header() -> (Vec<u8>, ChunkSealer) {
        let mut out = Vec::new();
        let sealer = write_header(&mut out, &key(), 32, &mut rand::rngs::OsRng).unwrap();
        (out, sealer)
    }

    fn open_kind(archive: &[u8], key: &MasterKey) -> &'static str {
        match open_all(archive, key) {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        }
    }

    /// `archive` with its header edited and the header MAC recomputed.
    fn remac(mut archive: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        edit(&mut archive[..64]);
        let salt: [u8; 32] = archive[32..64].try_into().unwrap();
        let mac = ArchiveKeys::derive(&key(), &salt).header_mac(&archive[..64]);
        archive[64..96].copy_from_slice(&mac);
        archive
    }

    #[test]
    fn short_files_are_truncated_below_8_bytes_then_judged_by_the_magic() {
        let not_magic = b"\x89HRSMBK\r".to_vec();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "truncated"),
            (vec![0], "truncated"),
            (b"junk".to_vec(), "truncated"),
            (MAGIC[..7].to_vec(), "truncated"),
            (not_magic.clone(), "not-an-archive"),
            ([&not_magic[..], &[0; 88]].concat(), "not-an-archive"),
            ([&MAGIC[..], &[1; 40]].concat(), "truncated"),
            (header().0[..95].to_vec(), "truncated"),
        ];
        for (bytes, want) in cases {
            assert_eq!(open_kind(&bytes, &key()), want, "{} bytes", bytes.len());
            let peeked = peek_key_id(&mut &bytes[..]).map(|_| ()).map_err(|e| e.kind());
            assert_eq!(peeked, Err(want), "peek, {} bytes", bytes.len());
        }
    }

    #[test]
    fn header_checks_run_in_the_documented_order() {
        let (good, _) = header();
        // Version before reserved before max_plain; all before the key id and the MAC.
        let a = remac(good.clone(), |h| {
            h[9] = 2;
            h[11] = 1;
            h[12..16].copy_from_slice(&0u32.to_be_bytes());
        });
        assert_eq!(open_kind(&a, &key()), "unsupported");
        let a = remac(good.clone(), |h| h[12..16].copy_from_slice(&(MAX_PLAIN_LIMIT + 1).to_be_bytes()));
        assert_eq!(open_kind(&a, &key()), "bad-header");
        assert_eq!(open_kind(&a, &MasterKey::from_bytes([6; 32])), "bad-header");
        // The key id before the MAC: a damaged key id reads as a wrong key, and says so.
        let mut a = good.clone();
        a[20] ^= 1;
        let err = open_all(&a, &key()).unwrap_err();
        assert_eq!(err.kind(), "wrong-key");
        let msg = err.to_string();
        assert!(msg.starts_with("wrong key or damaged header: ") && msg.contains(&key().id().to_string()), "{msg}");
        assert!(msg.contains(&hex::encode(&a[16..32])) && msg.contains("key import"), "{msg}");
        let mut a = good;
        a[40] ^= 1;
        assert_eq!(open_kind(&a, &key()), "header-damaged");
    }

    #[test]
    fn authentic_chunk_with_bad_padding_is_a_bad_chunk() {
        let (mut a, sealer) = header();
        let mut block = *b"fifteen bytes..\x02";
        block[14] = 1;
        sealer.keys.seal_chunk_unpadded(&sealer.digest, 0, FLAG_FINAL, &[3; 16], &block, &mut a);
        let err = open_all(&a, &key()).unwrap_err();
        assert_eq!(err, ContainerError::BadChunk { index: 0, reason: "bad padding" });
        // The same chunk with its tag flipped is damaged, not malformed.
        let last = a.len() - 1;
        a[last] ^= 1;
        assert_eq!(open_kind(&a, &key()), "chunk-damaged");
    }

    #[test]
    fn authentic_plaintext_longer_than_max_plain_is_a_bad_chunk() {
        let (mut a, sealer) = header();
        let mut padded = vec![b'x'; 40];
        padded.resize(48, 8);
        sealer.keys.seal_chunk_unpadded(&sealer.digest, 0, FLAG_FINAL, &[3; 16], &padded, &mut a);
        let err = open_all(&a, &key()).unwrap_err();
        assert!(matches!(err, ContainerError::BadChunk { index: 0, .. }), "{err}");
    }

    #[test]
    fn huge_ct_len_is_refused_before_anything_is_read() {
        let (mut a, _) = header();
        a.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        a.push(FLAG_FINAL);
        a.extend_from_slice(&[0; IV_LEN]);
        // Nothing follows the prefix: a reader that tried to read the ciphertext would say
        // truncated (or run out of memory first).
        assert_eq!(open_kind(&a, &key()), "bad-chunk");
        let mut zero = a.clone();
        zero[96..100].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(open_kind(&zero, &key()), "bad-chunk");
        assert_eq!(open_kind(&a[..98], &key()), "truncated");
    }

    #[test]
    fn empty_final_chunk_after_data_is_valid() {
        let mut w = ContainerWriter::new(Vec::new(), &key(), 32, rand::rngs::OsRng).unwrap();
        w.write_chunk(b"first", false).unwrap();
        let a = w.write_all_final(b"").unwrap();
        assert_eq!(open_all(&a, &key()).unwrap(), b"first");
    }
}
