//! File-system helpers with the safety rules of the design: private modes (files 0600,
//! folders 0700) and atomic writes (temp name in the same folder, fsync, rename, fsync of the
//! folder), so a crash never leaves a half-written file under a final name.
//!
//! The platform differences of files live here too, one function each with a Unix and a
//! Windows side (modes, times, special files, links): docs/FORMAT.md 5.4 says what Windows
//! keeps. On Windows, "private" is what the user's profile folders already give (their ACL
//! admits the user, SYSTEM and administrators); no ACL is written.
//!
//! Depends on `error` only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Creates `dir` and missing parents; folders created here get mode 0700.
pub fn create_private_dir_all(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir).map_err(|e| Error::io("create folder", dir, e))
}

/// Opens a new file that must not exist yet, mode 0600.
pub fn create_private_file(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path).map_err(|e| Error::io("create", path, e))
}

/// Opens `path` for appending, creating it with mode 0600 if it is new.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path)
}

/// An item's permission bits (and set-id and sticky bits). Windows has none: a folder reads as
/// 0755, a file as 0644, or 0444 when it has the read-only attribute.
pub fn mode_of(meta: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        meta.mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        if meta.is_dir() {
            0o755
        } else if meta.permissions().readonly() {
            0o444
        } else {
            0o644
        }
    }
}

/// The last modification, in whole seconds since 1970 (negative before).
pub fn mtime_of(meta: &fs::Metadata) -> i64 {
    #[cfg(unix)]
    {
        meta.mtime()
    }
    #[cfg(not(unix))]
    {
        match meta.modified().map(|t| t.duration_since(std::time::UNIX_EPOCH)) {
            Ok(Ok(d)) => d.as_secs() as i64,
            Ok(Err(before)) => -(before.duration().as_secs() as i64),
            Err(_) => 0,
        }
    }
}

/// Sets an item's permission bits. On Windows only the owner's write bit means anything: a
/// file without it gets the read-only attribute.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let mut p = fs::metadata(path)?.permissions();
        p.set_readonly(mode & 0o200 == 0);
        fs::set_permissions(path, p)
    }
}

/// As `set_mode`, on an open file.
pub fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        file.set_permissions(fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let mut p = file.metadata()?.permissions();
        p.set_readonly(mode & 0o200 == 0);
        file.set_permissions(p)
    }
}

/// The mode (0644...) of a file that users other than the owner may read or write, for files
/// that must be private (a key file); None when it is private, and where the system has no such
/// bits (Windows: ACLs, not checked).
pub fn shared_mode(meta: &fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        let mode = meta.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// What an item that is neither file, folder nor link is ("a named pipe (FIFO)"...).
pub fn special_kind(ft: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a named pipe (FIFO)";
        } else if ft.is_socket() {
            return "a socket";
        }
        "a device file"
    }
    #[cfg(not(unix))]
    {
        let _ = ft;
        "a special file"
    }
}

/// Which file system holds `path` (an existing item), so that the space a restore needs on
/// each can be added up: the device number on Unix, the drive or share (`C:`) on Windows.
/// None when it cannot be told.
pub fn file_system_of(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        fs::metadata(path).ok().map(|m| format!("device {}", m.dev()))
    }
    #[cfg(not(unix))]
    {
        match path.components().next() {
            Some(std::path::Component::Prefix(p)) => Some(p.as_os_str().to_string_lossy().to_uppercase()),
            _ => None,
        }
    }
}

/// Makes a symbolic link at `link` pointing to `target` (as written, relative or not). On
/// Windows a link is a file or folder link, chosen by what the target is (a file link when it
/// does not exist yet); making one needs Developer Mode or the right to create links.
pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, link)
    }
    #[cfg(windows)]
    {
        let resolved = link.parent().map(|p| p.join(target)).unwrap_or_else(|| target.to_path_buf());
        if resolved.is_dir() {
            std::os::windows::fs::symlink_dir(target, link)
        } else {
            std::os::windows::fs::symlink_file(target, link)
        }
    }
}

/// Flushes a folder's entries (a rename is durable only after this). Windows cannot open a
/// folder as a file to flush it, and NTFS journals its metadata itself: nothing to do there.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("sync folder", dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A file written under a temporary name and renamed into place by `commit`. Dropped without
/// commit, it removes the temporary file. The temporary name is unique
/// (`.<file name>.<random>.tmp`, made by `tempfile` with mode 0600), so two writers of the
/// same file never write into or remove each other's temporary file; the last commit wins
/// whole.
pub struct AtomicFile {
    file: Option<tempfile::NamedTempFile>,
    dest: PathBuf,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<Self> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io("create", dest, e))?;
        Ok(AtomicFile { file: Some(file), dest: dest.to_path_buf() })
    }

    pub fn tmp_path(&self) -> &Path {
        self.file.as_ref().map(|f| f.path()).unwrap_or(&self.dest)
    }

    pub fn file(&mut self) -> &mut File {
        // Only `commit` takes the file, and it consumes self.
        self.file.as_mut().unwrap_or_else(|| unreachable!("file is present until commit")).as_file_mut()
    }

    /// fsync, rename to the final name, fsync the folder.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().unwrap_or_else(|| unreachable!("file is present until commit"));
        file.as_file().sync_all().map_err(|e| Error::io("write", file.path(), e))?;
        crate::fault::point("before-rename");
        file.persist(&self.dest).map_err(|e| Error::io("rename into place", &self.dest, e.error))?;
        crate::fault::point("after-rename");
        if let Some(dir) = self.dest.parent() {
            sync_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

/// Writes `bytes` to `dest` atomically, mode 0600.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes).map_err(|e| Error::io("write", dest, e))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with one fixed temp name, concurrent writers removed or renamed each
    /// other's temp file ("cannot rename into place") and could publish a mix.
    #[test]
    fn concurrent_writers_never_clobber_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("state.json");
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                let dest = dest.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        write_atomic(&dest, &vec![b'a' + t; 4096]).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = fs::read(&dest).unwrap();
        assert_eq!(got.len(), 4096);
        assert!(got.iter().all(|b| *b == got[0]), "a mix of two writers");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|d| d.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "temp files left: {left:?}");
    }
}
