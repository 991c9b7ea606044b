//! The old service's encryption, read: AES-256-CBC with PKCS#7 padding and no MAC, in two
//! variants that both put 16 bytes before the ciphertext.
//!
//! - `Raw`: the key is the 32 bytes of the 64-hex `BACKUP_ENCRYPTION_KEY`, the 16 bytes before
//!   the ciphertext are the IV (HR-SM's `backupService.js`: `createCipheriv` with
//!   `Buffer.from(key, 'hex')`).
//! - `Evp`: Node's old `createCipher(algorithm, password)`, which derives key and IV with
//!   OpenSSL's `EVP_BytesToKey` (MD5, one round, no salt) from the password's bytes and
//!   ignores the 16-byte prefix. A string password is its UTF-8 bytes, the hex text itself
//!   (`Evp`); a Buffer password would be the decoded bytes (`EvpDecoded`), tried as well.
//!
//! A candidate is right when the first block decrypts to the gzip magic `1f 8b 08` and the
//! last block to valid padding: two blocks decide, whatever the file's size; only then is the
//! whole file decrypted, as a stream.
//!
//! Depends on `aes`, `cbc`, `md-5`; no I/O beyond the reader it is given.

use std::io::{self, Read};

use aes::Aes256;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

const BLOCK: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Raw,
    Evp,
    EvpDecoded,
}

impl Variant {
    pub fn describe(self) -> &'static str {
        match self {
            Variant::Raw => "AES-256-CBC with the key's 32 bytes and the file's IV",
            Variant::Evp => "AES-256-CBC with key and IV derived from the key text (OpenSSL EVP_BytesToKey)",
            Variant::EvpDecoded => "AES-256-CBC with key and IV derived from the key's bytes (OpenSSL EVP_BytesToKey)",
        }
    }
}

/// One way to decrypt with one candidate key. Never printed: the key stays in here.
#[derive(Clone)]
pub struct Cipher {
    key: Zeroizing<[u8; 32]>,
    /// The derived IV of the EVP variants; None: the file's first 16 bytes.
    iv: Option<[u8; 16]>,
    pub variant: Variant,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Cipher").field("variant", &self.variant).finish_non_exhaustive()
    }
}

/// OpenSSL's `EVP_BytesToKey(aes-256-cbc, md5, salt = none, count = 1)`: 32 key bytes and 16
/// IV bytes from `D_i = MD5(D_{i-1} || password)`.
pub fn evp_bytes_to_key(password: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 16]) {
    let mut out = Zeroizing::new([0u8; 48]);
    let mut prev: Vec<u8> = Vec::new();
    let mut filled = 0;
    while filled < 48 {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(password);
        let d = h.finalize();
        let n = d.len().min(48 - filled);
        out[filled..filled + n].copy_from_slice(&d[..n]);
        filled += n;
        prev = d.to_vec();
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&out[..32]);
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&out[32..]);
    (key, iv)
}

/// Every way the old services could have used `text` as their key.
pub fn ciphers_for(text: &str) -> Vec<Cipher> {
    let t = text.trim();
    let mut out = Vec::new();
    let decoded = (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex::decode(t).ok())
        .flatten()
        .map(Zeroizing::new);
    if let Some(bytes) = &decoded {
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(bytes);
        out.push(Cipher { key, iv: None, variant: Variant::Raw });
    }
    if !t.is_empty() {
        let (key, iv) = evp_bytes_to_key(t.as_bytes());
        out.push(Cipher { key, iv: Some(iv), variant: Variant::Evp });
    }
    if let Some(bytes) = &decoded {
        let (key, iv) = evp_bytes_to_key(bytes);
        out.push(Cipher { key, iv: Some(iv), variant: Variant::EvpDecoded });
    }
    out
}

/// How a cipher fits a file, judged from its first and last blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// gzip magic at the start and valid padding at the end.
    Opens,
    /// gzip magic at the start only: the right key on a cut or damaged file.
    StartOnly,
    No,
}

