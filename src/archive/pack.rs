//! Writes the tar layer of the payload (docs/FORMAT.md section 3.2): ustar headers, with a pax
//! extended header for names and link targets that do not fit or are not ASCII and for sizes
//! past ustar's 8 GiB. Entries are built by hand (not from `fs::Metadata`) so the archive holds
//! exactly what the manifest says.
//!
//! Depends on the `tar` crate and `digest` only.

use std::io::{self, Read, Write};

use crate::digest::HashingReader;
use tar::{EntryType, Header};

const USTAR_NAME_MAX: usize = 100;
const USTAR_SIZE_MAX: u64 = 0o77777777777; // 11 octal digits

pub struct Packer<W: Write> {
    tar: tar::Builder<W>,
}

/// What a streamed file turned out to be.
pub struct Streamed {
    pub size: u64,
    pub sha256: String,
}

impl<W: Write> Packer<W> {
    pub fn new(out: W) -> Self {
        Packer { tar: tar::Builder::new(out) }
    }

    fn header(
        &mut self,
        path: &str,
        kind: EntryType,
        mode: u32,
        mtime: i64,
        size: u64,
        link: Option<&str>,
    ) -> io::Result<Header> {
        let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut h = Header::new_ustar();
        h.set_entry_type(kind);
        let name = if kind == EntryType::Directory { format!("{path}/") } else { path.to_string() };
        if fits_ustar(&name) {
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        } else {
            pax.push(("path", name.as_bytes().to_vec()));
            set_placeholder(&mut h.as_old_mut().name, &name);
        }
        if let Some(target) = link {
            if fits_ustar(target) {
                h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            } else {
                pax.push(("linkpath", target.as_bytes().to_vec()));
                set_placeholder(&mut h.as_old_mut().linkname, target);
            }
        }
        if size > USTAR_SIZE_MAX {
            pax.push(("size", size.to_string().into_bytes()));
        }
        h.set_size(size);
        h.set_mode(mode & 0o7777);
        h.set_mtime(mtime.max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        if !pax.is_empty() {
            self.tar.append_pax_extensions(pax.iter().map(|(k, v)| (*k, v.as_slice())))?;
        }
        Ok(h)
    }

    pub fn add_bytes(&mut self, path: &str, mode: u32, mtime: i64, data: &[u8]) -> io::Result<()> {
        let h = self.header(path, EntryType::Regular, mode, mtime, data.len() as u64, None)?;
        self.tar.append(&h, data)
    }

    pub fn add_dir(&mut self, path: &str, mode: u32, mtime: i64) -> io::Result<()> {
        let h = self.header(path, EntryType::Directory, mode, mtime, 0, None)?;
        self.tar.append(&h, io::empty())
    }

    pub fn add_symlink(&mut self, path: &str, target: &str, mode: u32, mtime: i64) -> io::Result<()> {
        let h = self.header(path, EntryType::Symlink, mode, mtime, 0, Some(target))?;
        self.tar.append(&h, io::empty())
    }

    /// Streams exactly `size` bytes of `data` (fewer means the file shrank: the caller must
    /// abandon the archive) and returns what was written with its SHA-256.
    pub fn add_stream(
        &mut self,
        path: &str,
        mode: u32,
        mtime: i64,
        size: u64,
        data: impl Read,
    ) -> io::Result<Streamed> {
        let h = self.header(path, EntryType::Regular, mode, mtime, size, None)?;
        let mut hashing = HashingReader::new(data.take(size));
        self.tar.append(&h, &mut hashing)?;
        let (size, sha256) = hashing.digest();
        Ok(Streamed { size, sha256 })
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(self) -> io::Result<W> {
        self.tar.into_inner()
    }
}

fn fits_ustar(name: &str) -> bool {
    name.is_ascii() && name.len() <= USTAR_NAME_MAX && !name.as_bytes().contains(&0)
}

/// The ustar field of an entry whose real name is in a pax header: an ASCII prefix, so that a
/// reader that ignores pax still sees something recognisable.
fn set_placeholder(field: &mut [u8], name: &str) {
    let ascii: Vec<u8> = name.bytes().map(|b| if b.is_ascii_graphic() { b } else { b'_' }).take(field.len()).collect();
    field[..ascii.len()].copy_from_slice(&ascii);
}
