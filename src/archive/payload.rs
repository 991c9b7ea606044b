//! The parallel payload writer: takes the tar stream through `Write`, cuts it into blocks,
//! and on worker threads turns each block into one gzip member sealed as one chunk
//! (docs/FORMAT.md sections 2.3 and 3.1). Output order and memory stay fixed: at most
//! `2 * threads + 1` blocks are in flight.
//!
//! Depends on `container` (sealing), `pipeline` (ordered workers) and flate2.

use std::io::{self, Write};
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use rand_core::{CryptoRng, RngCore};

use crate::archive::container::{write_header, ChunkSealer};
use crate::archive::crypto::{MasterKey, IV_LEN};
use crate::archive::pipeline::OrderedPool;

/// A CSPRNG that can move into the writer.
pub trait SecureRng: RngCore + CryptoRng + Send {}
impl<T: RngCore + CryptoRng + Send> SecureRng for T {}

/// How the payload is compressed and cut.
#[derive(Debug, Clone)]
pub struct PayloadOptions {
    /// Tar bytes per gzip member / chunk.
    pub block_size: usize,
    /// gzip level 0-9.
    pub level: u32,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

impl Default for PayloadOptions {
    fn default() -> Self {
        PayloadOptions { block_size: 1 << 20, level: 6, threads: 0 }
    }
}

impl PayloadOptions {
    fn worker_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        }
    }

    /// The header's `max_plain`: a block plus the worst-case gzip growth of stored data
    /// (5 bytes per 64 KiB block plus header and trailer), rounded up generously.
    fn max_plain(&self) -> u32 {
        (self.block_size + self.block_size / 1024 + 4096) as u32
    }
}

struct Job {
    index: u64,
    is_final: bool,
    iv: [u8; IV_LEN],
    data: Vec<u8>,
}

/// Totals of a finished payload.
#[derive(Debug, Clone, Copy, Default)]
pub struct PayloadStats {
    /// Uncompressed payload bytes (the tar stream).
    pub plain_bytes: u64,
    /// Bytes written to the output, header included.
    pub archive_bytes: u64,
    pub chunks: u64,
}

pub struct PayloadWriter<W: Write> {
    out: W,
    pool: OrderedPool<Job, io::Result<Vec<u8>>>,
    rng: Box<dyn SecureRng>,
    block: Vec<u8>,
    block_size: usize,
    max_in_flight: usize,
    next_index: u64,
    stats: PayloadStats,
}

impl<W: Write> PayloadWriter<W> {
    pub fn new(mut out: W, master: &MasterKey, opts: &PayloadOptions, mut rng: Box<dyn SecureRng>) -> io::Result<Self> {
        if opts.block_size == 0 || opts.block_size > 8 << 20 || opts.level > 9 {
            return Err(io::Error::other("block size must be 1 B..8 MiB and gzip level 0..9"));
        }
        let sealer: Arc<ChunkSealer> = Arc::new(write_header(&mut out, master, opts.max_plain(), &mut *rng)?);
        let level = opts.level;
        let threads = opts.worker_count();
        let pool = OrderedPool::new(threads, move |job: Job| seal_block(&sealer, level, job));
        Ok(PayloadWriter {
            out,
            pool,
            rng,
            block: Vec::with_capacity(opts.block_size),
            block_size: opts.block_size,
            max_in_flight: 2 * threads + 1,
            next_index: 0,
            stats: PayloadStats { archive_bytes: crate::archive::container::HEADER_LEN as u64, ..Default::default() },
        })
    }

    fn submit_block(&mut self, is_final: bool) -> io::Result<()> {
        let mut iv = [0u8; IV_LEN];
        self.rng.fill_bytes(&mut iv);
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(self.block_size));
        self.pool.submit(Job { index: self.next_index, is_final, iv, data });
        self.next_index += 1;
        while let Some(done) = self.pool.try_next() {
            self.emit(done)?;
        }
        while self.pool.in_flight() >= self.max_in_flight {
            match self.pool.next() {
                Some(done) => self.emit(done)?,
                None => break,
            }
        }
        Ok(())
    }

    fn emit(&mut self, done: Result<io::Result<Vec<u8>>, crate::archive::pipeline::WorkerPanic>) -> io::Result<()> {
        let bytes = done.map_err(|p| io::Error::other(format!("compression worker failed: {}", p.0)))??;
        self.out.write_all(&bytes)?;
        self.stats.archive_bytes += bytes.len() as u64;
        self.stats.chunks += 1;
        Ok(())
    }

    /// Seals the last block as the final chunk, writes everything and returns the output.
    pub fn finish(mut self) -> io::Result<(W, PayloadStats)> {
        self.submit_block(true)?;
        while let Some(done) = self.pool.next() {
            self.emit(done)?;
        }
        self.out.flush()?;
        let stats = self.stats;
        // Dropping the pool joins the idle workers.
        let PayloadWriter { out, .. } = self;
        Ok((out, stats))
    }
}

impl<W: Write> Write for PayloadWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            // A full block is sealed only once more data arrives: only `finish` knows which
            // block is the final one.
            if self.block.len() == self.block_size {
                self.submit_block(false)?;
            }
            let take = (self.block_size - self.block.len()).min(buf.len());
            self.block.extend_from_slice(&buf[..take]);
            self.stats.plain_bytes += take as u64;
            buf = &buf[take..];
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Worker body: compress one block into a gzip member and seal it as one chunk.
fn seal_block(sealer: &ChunkSealer, level: u32, job: Job) -> io::Result<Vec<u8>> {
    let member = gzip_member(&job.data, level)?;
    let mut out = Vec::with_capacity(member.len() + 80);
    sealer.seal(job.index, job.is_final, &job.iv, &member, &mut out)?;
    Ok(out)
}

/// One gzip member; an empty block gives an empty plaintext (only possible as the final
/// chunk of an empty payload). Blocks that do not compress (uploaded PDFs, JPEGs, keys...) are
/// stored: a fast level-1 probe of the first 64 KiB decides, which saves most of the time
/// deflate would spend searching random data for matches.
fn gzip_member(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let level = if level > 0 && looks_incompressible(data)? { 0 } else { level };
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), Compression::new(level));
    enc.write_all(data)?;
    enc.finish()
}

fn looks_incompressible(data: &[u8]) -> io::Result<bool> {
    // Four 16 KiB windows spread over the block must all fail to shrink: a tar block often
    // mixes a JPEG with text files, and storing text would cost far more than it saves.
    const WINDOW: usize = 16 * 1024;
    if data.len() < 4 * WINDOW {
        return Ok(false);
    }
    for i in 0..4 {
        let start = (data.len() - WINDOW) * i / 3;
        let sample = &data[start..start + WINDOW];
        let mut enc = flate2::write::DeflateEncoder::new(Vec::with_capacity(WINDOW + 64), Compression::fast());
        enc.write_all(sample)?;
        if (enc.finish()?.len() as f64) < WINDOW as f64 * 0.97 {
            return Ok(false);
        }
    }
    Ok(true)
}
