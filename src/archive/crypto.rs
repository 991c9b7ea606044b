//! Cryptographic primitives of the archive format (docs/FORMAT.md sections 1 and 2.2): the
//! master key, key ids, per-archive key derivation, and sealing/opening one chunk.
//!
//! Depends only on RustCrypto crates; it knows nothing of files, tar or the header layout.
//! Secrets live in types that zeroize on drop and never print themselves.

use std::fmt;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

type HmacSha256 = Hmac<Sha256>;

/// Length of the master key and of every derived key.
pub const KEY_LEN: usize = 32;
/// Length of a key id as stored in the header.
pub const KEY_ID_LEN: usize = 16;
/// Length of a chunk IV (one AES block).
pub const IV_LEN: usize = 16;
/// Length of an HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;
/// Length of the fixed prefix of a chunk: ct_len (4), flags (1), iv (16).
pub const CHUNK_PREFIX_LEN: usize = 4 + 1 + IV_LEN;

const KEY_ID_LABEL: &[u8] = b"hrsm-backup/v1 key-id";
const INFO_HEADER: &[u8] = b"hrsm-backup/v1 header-mac";
const INFO_ENC: &[u8] = b"hrsm-backup/v1 aes-256-cbc";
const INFO_MAC: &[u8] = b"hrsm-backup/v1 chunk-mac";

/// The 256-bit master key. `Debug` shows only its id.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        MasterKey(bytes)
    }

    /// A fresh key from a cryptographically secure RNG.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// The raw key, for the recovery export only.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key id (FORMAT.md section 1): names the key without revealing it.
    pub fn id(&self) -> KeyId {
        let mut mac = hmac_sha256(&self.0);
        mac.update(KEY_ID_LABEL);
        let full = mac.finalize().into_bytes();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&full[..KEY_ID_LEN]);
        KeyId(id)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {})", self.id())
    }
}

/// Fingerprint of a master key, shown as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The three keys of one archive, derived from the master key and the archive's salt.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ArchiveKeys {
    header_mac: [u8; KEY_LEN],
    enc: [u8; KEY_LEN],
    chunk_mac: [u8; KEY_LEN],
}

/// Why a chunk could not be opened. The tag is checked first, so bad padding can only come
/// from a buggy writer that nevertheless had the key: FORMAT.md calls the first
/// `chunk-damaged` and the second `bad-chunk` (a malformed chunk).
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    BadTag,
    BadPadding,
}

