//! The one SHA-256 stream hasher: every size-and-digest the engine computes (sources at scan
//! time, the tar writer, verify, file and MongoDB restore) goes through `HashingReader`, and
//! the archive file as it is written through `HashingWriter`, so they cannot disagree on what
//! they hash or how the digest is written (lowercase hex).
//!
//! Depends on `progress` only.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::progress::{Event, Progress};

/// Passes reads through, counting bytes and hashing them.
pub struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hash: Sha256::new(), count: 0 }
    }

    /// Size and SHA-256 (hex) of what was read so far, without reading on.
    pub fn digest(self) -> (u64, String) {
        (self.count, hex::encode(self.hash.finalize()))
    }

    /// Reads the rest of the stream, then gives its size and SHA-256 (hex).
    pub fn finish(mut self) -> io::Result<(u64, String)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.digest())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Passes writes through, counting bytes and hashing them: the digest of a file as written,
/// without reading it back.
pub struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    count: u64,
}

impl<W: io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hash: Sha256::new(), count: 0 }
    }

    /// The inner writer, and the size and SHA-256 (hex) of everything written.
    pub fn into_parts(self) -> (W, u64, String) {
        (self.inner, self.count, hex::encode(self.hash.finalize()))
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Size and SHA-256 (hex) of a stream, reporting progress.
pub fn hash_stream(r: &mut dyn Read, progress: &dyn Progress) -> io::Result<(u64, String)> {
    let mut h = HashingReader::new(r);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = h.read(&mut buf)?;
        if n == 0 {
            break;
        }
        progress.event(Event::Advance(n as u64));
    }
    Ok(h.digest())
}

/// Size and SHA-256 (hex) of a file's content.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    hash_stream(&mut File::open(path)?, &crate::progress::NoProgress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_known_digests() {
        let (n, d) = hash_stream(&mut &b""[..], &crate::progress::NoProgress).unwrap();
        assert_eq!((n, d.as_str()), (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut one = [0u8; 1];
        r.read_exact(&mut one).unwrap();
        let (n, d) = r.finish().unwrap();
        assert_eq!((n, d.as_str()), (3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    }
}
