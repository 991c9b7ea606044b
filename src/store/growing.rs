//! A spool file read while it is still being written: the restore's archive reader writes a
//! collection's documents into it as they stream out of the archive, and that collection's
//! filler reads them from the start at the same time, waiting at the end of what is written
//! until the writer adds more or says it is done. The filler so starts with the collection's
//! first chunk instead of after its last, and the reader does not wait for that collection's
//! inserts. (A pipe or a channel would make the reader wait for the slowest filler; a plain
//! file read after it is closed made the largest collection start seconds late.)
//!
//! Depends on `fsutil` and `error`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Bytes gathered before they are written and shown to the reader: few system calls and few
/// wake-ups, and the reader never waits long for a first batch.
const CHUNK: usize = 256 << 10;

#[derive(Default)]
struct State {
    /// Bytes written to the file that the reader may read.
    written: u64,
    /// The writer finished: the file is whole.
    done: bool,
    /// The writer went away without finishing (its input failed or was cancelled).
    abandoned: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    grown: Condvar,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut State)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
        self.grown.notify_all();
    }
}

/// The writing end. `finish` makes the file whole for the reader; dropped without it, the
/// reader's next read past what was written fails.
pub struct GrowingWriter {
    file: File,
    buf: Vec<u8>,
    written: u64,
    shared: Arc<Shared>,
}

/// The reading end: reads what is written so far, waits for more, and ends where the writer
/// finished. `stop` (set by whoever stops the work) ends a wait with an error.
pub struct GrowingReader {
    file: File,
    read: u64,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

/// Creates `writer_file`'s reading end on `reader_file` (the same file opened twice).
fn pair(writer_file: File, reader_file: File, stop: Arc<AtomicBool>) -> (GrowingWriter, GrowingReader) {
    let shared = Arc::new(Shared::default());
    (
        GrowingWriter { file: writer_file, buf: Vec::with_capacity(CHUNK), written: 0, shared: shared.clone() },
        GrowingReader { file: reader_file, read: 0, shared, stop },
    )
}

/// Creates `path` (private) and opens it again for reading.
pub fn create(path: &Path, stop: Arc<AtomicBool>) -> crate::error::Result<(GrowingWriter, GrowingReader)> {
    let writer = crate::fsutil::create_private_file(path)?;
    let reader = File::open(path).map_err(|e| crate::error::Error::io("open", path, e))?;
    Ok(pair(writer, reader, stop))
}

impl GrowingWriter {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        let written = self.written;
        self.shared.update(|s| s.written = written);
        Ok(())
    }

    /// Writes the rest and tells the reader the file is whole.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush_chunk()?;
        self.shared.update(|s| s.done = true);
        Ok(())
    }
}

impl Write for GrowingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_chunk()
    }
}

impl Drop for GrowingWriter {
    fn drop(&mut self) {
        self.shared.update(|s| {
            if !s.done {
                s.abandoned = true;
            }
        });
    }
}

impl Read for GrowingReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let available = {
            let Ok(mut s) = self.shared.state.lock() else {
                return Err(std::io::Error::other("the spool's writer failed"));
            };
            loop {
                if s.written > self.read {
                    break s.written - self.read;
                }
                if s.done {
                    return Ok(0);
                }
                // Not `Interrupted`: the standard readers retry that.
                if s.abandoned {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the spool ends where its writer stopped",
                    ));
                }
                if self.stop.load(Ordering::Relaxed) {
                    return Err(std::io::Error::other("stopped"));
                }
                // Woken by the writer; the timeout only looks at `stop` again.
                s = match self.shared.grown.wait_timeout(s, Duration::from_millis(100)) {
                    Ok((s, _)) => s,
                    Err(_) => return Err(std::io::Error::other("the spool's writer failed")),
                };
            }
        };
        let want = out.len().min(usize::try_from(available).unwrap_or(usize::MAX));
        let got = self.file.read(&mut out[..want])?;
        if got == 0 {
            // Written but not there: never a clean end (that would lose documents silently).
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the spool file is shorter than what was written to it",
            ));
        }
        self.read += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(name: &str) -> (tempfile::TempDir, std::path::PathBuf, Arc<AtomicBool>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        (dir, path, Arc::new(AtomicBool::new(false)))
    }

    #[test]
    fn the_reader_gets_every_byte_while_the_writer_is_still_writing() {
        let (_dir, path, stop) = fresh("a");
        let (mut w, mut r) = create(&path, stop).unwrap();
        let data: Vec<u8> = (0..5 * CHUNK + 123).map(|i| (i * 7 % 251) as u8).collect();
        let expected = data.clone();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            got
        });
        for piece in data.chunks(4000) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(reader.join().unwrap(), expected);
    }

    #[test]
    fn the_reader_starts_before_the_writer_is_done() {
        let (_dir, path, stop) = fresh("b");
        let (mut w, mut r) = create(&path, stop).unwrap();
        w.write_all(&vec![1u8; CHUNK]).unwrap();
        // One chunk is out; the writer has not finished, yet the reader gets it now.
        let mut first = vec![0u8; CHUNK];
        r.read_exact(&mut first).unwrap();
        assert!(first.iter().all(|&b| b == 1));
        w.write_all(b"tail").unwrap();
        w.finish().unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"tail");
    }

    #[test]
    fn a_writer_gone_without_finishing_fails_the_reader_instead_of_a_short_end() {
        let (_dir, path, stop) = fresh("c");
        let (mut w, mut r) = create(&path, stop).unwrap();
        w.write_all(b"half a document").unwrap();
        w.flush().unwrap();
        drop(w);
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(got, b"half a document");
    }

    #[test]
    fn stop_ends_a_reader_waiting_for_more() {
        let (_dir, path, stop) = fresh("d");
        let (w, mut r) = create(&path, stop.clone()).unwrap();
        let reader = std::thread::spawn(move || r.read(&mut [0u8; 16]));
        std::thread::sleep(Duration::from_millis(150));
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap().is_err());
        drop(w);
    }
}
