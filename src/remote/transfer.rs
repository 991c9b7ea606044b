//! Moving archives to and from a destination without holding them in memory: uploads in parts
//! (a few parts of 16 MiB or more in flight, so memory stays flat whatever the archive's size)
//! that a later process resumes where this one stopped (the upload id and the finished parts
//! are kept in a small state file beside the local backups), and downloads streamed to a file
//! while their SHA-256 is computed.
//!
//! A dropped connection or a restarting server inside one run is retried by object_store
//! request by request (exponential back-off, `retry_config`); a run that dies (power cut,
//! killed) leaves the state file, and the next copy of the same archive sends only the parts
//! that are missing.
//!
//! Depends on `remote` (the store), `fsutil`, `fault`, `progress` and `error`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use futures_util::StreamExt;
use object_store::multipart::PartId;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use super::Remote;
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};

/// The smallest part (S3 refuses parts under 5 MiB but the last); larger archives get larger
/// parts so that no upload needs more than S3's 10,000.
const MIN_PART: u64 = 16 << 20;
const MAX_PARTS: u64 = 9_000;
/// Parts in flight at once: memory is at most this many parts.
const IN_FLIGHT: usize = 3;

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub size: u64,
    pub parts: usize,
    /// Parts an earlier, interrupted run had already sent (not sent again).
    pub resumed_parts: usize,
}

/// What a download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub size: u64,
    pub sha256: String,
}

/// An upload in progress, as the state file keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct PendingUpload {
    object: String,
    size: u64,
    part_size: u64,
    upload_id: String,
    /// The store's id of each finished part, by index.
    parts: Vec<Option<String>>,
    /// Parts sent with their SHA-256 (ids of another form): an upload begun by a version
    /// that sent none is started afresh rather than completed with ids of two forms.
    #[serde(default)]
    checksummed: bool,
}

/// Keeps an upload under the destination's bandwidth limit: before each piece goes out, waits
/// until the bytes sent so far fit the limit since the upload began. Averaged, not shaped:
/// a piece itself goes at the line's speed (object_store sends a part's body as one request;
/// shaping it would mean our own HTTP body stream, for little gain on a nightly job).
pub(crate) struct Pace {
    bytes_per_sec: Option<f64>,
    start: std::time::Instant,
    sent: u64,
}

impl Pace {
    pub(crate) fn new(limit_mbps: Option<u32>) -> Self {
        Pace {
            bytes_per_sec: limit_mbps.map(|m| m as f64 * 1_000_000.0 / 8.0),
            start: std::time::Instant::now(),
            sent: 0,
        }
    }

    /// Waits for the turn of `len` more bytes; false when the run was cancelled meanwhile.
    async fn turn(&mut self, len: u64, progress: &dyn Progress) -> bool {
        if let Some(rate) = self.bytes_per_sec {
            let due = self.start + std::time::Duration::from_secs_f64(self.sent as f64 / rate);
            while std::time::Instant::now() < due {
                if progress.cancelled() {
                    return false;
                }
                let left = due.saturating_duration_since(std::time::Instant::now());
                tokio::time::sleep(left.min(std::time::Duration::from_millis(250))).await;
            }
        }
        self.sent += len;
        true
    }
}

pub fn part_size_for(size: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS);
    needed.next_multiple_of(1 << 20).max(MIN_PART)
}

impl Remote {
    /// Uploads the file `local` as `name`. `state` is where an interrupted upload is
    /// remembered (one per destination); it is removed when the upload completes.
    pub fn upload_file(&self, local: &Path, name: &str, state: &Path, progress: &dyn Progress) -> Result<Uploaded> {
        let size = std::fs::metadata(local).map_err(|e| Error::io("read", local, e))?.len();
        let part_size = part_size_for(size);
        progress.event(Event::Total(size));
        match &self.parts {
            Some(_) if size > part_size => self.upload_resumable(local, name, size, part_size, state, progress),
            Some(_) => {
                let bytes = std::fs::read(local).map_err(|e| Error::io("read", local, e))?;
                self.put_small(name, bytes)?;
                progress.event(Event::Advance(size));
                Ok(Uploaded { size, parts: 1, resumed_parts: 0 })
            }
            None => self.upload_streamed(local, name, size, part_size, progress),
        }
    }

