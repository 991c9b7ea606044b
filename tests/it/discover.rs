//! Discovery of a real HR-SM site's settings (`hrsm-backup discover`), on the realistic tree
//! of tests/common/site.rs: every setting found with its source, nothing secret in any output.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::site::*;
use super::util::*;

/// The test tree itself: what it promises is there, sizes stay small, keys are real PEM.
#[test]
fn the_site_tree_is_what_its_facts_say() {
    let t = tmp();
    let root = t.path().join("hr-sm");
    let f = build_site(&root);
    for rel in f.keep.iter().chain(&f.code) {
        assert!(root.join(rel).is_file(), "{} missing", rel.display());
    }
    for rel in &f.junk {
        assert!(root.join(rel).symlink_metadata().is_ok(), "{} missing", rel.display());
    }
    let uploads =
        f.keep.iter().filter(|p| p.starts_with("uploads") || p.to_string_lossy().contains("uploads/")).count();
    assert!(uploads >= 250, "{uploads} upload files");
    assert!(f.upload_bytes > 5 << 20 && f.upload_bytes < 40 << 20, "{} bytes of uploads", f.upload_bytes);
    let private = root.join("hrsm-license-server/keys/private.pem");
    assert_eq!(fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(fs::read_to_string(&private).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(fs::read_to_string(root.join("keys/public.pem")).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        fs::read_link(root.join("node_modules/.bin/express")).unwrap().to_str(),
        Some("../express/bin/express.js")
    );
    assert_eq!(fs::metadata(root.join(&f.unreadable)).unwrap().permissions().mode() & 0o777, 0);
    assert_eq!(f.encryption_key.len(), 64);
    assert!(f.mongodb_uri.ends_with("/hrsm_platform?authSource=admin") && f.license_uri.contains("/hrsm_license_db"));
    release(&f);
}
