//! `hrsm-backup import-legacy DIR`: the backups of HR-SM's old backup service become archives
//! of ours in the destination. Keys come from the environment, from `--keys-from FILE` (never
//! from an argument: process arguments are visible to every user of the machine) and from what
//! the engine finds in DIR; only their origins are ever printed.

use std::io::Read;
use std::path::Path;

use hrsm_backup::{
    import_legacy, legacy_scan, Error, ImportOptions, ImportOutcome, ImportResult, KeyRing, PayloadOptions, Result,
    SecretText, ENV_KEY,
};
use serde_json::json;

use crate::commands::{load_config, load_key};
use crate::output::{print_json, Bar};
use crate::Cli;

pub fn run(cli: &Cli, dir: &Path, keys_from: Option<&Path>, dry_run: bool) -> Result<()> {
    let cfg = load_config(cli)?;
    let mut ring = KeyRing::default();
    match std::env::var(ENV_KEY).map(SecretText::new) {
        Ok(v) if !v.trim().is_empty() => {
            ring.add(format!("{ENV_KEY} of the environment"), &v);
            ring.searched.push(format!("{ENV_KEY} of the environment: 1 key"));
        }
        _ => ring.searched.push(format!("{ENV_KEY} of the environment: not set")),
    }
    if let Some(p) = keys_from {
        let mut text = SecretText::default();
        let shown = if p == Path::new("-") {
            std::io::stdin().read_to_string(&mut text).map_err(|e| Error::io("read", "standard input", e))?;
            "standard input".to_string()
        } else {
            *text = std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?;
            p.display().to_string()
        };
        let n = ring.add_lines(&text, &shown);
        ring.searched.push(format!("--keys-from {shown}: {n} key(s)"));
        if n == 0 {
            eprintln!("hrsm-backup: warning: {shown} holds no key (one key per line, 64 hex characters)");
        }
    }
    // The site's main database: where the Backups page kept its keys, and the name its JSON
    // exports are imported under.
    let main = hrsm_backup::BackupOptions::from_config(&cfg, None).mongo;
    let scan = legacy_scan(dir, ring, main.as_ref())?;
    let key = if dry_run { load_key(cli).ok() } else { Some(load_key(cli)?) };
    let opts = ImportOptions {
        destination: cfg.destination.clone(),
        payload: PayloadOptions { level: cfg.compression_level, threads: cfg.threads, ..Default::default() },
        verify: cfg.verify_after_backup,
        dry_run,
    };
    let bar = Bar::new(cli.json);
    let total = scan.backups.len();
    if !cli.json {
        for s in &scan.skipped {
            println!("skipped: {s}");
        }
    }
    let mut outcomes: Vec<ImportOutcome> = Vec::new();
    for (i, b) in scan.backups.iter().enumerate() {
        if !cli.json {
            eprintln!("hrsm-backup: {} {}/{total}: {}", if dry_run { "checking" } else { "importing" }, i + 1, b.name);
        }
        let o = import_legacy(b, &scan.keys, &opts, key.as_ref(), &bar, Box::new(rand::rngs::OsRng));
        bar.done();
        if !cli.json {
            print_outcome(&o);
        }
        outcomes.push(o);
    }
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    if cli.json {
        print_json(&json!({
            "ok": failed == 0,
            "dry_run": dry_run,
            "backups_folder": scan.backups_dir,
            "destination": cfg.destination,
            "keys_searched": scan.keys.searched,
            "skipped": scan.skipped,
            "backups": outcomes,
        }));
    } else if total == 0 {
        println!("no backups of the old service in {}", scan.backups_dir.display());
    } else {
        let count = |f: fn(&ImportResult) -> bool| outcomes.iter().filter(|o| f(&o.result)).count();
        let mut parts = vec![
            format!("{} imported", count(|r| matches!(r, ImportResult::Imported { .. }))),
            format!("{} already imported", count(|r| matches!(r, ImportResult::AlreadyImported { .. }))),
        ];
        if dry_run {
            parts.push(format!("{} would be imported", count(|r| *r == ImportResult::WouldImport)));
        }
        parts.push(format!("{failed} failed"));
        println!("{total} old backup(s): {}", parts.join(", "));
    }
    if failed > 0 {
        if !cli.json {
            eprintln!("hrsm-backup: error: {failed} of {total} old backup(s) could not be imported (see above)");
        }
        // The report is printed; the exit code says a part failed.
        std::process::exit(1);
    }
    Ok(())
}

fn print_outcome(o: &ImportOutcome) {
    println!("{}  {:<8} {}", o.made.format("%Y-%m-%d %H:%M UTC"), o.kind, o.file);
    if !o.held.is_empty() {
        println!("    held: {}", o.held.join("; "));
    }
    if let Some(k) = &o.key_origin {
        println!("    key:  {k}");
    }
    for l in &o.losses {
        println!("    lost: {l}");
    }
    for w in &o.warnings {
        println!("    warning: {w}");
    }
    match &o.result {
        ImportResult::Imported { id } => println!("    imported as {id}"),
        ImportResult::AlreadyImported { id } => println!("    already imported as {id}"),
        ImportResult::WouldImport => println!("    would be imported (dry run: nothing written)"),
        ImportResult::Failed { error, needs_key } => {
            println!("    FAILED: {error}");
            if *needs_key {
                println!(
                    "    hint: give the key in a file, one key per line: `hrsm-backup import-legacy DIR --keys-from FILE` \
                     (`--keys-from -` reads them from standard input)"
                );
            }
        }
    }
}
