//! `hrsm-backup demo`: a sample HR-SM installation (uploads, config files, license keys) in a
//! folder, with a demo key file and config, then one backup, a verify and a restore, so a
//! newcomer sees the whole cycle with one command. Demo data only: nothing here is secret.

use std::fs;
use std::path::Path;

use hrsm_backup::{
    restore_files, run_backup, BackupOptions, Catalog, Config, Error, FileRestoreOptions, KeyFile, KeyStore, MasterKey,
    PayloadOptions, Result,
};
use rand::{Rng, RngCore, SeedableRng};

use super::output::human_bytes;

const CONFIG: &str = r#"# Demo configuration written by `hrsm-backup demo` (see docs/CONFIG.md).
hrsm_root = "hr-sm"
destination = "backups/daily"

[mongodb]
# The demo has no MongoDB server; the MongoDB part is switched off here.
enabled = false
"#;

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| Error::io("create folder", d, e))?;
    }
    fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
}

/// The sample installation: deterministic content, a few MiB.
fn seed(root: &Path) -> Result<()> {
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

pub fn run(dir: &Path, json: bool) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    let root = dir.join("hr-sm");
    if !root.exists() {
        seed(&root)?;
    }
    let config_path = dir.join("hrsm-backup.toml");
    if !config_path.exists() {
        write(&config_path, CONFIG.as_bytes())?;
    }
    let cfg = Config::load(&config_path)?;
    let store = KeyFile { path: dir.join("demo.key") };
    let key = match store.load()? {
        Some(k) => k,
        None => {
            let k = MasterKey::generate(&mut rand::rngs::OsRng);
            store.store(&k)?;
            k
        }
    };
    let opts = BackupOptions {
        destination: cfg.destination.clone(),
        sources: cfg.file_sources(),
        mongo: None,
        payload: PayloadOptions::default(),
        verify: true,
        retention: Some(hrsm_backup::RetentionPolicy::from(&cfg.retention)),
    };
    let progress = super::output::Bar::new(json);
    let done = run_backup(&opts, &key, &progress, Box::new(rand::rngs::OsRng))?;
    let restored = dir.join(format!("restored-{}", done.entry.id));
    let report = restore_files(
        &done.archive,
        &key,
        &FileRestoreOptions { target: restored.clone(), only: None, overwrite: false },
        &progress,
    )?;
    progress.done();
    let count = Catalog::existing(&cfg.destination)?.list()?.entries.len();
    if json {
        super::output::print_json(
            &serde_json::json!({"ok": true, "backup": done.entry, "restored_to": restored, "backups": count}),
        );
        return Ok(());
    }
    let e = &done.entry;
    println!("HR-SM Backup demo in {}", dir.display());
    println!("  sample installation   {}", root.display());
    println!("  key (demo only)       {} (id {})", store.path.display(), key.id());
    println!(
        "  backup                {}: {} files, {} -> {} encrypted, verified",
        e.id,
        e.files,
        human_bytes(e.bytes),
        human_bytes(e.size)
    );
    println!("  restored              {} files into {}", report.plan.files, restored.display());
    println!("  backups in catalog    {count}");
    let cfg_arg = format!("--config {} --key-file {}", config_path.display(), store.path.display());
    println!("\nTry next:");
    println!("  cargo run --release -- {cfg_arg} list");
    println!("  cargo run --release -- {cfg_arg} verify latest");
    println!("  cargo run --release -- {cfg_arg} decrypt latest -o /tmp/latest.tar.gz && tar tzf /tmp/latest.tar.gz");
    Ok(())
}