impl Cipher {
    fn iv(&self, prefix: &[u8; 16]) -> [u8; 16] {
        self.iv.unwrap_or(*prefix)
    }

    fn decrypt_block(&self, iv: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
        let mut b = *block;
        let mut dec = cbc::Decryptor::<Aes256>::new(self.key.as_ref().into(), iv.into());
        dec.decrypt_block_mut((&mut b).into());
        b
    }

    /// Judges the file from `head` (its first 32 bytes: prefix and first ciphertext block)
    /// and `tail` (its last 32 bytes: the block before the last, or the IV, and the last).
    pub fn fit(&self, head: &[u8; 32], tail: &[u8; 32]) -> Fit {
        let prefix: [u8; 16] = head[..16].try_into().unwrap_or([0; 16]);
        let first: [u8; 16] = head[16..].try_into().unwrap_or([0; 16]);
        let plain = self.decrypt_block(&self.iv(&prefix), &first);
        if plain[..3] != [0x1f, 0x8b, 0x08] {
            return Fit::No;
        }
        // The last block's chaining value is the ciphertext block before it, or the IV when
        // the file has a single block.
        let single = head == tail;
        let before: [u8; 16] = if single { self.iv(&prefix) } else { tail[..16].try_into().unwrap_or([0; 16]) };
        let last = self.decrypt_block(&before, &tail[16..].try_into().unwrap_or([0; 16]));
        if padding(&last).is_some() {
            Fit::Opens
        } else {
            Fit::StartOnly
        }
    }

    /// The plaintext of `input` (positioned at the file's start: the 16-byte prefix is read
    /// here), as a stream that fails at its end if the padding is not valid.
    pub fn decrypt<R: Read>(&self, mut input: R) -> io::Result<DecryptReader<R>> {
        let mut prefix = [0u8; 16];
        input.read_exact(&mut prefix)?;
        let iv = self.iv(&prefix);
        Ok(DecryptReader {
            inner: input,
            dec: cbc::Decryptor::<Aes256>::new(self.key.as_ref().into(), (&iv).into()),
            buf: Vec::with_capacity(1 << 16),
            chunk: vec![0u8; 1 << 16],
            out: Vec::new(),
            at: 0,
            held: None,
            done: false,
        })
    }
}

/// The number of padding bytes of a final block, if its PKCS#7 padding is valid.
fn padding(last: &[u8; 16]) -> Option<usize> {
    let p = last[15] as usize;
    ((1..=BLOCK).contains(&p) && last[BLOCK - p..].iter().all(|&b| b as usize == p)).then_some(p)
}

/// A CBC-decrypting reader: holds back the last block until the input ends, then checks and
/// removes its padding. A cut input (not a whole number of blocks) or bad padding is an
/// `InvalidData` error: the caller keeps nothing it read.
pub struct DecryptReader<R> {
    inner: R,
    dec: cbc::Decryptor<Aes256>,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    held: Option<[u8; 16]>,
    done: bool,
}

