//! What an archive may hold and a restore may create: the one rule set that backup (which
//! skips or refuses what breaks it, naming the file), verify and restore all apply, so that a
//! backup that verified is a backup that restores (docs/FORMAT.md sections 3.2 and 5).
//!
//! Pure functions over archive names (`files/<source>/...`, `mongo/...`); no I/O.
//! Depends on `manifest` and `error` only.

use std::collections::HashSet;

/// Longest name component, in bytes of UTF-8 (NAME_MAX of Linux and macOS file systems).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest whole archive name, in bytes (PATH_MAX less the terminating NUL).
pub const MAX_NAME_BYTES: usize = 4095;
/// Mode bits a restore applies: permissions and the sticky bit. Set-user-id and set-group-id
/// are recorded in the manifest but never applied: owners are not restored, so a set-id bit
/// would hand the identity of whoever restores (usually root) to the file's content.
pub const RESTORED_MODE_MASK: u32 = 0o1777;

/// The mode a restore gives an entry recorded with `mode`.
pub fn restored_mode(mode: u32) -> u32 {
    mode & RESTORED_MODE_MASK
}

/// Why an entry outside `files/` and `mongo/` is refused (verify says the same).
pub const OUTSIDE: &str = "it is outside files/ and mongo/, where no backup puts anything";

/// A tar entry whose size is not the manifest's.
pub fn size_lie(archive: &std::path::Path, name: &str, got: u64, want: Option<u64>) -> crate::error::Error {
    crate::error::Error::Corrupt {
        path: archive.to_path_buf(),
        reason: format!(
            "{name} is {got} bytes in the archive but the manifest says {}; nothing of it was kept",
            want.map(|w| w.to_string()).unwrap_or_else(|| "none".into())
        ),
    }
}

/// Where an archive entry belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Manifest,
    Files,
    Mongo,
    /// Anything else: refused by every reader.
    Outside,
}

pub fn area(name: &str) -> Area {
    if name == crate::archive::manifest::MANIFEST_PATH {
        Area::Manifest
    } else if name.starts_with(crate::archive::manifest::FILES_PREFIX) {
        Area::Files
    } else if name.starts_with("mongo/") {
        Area::Mongo
    } else {
        Area::Outside
    }
}

/// A name of normal components joined by `/`: relative, no `.`/`..`/empty component, no NUL,
/// each component at most 255 bytes and the whole at most 4095.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.starts_with('/') {
        return Err("it is an absolute path");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("the name is longer than 4095 bytes");
    }
    if name.contains('\0') {
        return Err("the name contains a NUL byte");
    }
    for c in name.split('/') {
        match c {
            "" => return Err("the name has an empty component"),
            "." => return Err("it contains '.'"),
            ".." => return Err("it contains '..'"),
            _ if c.len() > MAX_COMPONENT_BYTES => return Err("a part of the name is longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

/// A symbolic link `link` (an archive name under `files/<source>/`) pointing at `target`
/// is restorable when the target is relative and, resolved lexically from the link's folder,
/// stays inside the link's own source without passing through another link of the archive
/// (`links`, archive names): a chain of links could otherwise climb out step by step.
pub fn check_link(link: &str, target: &str, links: &HashSet<String>) -> Result<(), &'static str> {
    if target.is_empty() {
        return Err("it is a symbolic link with an empty target");
    }
    if target.starts_with('/') || target.starts_with('\\') || target.get(1..2) == Some(":") {
        return Err("it is a symbolic link to an absolute path");
    }
    if target.contains('\0') || target.len() > MAX_NAME_BYTES {
        return Err("it is a symbolic link with an unusable target");
    }
    let mut at: Vec<&str> = link.split('/').collect();
    at.pop();
    // `files` and the source's folder: as high as a link may point.
    const FLOOR: usize = 2;
    if at.len() < FLOOR {
        return Err("a source's root cannot be a symbolic link");
    }
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                at.pop();
                if at.len() < FLOOR {
                    return Err("it is a symbolic link that points outside its source");
                }
            }
            _ => {
                if c.len() > MAX_COMPONENT_BYTES {
                    return Err("it is a symbolic link with an unusable target");
                }
                at.push(c);
                if links.contains(&at.join("/")) {
                    return Err("it is a symbolic link that goes through another link (a chain of links)");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names() {
        assert!(check_name("files/uploads/a.pdf").is_ok());
        assert!(check_name(&format!("files/u/{}", "a".repeat(255))).is_ok());
        assert!(check_name(&format!("files/u/{}", "a".repeat(256))).unwrap_err().contains("255"));
        assert!(check_name(&format!("files/u/{}", "é".repeat(128))).unwrap_err().contains("255"));
        assert!(check_name(&["abc"; 1100].join("/")).unwrap_err().contains("4095"));
        for bad in ["", "/etc/passwd", "files/../x", "files/./x", "files//x", "files/x/"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_stay_in_their_source() {
        let none = links(&[]);
        assert!(check_link("files/cfg/live/cert.pem", "../archive/cert1.pem", &none).is_ok());
        assert!(check_link("files/cfg/a", "b/c", &none).is_ok());
        assert!(check_link("files/cfg/a", "/etc/letsencrypt/live/x/cert.pem", &none).unwrap_err().contains("absolute"));
        assert!(check_link("files/cfg/a", "C:/Windows", &none).unwrap_err().contains("absolute"));
        assert!(check_link("files/cfg/a", "../other/x", &none).unwrap_err().contains("outside"));
        assert!(check_link("files/cfg/sub/a", "../../x", &none).unwrap_err().contains("outside"));
        assert!(check_link("files/cfg/a", "", &none).is_err());
        let chain = links(&["files/cfg/l1", "files/cfg/l2"]);
        assert!(check_link("files/cfg/l2", "l1/x", &chain).unwrap_err().contains("chain"));
        assert!(check_link("files/cfg/l2", "l1", &chain).unwrap_err().contains("chain"));
    }

    #[test]
    fn set_id_bits_are_never_restored() {
        assert_eq!(restored_mode(0o4755), 0o755);
        assert_eq!(restored_mode(0o2755), 0o755);
        assert_eq!(restored_mode(0o1777), 0o1777);
        assert_eq!(restored_mode(0o6644), 0o644);
    }

    #[test]
    fn areas() {
        assert_eq!(area("manifest.json"), Area::Manifest);
        assert_eq!(area("files/a"), Area::Files);
        assert_eq!(area("mongo/hrms/x.bson"), Area::Mongo);
        assert_eq!(area("etc/passwd"), Area::Outside);
    }
}