impl ArchiveKeys {
    pub fn derive(master: &MasterKey, salt: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(salt), &master.0);
        let mut keys = ArchiveKeys { header_mac: [0; KEY_LEN], enc: [0; KEY_LEN], chunk_mac: [0; KEY_LEN] };
        // HKDF-Expand only fails for outputs longer than 255 * 32 bytes; ours are 32.
        for (info, out) in
            [(INFO_HEADER, &mut keys.header_mac), (INFO_ENC, &mut keys.enc), (INFO_MAC, &mut keys.chunk_mac)]
        {
            if hk.expand(info, out).is_err() {
                unreachable!("HKDF output of 32 bytes is always valid");
            }
        }
        keys
    }

    pub fn header_mac(&self, unsigned_header: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = hmac_sha256(&self.header_mac);
        mac.update(unsigned_header);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of the header MAC.
    pub fn verify_header_mac(&self, unsigned_header: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        let mut mac = hmac_sha256(&self.header_mac);
        mac.update(unsigned_header);
        mac.verify_slice(tag).is_ok()
    }

    fn chunk_mac(&self, header_digest: &[u8; 32], index: u64, flags: u8, iv: &[u8; IV_LEN]) -> HmacSha256 {
        let mut mac = hmac_sha256(&self.chunk_mac);
        mac.update(header_digest);
        mac.update(&index.to_be_bytes());
        mac.update(&[flags]);
        mac.update(iv);
        mac
    }

    /// Appends one complete chunk (prefix, ciphertext, tag) to `out`.
    pub fn seal_chunk(
        &self,
        header_digest: &[u8; 32],
        index: u64,
        flags: u8,
        iv: &[u8; IV_LEN],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) {
        let ct_len = padded_len(plaintext.len());
        let start = out.len();
        out.resize(start + CHUNK_PREFIX_LEN + ct_len + TAG_LEN, 0);
        let (prefix, rest) = out[start..].split_at_mut(CHUNK_PREFIX_LEN);
        // ct_len <= max_plain + 16 <= 2^24 + 16, far below u32::MAX.
        prefix[..4].copy_from_slice(&(ct_len as u32).to_be_bytes());
        prefix[4] = flags;
        prefix[5..].copy_from_slice(iv);
        let (ct, tag) = rest.split_at_mut(ct_len);
        let enc = cbc::Encryptor::<Aes256>::new(&self.enc.into(), iv.into());
        if enc.encrypt_padded_b2b_mut::<Pkcs7>(plaintext, ct).is_err() {
            unreachable!("the output buffer was sized with padded_len");
        }
        let mut mac = self.chunk_mac(header_digest, index, flags, iv);
        mac.update(ct);
        tag.copy_from_slice(&mac.finalize().into_bytes());
    }

    /// Test helper: a chunk like `seal_chunk` makes, but with `padded` (a multiple of 16 bytes)
    /// encrypted as it is, without adding padding: lets tests build authentic chunks with bad
    /// padding or too long a plaintext, which no writer may produce.
    #[cfg(test)]
    pub(crate) fn seal_chunk_unpadded(
        &self,
        header_digest: &[u8; 32],
        index: u64,
        flags: u8,
        iv: &[u8; IV_LEN],
        padded: &[u8],
        out: &mut Vec<u8>,
    ) {
        use cbc::cipher::block_padding::NoPadding;
        assert_eq!(padded.len() % 16, 0, "whole blocks only");
        let mut ct = padded.to_vec();
        let enc = cbc::Encryptor::<Aes256>::new(&self.enc.into(), iv.into());
        if enc.encrypt_padded_mut::<NoPadding>(&mut ct, padded.len()).is_err() {
            unreachable!("whole blocks need no padding");
        }
        let mut mac = self.chunk_mac(header_digest, index, flags, iv);
        mac.update(&ct);
        out.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        out.push(flags);
        out.extend_from_slice(iv);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&mac.finalize().into_bytes());
    }

    /// Verifies the tag, then decrypts `ciphertext` in place and returns the plaintext length.
    pub fn open_chunk(
        &self,
        header_digest: &[u8; 32],
        index: u64,
        flags: u8,
        iv: &[u8; IV_LEN],
        ciphertext: &mut [u8],
        tag: &[u8],
    ) -> Result<usize, OpenError> {
        let mut mac = self.chunk_mac(header_digest, index, flags, iv);
        mac.update(ciphertext);
        mac.verify_slice(tag).map_err(|_| OpenError::BadTag)?;
        let dec = cbc::Decryptor::<Aes256>::new(&self.enc.into(), iv.into());
        dec.decrypt_padded_mut::<Pkcs7>(ciphertext).map(|plain| plain.len()).map_err(|_| OpenError::BadPadding)
    }
}

/// Ciphertext length of a plaintext of `len` bytes under PKCS#7 (always adds 1..=16 bytes).
pub fn padded_len(len: usize) -> usize {
    (len / 16 + 1) * 16
}

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length.
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = MasterKey::from_bytes([0xAB; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(shown.contains(&key.id().to_string()));
    }

    #[test]
    fn seal_then_open_round_trips_and_binds_index() {
        let keys = ArchiveKeys::derive(&MasterKey::from_bytes([7; 32]), &[9; 32]);
        let digest = [1u8; 32];
        let iv = [2u8; 16];
        let mut wire = Vec::new();
        keys.seal_chunk(&digest, 3, 1, &iv, b"hello chunk", &mut wire);
        let ct_len = u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize;
        assert_eq!(ct_len, 16);
        let (body, tag) = wire[CHUNK_PREFIX_LEN..].split_at_mut(ct_len);
        let mut copy = body.to_vec();
        assert_eq!(keys.open_chunk(&digest, 4, 1, &iv, &mut copy, tag), Err(OpenError::BadTag));
        let n = keys.open_chunk(&digest, 3, 1, &iv, body, tag).unwrap();
        assert_eq!(&body[..n], b"hello chunk");
    }
}
