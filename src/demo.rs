//! A sample HR-SM installation for demos and first runs: uploads (contracts, photos,
//! attendance sheets, an insurance claim with a long name), configuration files and license-key
//! files. Deterministic content, a few MiB. Demo data only: nothing here is secret.
//!
//! Depends on `error`.

use std::fs;
use std::path::Path;

use rand::{Rng, RngCore, SeedableRng};

use crate::error::{Error, Result};

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| Error::io("create folder", d, e))?;
    }
    fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
}

/// The sample installation: deterministic content, a few MiB.
/// Writes the sample installation under `root`.
pub fn seed_sample_installation(root: &Path) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let employees = ["amira.hassan", "omar.farouk", "laila.nabil", "youssef.adel", "mona.samir", "karim.tarek"];
    for (i, who) in employees.iter().enumerate() {
        let mut pdf = format!("%PDF-1.7\n% employment contract of {who}\n").into_bytes();
        let mut body = vec![0u8; 40_000 + i * 9_000];
        rng.fill_bytes(&mut body);
        pdf.extend_from_slice(&body);
        write(&root.join(format!("uploads/contracts/{who}.pdf")), &pdf)?;
        let mut photo = vec![0u8; 120_000];
        rng.fill_bytes(&mut photo);
        photo[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
        write(&root.join(format!("uploads/photos/{who}.jpg")), &photo)?;
        let notes: String = (0..200)
            .map(|d| {
                format!("2026-{:02}-{:02} {who}: attendance ok, {} h\n", d % 12 + 1, d % 28 + 1, rng.gen_range(6..10))
            })
            .collect();
        write(&root.join(format!("uploads/attendance/{who}.csv")), notes.as_bytes())?;
    }
    write(&root.join("uploads/insurance/claims/2026/claim-00017 (dental, Amira Hassan) - receipts and medical report scanned.pdf"), b"%PDF-1.4 demo claim")?;
    write(
        &root.join(".env"),
        b"NODE_ENV=production\nPORT=5000\nMONGODB_URI=mongodb://localhost:27017/hrms\nJWT_SECRET=demo-only-not-a-secret\n",
    )?;
    write(
        &root.join("config/app.json"),
        br#"{"company":"Demo Co","timezone":"Africa/Cairo","leavePolicy":{"annualDays":21}}"#,
    )?;
    write(&root.join("hrsm-license-server/.env"), b"PORT=4000\nMONGODB_URI=mongodb://localhost:27017/hrsm-licenses\n")?;
    let mut fake_key = vec![0u8; 1200];
    rng.fill_bytes(&mut fake_key);
    let pem = format!("-----BEGIN DEMO PRIVATE KEY-----\n{}\n-----END DEMO PRIVATE KEY-----\n", hex::encode(&fake_key));
    write(&root.join("hrsm-license-server/keys/private.pem"), pem.as_bytes())?;
    write(
        &root.join("hrsm-license-server/keys/public.pem"),
        b"-----BEGIN PUBLIC KEY-----\ndemo\n-----END PUBLIC KEY-----\n",
    )?;
    use std::os::unix::fs::PermissionsExt;
    let p = root.join("hrsm-license-server/keys/private.pem");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).map_err(|e| Error::io("chmod", &p, e))?;
    Ok(())
}
