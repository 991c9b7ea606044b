//! `hrsm-backup demo`: a sample HR-SM installation (uploads, config files, license keys) in a
//! folder, with a demo key file and config, then one backup, a verify and a restore, so a
//! newcomer sees the whole cycle with one command. Demo data only: nothing here is secret.

use std::fs;
use std::path::Path;

use hrsm_backup::{
    restore_files, run_backup, BackupOptions, Catalog, Config, Error, FileRestoreOptions, KeyFile, KeyStore, MasterKey,
    PayloadOptions, Result,
};

use crate::output::human_bytes;

const CONFIG: &str = r#"# Demo configuration written by `hrsm-backup demo` (see docs/CONFIG.md).
hrsm_root = "hr-sm"
destination = "backups/daily"

[mongodb]
# The demo has no MongoDB server; the MongoDB part is switched off here.
enabled = false
"#;

pub fn run(dir: &Path, json: bool) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    let root = dir.join("hr-sm");
    if !root.exists() {
        hrsm_backup::seed_sample_installation(&root)?;
    }
    let config_path = dir.join("hrsm-backup.toml");
    if !config_path.exists() {
        fs::write(&config_path, CONFIG.as_bytes()).map_err(|e| Error::io("write", &config_path, e))?;
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
        trigger: hrsm_backup::Trigger::Manual,
    };
    let progress = crate::output::Bar::new(json);
    let done = run_backup(&opts, &key, &progress, Box::new(rand::rngs::OsRng))?;
    let restored = dir.join(format!("restored-{}", done.entry.id));
    let report = restore_files(
        &done.archive,
        &key,
        &FileRestoreOptions { target: restored.clone(), only: None, overwrite: false, in_place: false },
        &progress,
    )?;
    progress.done();
    let count = Catalog::existing(&cfg.destination)?.list()?.entries.len();
    if json {
        crate::output::print_json(
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