impl<R: Read> DecryptReader<R> {
    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.at = 0;
        let n = read_full(&mut self.inner, &mut self.chunk)?;
        self.buf.extend_from_slice(&self.chunk[..n]);
        if n == 0 {
            // The end: what is left must be nothing, and the held block the padded last one.
            self.done = true;
            if !self.buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file ends inside an encryption block (it is truncated)",
                ));
            }
            let last = self.held.take().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "the file holds no encrypted data (it is truncated)")
            })?;
            let p = padding(&last).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "its last block does not decrypt to valid padding (the file is truncated or damaged)",
                )
            })?;
            self.out.extend_from_slice(&last[..BLOCK - p]);
            return Ok(());
        }
        let whole = self.buf.len() / BLOCK * BLOCK;
        let mut blocks: Vec<u8> = self.buf.drain(..whole).collect();
        for b in blocks.chunks_exact_mut(BLOCK) {
            self.dec.decrypt_block_mut(b.into());
        }
        for b in blocks.chunks_exact(BLOCK) {
            if let Some(prev) = self.held.replace(b.try_into().unwrap_or([0; 16])) {
                self.out.extend_from_slice(&prev);
            }
        }
        Ok(())
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::BlockEncryptMut;

    /// Encrypts as the old service did: `Raw` (IV prefix) or `Evp` (derived from the key
    /// text, random-looking prefix ignored).
    pub fn old_encrypt(key_hex: &str, evp: bool, plain: &[u8], prefix: [u8; 16]) -> Vec<u8> {
        let (key, iv) = if evp {
            let (k, iv) = evp_bytes_to_key(key_hex.as_bytes());
            (*k, iv)
        } else {
            (hex::decode(key_hex).unwrap().try_into().unwrap(), prefix)
        };
        let enc = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into());
        let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(plain);
        let mut out = prefix.to_vec();
        out.extend(ct);
        out
    }

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -nosalt -md md5 -pass pass:password -P`
        let (key, iv) = evp_bytes_to_key(b"password");
        assert_eq!(hex::encode(*key), "5f4dcc3b5aa765d61d8327deb882cf992b95990a9151374abd8ff8c5a7a0fe08");
        assert_eq!(hex::encode(iv), "b7b4372cdfbcb3d16a2631b59b509e94");
    }

    fn head_tail(file: &[u8]) -> ([u8; 32], [u8; 32]) {
        (file[..32].try_into().unwrap(), file[file.len() - 32..].try_into().unwrap())
    }

    #[test]
    fn both_variants_open_and_stream_and_a_cut_file_is_refused() {
        let key = "ab".repeat(32);
        let mut plain = vec![0x1f, 0x8b, 0x08, 0];
        plain.extend((0..200_000u32).map(|i| (i % 251) as u8));
        for evp in [false, true] {
            let file = old_encrypt(&key, evp, &plain, [7; 16]);
            let ciphers = ciphers_for(&key);
            let (h, t) = head_tail(&file);
            let fits: Vec<Fit> = ciphers.iter().map(|c| c.fit(&h, &t)).collect();
            let right = if evp { Variant::Evp } else { Variant::Raw };
            let c = ciphers.iter().find(|c| c.variant == right).unwrap();
            assert_eq!(c.fit(&h, &t), Fit::Opens, "{fits:?}");
            assert_eq!(fits.iter().filter(|f| **f == Fit::Opens).count(), 1, "{fits:?}");
            let mut got = Vec::new();
            c.decrypt(&file[..]).unwrap().read_to_end(&mut got).unwrap();
            assert_eq!(got, plain);
            // Cut at a block boundary: the start still fits, the end does not.
            let cut = &file[..file.len() - 32];
            let (h, t) = head_tail(cut);
            assert_eq!(c.fit(&h, &t), Fit::StartOnly);
            let err = c.decrypt(cut).unwrap().read_to_end(&mut Vec::new()).unwrap_err();
            assert!(err.to_string().contains("truncated or damaged"), "{err}");
            let err = c.decrypt(&file[..file.len() - 5]).unwrap().read_to_end(&mut Vec::new()).unwrap_err();
            assert!(err.to_string().contains("inside an encryption block"), "{err}");
        }
        let other = ciphers_for(&"cd".repeat(32));
        let file = old_encrypt(&key, false, &plain, [7; 16]);
        let (h, t) = head_tail(&file);
        assert!(other.iter().all(|c| c.fit(&h, &t) == Fit::No));
        // A one-block plaintext: its single block is first and last at once.
        let small = old_encrypt(&key, false, &[0x1f, 0x8b, 0x08], [9; 16]);
        let c = &ciphers_for(&key)[0];
        let (h, t) = head_tail(&small);
        assert_eq!(c.fit(&h, &t), Fit::Opens);
    }
}