    /// A store without resumable parts (a folder): written through object_store's own
    /// multipart writer (a temp file renamed at the end, for a folder), a part at a time.
    fn upload_streamed(
        &self,
        local: &Path,
        name: &str,
        size: u64,
        part_size: u64,
        progress: &dyn Progress,
    ) -> Result<Uploaded> {
        let path = self.path(name);
        let mut file = File::open(local).map_err(|e| Error::io("read", local, e))?;
        let result = self.rt.block_on(async {
            let upload = self.store.put_multipart(&path).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size as usize);
            let mut buf = vec![0u8; 1 << 20];
            let mut pace = Pace::new(self.cfg.upload_limit_mbps);
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        writer.abort().await?;
                        return Ok(Err(Error::io("read", local, e)));
                    }
                };
                if !pace.turn(n as u64, progress).await {
                    writer.abort().await?;
                    return Ok(Err(Error::Cancelled));
                }
                writer.wait_for_capacity(IN_FLIGHT).await?;
                writer.write(&buf[..n]);
                progress.event(Event::Advance(n as u64));
                if progress.cancelled() {
                    writer.abort().await?;
                    return Ok(Err(Error::Cancelled));
                }
            }
            writer.finish().await?;
            Ok::<_, object_store::Error>(Ok(()))
        });
        result.map_err(|e| self.err(&format!("cannot write {name}"), e))??;
        Ok(Uploaded { size, parts: size.div_ceil(part_size).max(1) as usize, resumed_parts: 0 })
    }

    fn upload_resumable(
        &self,
        local: &Path,
        name: &str,
        size: u64,
        part_size: u64,
        state: &Path,
        progress: &dyn Progress,
    ) -> Result<Uploaded> {
        let Some(parts_store) = self.parts.clone() else {
            return Err(Error::Offsite { destination: self.cfg.name.clone(), message: "no multipart uploads".into() });
        };
        let path = self.path(name);
        // The whole object path (prefix and all), so a resumed upload is this very object's.
        let object = format!("{}/{}", self.cfg.bucket.as_deref().unwrap_or_default(), path);
        let count = size.div_ceil(part_size) as usize;
        // An earlier run's upload of this very file continues; any other is abandoned.
        let mut pending = match read_state(state) {
            Some(p)
                if p.object == object
                    && p.size == size
                    && p.part_size == part_size
                    && p.parts.len() == count
                    && p.checksummed =>
            {
                Some(p)
            }
            Some(old) => {
                // Another archive's unfinished upload (or another place's): given up, its parts
                // removed where the store allows it.
                if let Some(old_path) = old.object.split_once('/').map(|(_, p)| object_store::path::Path::from(p)) {
                    let _ = self.rt.block_on(parts_store.abort_multipart(&old_path, &old.upload_id));
                }
                remove_state(state);
                None
            }
            None => None,
        };
        if pending.is_none() {
            let id = self
                .rt
                .block_on(super::retrying(|| parts_store.create_multipart(&path)))
                .map_err(|e| self.err(&format!("cannot start the upload of {name}"), e))?;
            let p = PendingUpload {
                object: object.clone(),
                size,
                part_size,
                upload_id: id,
                parts: vec![None; count],
                checksummed: true,
            };
            write_state(state, &p)?;
            pending = Some(p);
        }
        let Some(mut pending) = pending else { unreachable!("set just above") };
        let resumed_parts = pending.parts.iter().filter(|p| p.is_some()).count();
        let done_bytes: u64 =
            (0..count).filter(|&i| pending.parts[i].is_some()).map(|i| part_len(i, size, part_size)).sum();
        progress.event(Event::Advance(done_bytes));
        let todo: Vec<usize> = (0..count).filter(|&i| pending.parts[i].is_none()).collect();
        let upload_id = pending.upload_id.clone();
        let mut file = File::open(local).map_err(|e| Error::io("read", local, e))?;
        let mut pace = Pace::new(self.cfg.upload_limit_mbps);
        let outcome: Result<()> = self.rt.block_on(async {
            let mut in_flight = futures_util::stream::FuturesUnordered::new();
            let mut next = todo.into_iter();
            loop {
                while in_flight.len() < IN_FLIGHT {
                    let Some(idx) = next.next() else { break };
                    let len = part_len(idx, size, part_size);
                    if progress.cancelled() || !pace.turn(len, progress).await {
                        return Err(Error::Cancelled);
                    }
                    let mut buf = vec![0u8; len as usize];
                    file.seek(SeekFrom::Start(idx as u64 * part_size))
                        .and_then(|_| file.read_exact(&mut buf))
                        .map_err(|e| Error::io("read", local, e))?;
                    let store = parts_store.clone();
                    let (path, id) = (path.clone(), upload_id.clone());
                    let payload = PutPayload::from(buf);
                    in_flight.push(tokio::spawn(async move {
                        let r = super::retrying(|| store.put_part(&path, &id, idx, payload.clone())).await;
                        (idx, len, r)
                    }));
                }
                let Some(joined) = in_flight.next().await else { break };
                let (idx, len, r) = joined.map_err(|e| Error::Offsite {
                    destination: self.cfg.name.clone(),
                    message: format!("an upload task stopped: {e}"),
                })?;
                let part: PartId = match r {
                    Ok(p) => p,
                    Err(e) => {
                        // Refused for good (the store forgot the upload: a lifecycle rule, an
                        // abort): the next run starts it afresh instead of resuming a dead one.
                        if !super::transient(&e) {
                            remove_state(state);
                        }
                        return Err(self.err(&format!("cannot upload part {} of {name}", idx + 1), e));
                    }
                };
                pending.parts[idx] = Some(part.content_id);
                write_state(state, &pending)?;
                progress.event(Event::Advance(len));
                crate::fault::point("offsite-after-part");
            }
            Ok(())
        });
        outcome?;
        let parts: Vec<PartId> =
            pending.parts.iter().map(|p| PartId { content_id: p.clone().unwrap_or_default() }).collect();
        let done =
            self.rt.block_on(super::retrying(|| parts_store.complete_multipart(&path, &upload_id, parts.clone())));
        // Whatever the answer, this upload is over: a failed completion starts afresh next time.
        remove_state(state);
        done.map_err(|e| self.err(&format!("cannot complete the upload of {name}"), e))?;
        Ok(Uploaded { size, parts: count, resumed_parts })
    }

    /// Downloads `name` into `out` (a temp file the caller renames once the hash is right),
    /// streamed, and returns its size and SHA-256. A download cut off on the way starts again.
    pub fn download_to(&self, name: &str, out: &mut File, out_path: &Path, progress: &dyn Progress) -> Result<Fetched> {
        use sha2::Digest;
        let path = self.path(name);
        let r: std::result::Result<Result<Fetched>, object_store::Error> = self.rt.block_on(async {
            let mut backoff = super::Backoff::new();
            loop {
                if let Err(e) = out.set_len(0).and_then(|_| out.seek(SeekFrom::Start(0))) {
                    return Ok(Err(Error::io("write", out_path, e)));
                }
                let mut hasher = sha2::Sha256::new();
                let mut size = 0u64;
                let attempt: std::result::Result<Result<()>, object_store::Error> = async {
                    let got = self.store.get(&path).await?;
                    progress.event(Event::Total(got.meta.size));
                    let mut stream = got.into_stream();
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk?;
                        if let Err(e) = out.write_all(&chunk) {
                            return Ok(Err(Error::io("write", out_path, e)));
                        }
                        hasher.update(&chunk);
                        size += chunk.len() as u64;
                        progress.event(Event::Advance(chunk.len() as u64));
                        if progress.cancelled() {
                            return Ok(Err(Error::Cancelled));
                        }
                    }
                    Ok(Ok(()))
                }
                .await;
                match attempt {
                    Ok(Ok(())) => return Ok(Ok(Fetched { size, sha256: hex::encode(hasher.finalize()) })),
                    Ok(Err(e)) => return Ok(Err(e)),
                    Err(e) if backoff.again(&e).await => progress.event(Event::Phase("downloading")),
                    Err(e) => return Err(e),
                }
            }
        });
        let fetched = r.map_err(|e| self.err(&format!("cannot download {name}"), e))??;
        out.sync_all().map_err(|e| Error::io("write", out_path, e))?;
        Ok(fetched)
    }
}

fn part_len(idx: usize, size: u64, part_size: u64) -> u64 {
    let start = idx as u64 * part_size;
    (size - start).min(part_size)
}

fn read_state(path: &Path) -> Option<PendingUpload> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_state(path: &Path, p: &PendingUpload) -> Result<()> {
    let bytes = serde_json::to_vec(p).map_err(|e| Error::Config(format!("cannot encode the upload state: {e}")))?;
    if let Some(dir) = path.parent() {
        crate::fsutil::create_private_dir_all(dir)?;
    }
    crate::fsutil::write_atomic(path, &bytes)
}

fn remove_state(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_within_the_part_limit() {
        assert_eq!(part_size_for(0), MIN_PART);
        assert_eq!(part_size_for(10 << 30), MIN_PART); // 10 GiB in 640 parts
        let huge = 500u64 << 30; // 500 GiB
        let ps = part_size_for(huge);
        assert!(huge.div_ceil(ps) <= MAX_PARTS && ps.is_multiple_of(1 << 20));
        let size: u64 = 40 << 20;
        let total: u64 = (0..size.div_ceil(MIN_PART) as usize).map(|i| part_len(i, size, MIN_PART)).sum();
        assert_eq!(total, size);
    }
}
