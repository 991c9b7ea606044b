//! One function per subcommand: turn arguments into engine options, call the engine, print.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hrsm_backup::{
    key_file_from, parse_enabled, parse_key_text, recovery_text, resolve_key, run_backup, run_backup_if_due,
    verify_archive, BackupOptions, Catalog, Config, EnvOverrides, Error, IfDue, KeyStore, MasterKey, Result, Status,
    ENV_KEY,
};
use serde_json::json;

use crate::output::{human_bytes, print_json, Bar};
use crate::{Cli, Command, KeyCommand};

pub fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    match &cli.command {
        Command::Backup { no_verify, force, scheduled, if_due } => {
            // Looked at first without the key (most hourly starts end here), and again holding
            // the folder's lock (run_backup_if_due).
            let due = match if_due {
                true => match due_now(&cli)? {
                    Some(schedule) => Some(schedule),
                    None => return Ok(()),
                },
                false => None,
            };
            match backup(&cli, !no_verify, *force, *scheduled || *if_due, due.as_ref()) {
                // Another run holds the folder (the app's own schedule, a test restore): that
                // one has the slot; the next hourly start looks again.
                Err(Error::Busy { .. }) if *if_due => {
                    say_not_due(&cli, "not due: another backup or restore is running on this backup folder".into());
                    Ok(())
                }
                other => other,
            }
        }
        Command::List => list(&cli),
        Command::Prune { dry_run } => prune(&cli, *dry_run),
        Command::Inspect(a) => inspect(&cli, &a.archive),
        Command::Verify { archive, restore_test } => verify(&cli, &archive.archive, *restore_test),
        Command::Restore(args) => crate::restore::run(&cli, args),
        Command::RestoreDump { path, dbs, collections } => crate::restore::run_dump(&cli, path, dbs, collections),
        Command::ImportLegacy { dir, keys_from, dry_run } => {
            crate::legacy::run(&cli, dir, keys_from.as_deref(), *dry_run)
        }
        Command::ResumeTtl { archive, dbs } => crate::restore::run_resume_ttl(&cli, &archive.archive, dbs),
        Command::Decrypt { archive, output } => decrypt(&cli, &archive.archive, output),
        Command::Key(k) => key_command(&cli, k),
        Command::Demo { dir } => crate::demo::run(dir, json),
        Command::Discover { root } => crate::discover::run(&cli, root.as_deref()),
        Command::Offsite(c) => crate::offsite::run(&cli, c),
        Command::ScheduleTask(c) => crate::task::run(&cli, c),
    }
}

/// The config: --config, $HRSM_BACKUP_CONFIG, ./hrsm-backup.toml, or the defaults; then the
/// environment (MONGODB_URI, BACKUPS_ENABLED) on top.
pub fn load_config(cli: &Cli) -> Result<Config> {
    let explicit = cli
        .config
        .clone()
        .or_else(|| std::env::var_os("HRSM_BACKUP_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
    let mut cfg = match explicit {
        Some(p) => Config::load(&p)?,
        None if Path::new("hrsm-backup.toml").exists() => Config::load(Path::new("hrsm-backup.toml"))?,
        None => Config::default(),
    };
    let env = EnvOverrides::from_process();
    cfg.apply_env(&env)?;
    // What the site's own files say, where neither the config file nor the environment
    // decided (`hrsm-backup discover` shows it all).
    if cfg.hrsm_root.is_dir() {
        let found = hrsm_backup::discover(&cfg.hrsm_root);
        for used in hrsm_backup::apply_discovery(&mut cfg, &found, &env) {
            tracing::info!("discovered: {used}");
        }
    }
    Ok(cfg)
}

/// Where the key lives: the key file when one is named, else the OS keychain.
fn key_store(cli: &Cli) -> Option<Box<dyn KeyStore>> {
    if let Some(f) = key_file_from(cli.key_file.as_deref()) {
        return Some(Box::new(f));
    }
    #[cfg(feature = "keychain")]
    {
        Some(Box::new(hrsm_backup::Keychain::master_key()))
    }
    #[cfg(not(feature = "keychain"))]
    {
        None
    }
}

pub fn load_key(cli: &Cli) -> Result<MasterKey> {
    let env = std::env::var(ENV_KEY).ok().map(hrsm_backup::SecretText::new);
    let store = key_store(cli);
    let stores: Vec<&dyn KeyStore> = store.iter().map(|s| s.as_ref()).collect();
    resolve_key(env.as_ref().map(|s| s.as_str()), &stores)
}

/// An archive given as a path, an id in the destination, or `latest`.
pub fn find_archive(cli: &Cli, arg: &str) -> Result<PathBuf> {
    let p = Path::new(arg);
    if p.exists() {
        return Ok(p.to_path_buf());
    }
    let cfg = load_config(cli)?;
    let catalog = Catalog::existing(&cfg.destination)?;
    if arg == "latest" {
        let listing = catalog.list()?;
        return listing
            .entries
            .iter()
            .rev()
            .find(|e| e.status == Status::Ok)
            .and_then(|e| e.archive.as_ref().map(|a| catalog.dir().join(a)))
            .ok_or_else(|| Error::NoGoodBackup { dir: catalog.dir().to_path_buf() });
    }
    let by_id = catalog.archive_path(arg);
    if by_id.exists() {
        return Ok(by_id);
    }
    Err(Error::Usage(format!(
        "{arg} is neither an archive file nor a backup id in {} (see `hrsm-backup list`)",
        catalog.dir().display()
    )))
}

/// Why `backup --if-due` did nothing (exit 0).
fn say_not_due(cli: &Cli, msg: String) {
    if cli.json {
        print_json(&json!({ "ok": true, "due": false, "reason": msg }));
    } else {
        println!("{msg}");
    }
}

/// `backup --if-due`: whether the daily schedule wants a run now, from the backup folder's
/// history (the engine's `decide_from_history`): the schedule when it does; None, having said
/// why, when it does not.
fn due_now(cli: &Cli) -> Result<Option<hrsm_backup::Schedule>> {
    let cfg = load_config(cli)?;
    let Some((schedule, decision)) = hrsm_backup::schedule_decision(&cfg)? else {
        say_not_due(
            cli,
            "not due: the daily schedule is switched off ([schedule] enabled = false, or BACKUPS_ENABLED=false)".into(),
        );
        return Ok(None);
    };
    Ok(is_due(cli, &schedule, &decision).then_some(schedule))
}

/// Whether `decision` runs a backup; when not, says why.
fn is_due(cli: &Cli, schedule: &hrsm_backup::Schedule, decision: &hrsm_backup::SlotDecision) -> bool {
    let local = |t| schedule.local_label(t);
    match decision {
        hrsm_backup::SlotDecision::Run { .. } => true,
        hrsm_backup::SlotDecision::Wait { until } => {
            say_not_due(cli, format!("not due: nothing to do before {}", local(*until)));
            false
        }
        hrsm_backup::SlotDecision::GaveUp { slot, next } => {
            say_not_due(
                cli,
                format!(
                    "not due: the run of {} failed {} times; the next try is at {}",
                    local(*slot),
                    hrsm_backup::MAX_TRIES_PER_SLOT,
                    local(*next)
                ),
            );
            false
        }
    }
}

fn backup(cli: &Cli, verify: bool, force: bool, scheduled: bool, if_due: Option<&hrsm_backup::Schedule>) -> Result<()> {
    let cfg = load_config(cli)?;
    if !force {
        if let Ok(v) = std::env::var("BACKUPS_ENABLED") {
            if parse_enabled(&v) == Some(false) {
                return Err(Error::Disabled(v));
            }
        }
    }
    let key = load_key(cli)?;
    let mut opts = BackupOptions::from_config(&cfg, None);
    opts.verify &= verify;
    if scheduled {
        opts.trigger = hrsm_backup::Trigger::Scheduled;
    }
    let bar = Bar::new(cli.json);
    let result = match if_due {
        None => run_backup(&opts, &key, &bar, Box::new(rand::rngs::OsRng)),
        Some(schedule) => match run_backup_if_due(&opts, schedule, &key, &bar, Box::new(rand::rngs::OsRng)) {
            Ok(IfDue::Ran(done)) => Ok(*done),
            // A run that ended just before made the slot (seen holding the folder's lock).
            Ok(IfDue::NotDue(decision)) => {
                bar.done();
                is_due(cli, schedule, &decision);
                return Ok(());
            }
            Err(e) => Err(e),
        },
    };
    bar.done();
    let done = result?;
    let e = &done.entry;
    if !cli.json {
        println!(
            "backup {} written: {} files, {} -> {} in {:.1} s{}",
            e.id,
            e.files,
            human_bytes(e.bytes),
            human_bytes(e.size),
            e.duration_ms as f64 / 1000.0,
            if e.verified { ", verified" } else { "" }
        );
        println!("archive: {}", done.archive.display());
        for w in &done.manifest.warnings {
            println!("warning: {w}");
        }
    }
    crate::offsite::after_backup(cli, &cfg, json!({ "ok": true, "backup": e, "archive": done.archive }))
}

fn list(cli: &Cli) -> Result<()> {
    let cfg = load_config(cli)?;
    let catalog = match Catalog::existing(&cfg.destination) {
        Ok(c) => c,
        Err(_) if !cfg.destination.exists() => {
            if cli.json {
                print_json(&json!({ "ok": true, "backups": [], "problems": [] }));
            } else {
                println!("no backups yet in {}", cfg.destination.display());
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let listing = catalog.list()?;
    // Where each backup is copied, as this computer's record of each destination says (no
    // network: `offsite check` looks there).
    let states: Vec<(String, hrsm_backup::CopyState)> = cfg
        .offsite_destinations()
        .iter()
        .filter_map(|d| hrsm_backup::load_copy_state(&cfg.destination, d).ok().map(|st| (d.name.clone(), st)))
        .collect();
    let copies_of = |id: &str| -> Vec<(String, &'static str)> {
        states
            .iter()
            .filter_map(|(name, st)| {
                st.copies.get(id).map(|c| {
                    let word = match c.status {
                        hrsm_backup::CopyStatus::Copied => "copied",
                        hrsm_backup::CopyStatus::Failed => "failed",
                        hrsm_backup::CopyStatus::Missing => "missing",
                        hrsm_backup::CopyStatus::Changed => "changed",
                    };
                    (name.clone(), word)
                })
            })
            .collect()
    };
    if cli.json {
        let backups: Vec<serde_json::Value> = listing
            .entries
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                if !states.is_empty() {
                    let copies: serde_json::Map<String, serde_json::Value> =
                        copies_of(&e.id).into_iter().map(|(n, w)| (n, json!(w))).collect();
                    v["offsite"] = serde_json::Value::Object(copies);
                }
                v
            })
            .collect();
        print_json(&json!({ "ok": true, "backups": backups, "problems": listing.problems }));
        return Ok(());
    }
    let offsite_column = !states.is_empty();
    print!("{:<32} {:<20} {:>10} {:>9} {:<9} VERIFIED", "ID", "STARTED (UTC)", "SIZE", "DURATION", "STATUS");
    println!("{}", if offsite_column { "  OFF-SITE" } else { "" });
    for e in &listing.entries {
        let status = match e.status {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Unindexed => "unindexed",
            Status::Running => "running",
            Status::Cancelled => "cancelled",
        };
        let offsite = if offsite_column {
            let copies: Vec<String> = copies_of(&e.id)
                .into_iter()
                .map(|(n, w)| if w == "copied" { n } else { format!("{n} ({})", w.to_uppercase()) })
                .collect();
            format!("       {}", if copies.is_empty() { "-".to_string() } else { copies.join(", ") })
        } else {
            String::new()
        };
        println!(
            "{:<32} {:<20} {:>10} {:>8.1}s {:<9} {:<3}{offsite}",
            e.id,
            e.started.format("%Y-%m-%d %H:%M:%S"),
            if e.archive.is_some() { human_bytes(e.size) } else { "-".into() },
            e.duration_ms as f64 / 1000.0,
            status,
            if e.verified { "yes" } else { "no" }
        );
        if let (Status::Failed, Some(err)) = (e.status, &e.error) {
            println!("    {err}");
        }
    }
    for p in &listing.problems {
        eprintln!("hrsm-backup: warning: unreadable catalog entry {p}");
    }
    Ok(())
}

fn prune(cli: &Cli, dry_run: bool) -> Result<()> {
    let cfg = load_config(cli)?;
    let policy = hrsm_backup::RetentionPolicy::from(&cfg.retention);
    let (decisions, removed) = hrsm_backup::prune_destination(&cfg.destination, &policy, dry_run)?;
    if cli.json {
        print_json(&json!({ "ok": true, "dry_run": dry_run, "decisions": decisions, "removed": removed }));
        return Ok(());
    }
    for d in &decisions {
        let verb = match (d.keep, dry_run) {
            (true, _) => "keep  ",
            (false, true) => "would remove",
            (false, false) => "removed",
        };
        println!("{verb} {}  ({})", d.id, d.reason);
    }
    Ok(())
}

fn inspect(cli: &Cli, arg: &str) -> Result<()> {
    let path = find_archive(cli, arg)?;
    let key = load_key(cli)?;
    let m = hrsm_backup::read_manifest(&path, &key)?;
    if cli.json {
        print_json(&json!({ "ok": true, "manifest": m }));
        return Ok(());
    }
    println!("backup {} made on {} with hrsm-backup {}", m.backup_id, m.host, m.app_version);
    println!("started {}  data read by {}", m.started.to_rfc3339(), m.finished.to_rfc3339());
    println!("key id {}", m.key_id);
    for s in &m.sources {
        println!("  source {:<16} {:>7} files {:>10}  from {}", s.name, s.files, human_bytes(s.bytes), s.path);
    }
    if let Some(part) = hrsm_backup::mongo::MongoPart::of(&m) {
        println!("MongoDB via {} from {}: {}", part.method, part.uri, part.consistency);
        if let Some(note) = &part.method_note {
            println!("  note: {note}");
        }
        for db in &part.databases {
            let docs: u64 = db.collections.iter().map(|c| c.documents).sum();
            println!(
                "  database {} (server {}): {} collections, {docs} documents",
                db.name,
                db.server_version,
                db.collections.len()
            );
            for c in &db.collections {
                let unit = if c.kind == "timeseries" { "buckets" } else { "docs" };
                println!(
                    "    {:<28} {:<10} {:>10} {unit:<7} {:>10}",
                    c.name,
                    c.kind,
                    c.documents,
                    human_bytes(c.bytes)
                );
            }
        }
    }
    for w in &m.warnings {
        println!("  warning: {w}");
    }
    Ok(())
}

fn verify(cli: &Cli, arg: &str, restore_test: bool) -> Result<()> {
    let path = find_archive(cli, arg)?;
    let key = load_key(cli)?;
    let bar = Bar::new(cli.json);
    let r = verify_archive(&path, &key, &bar).inspect_err(|_| bar.done())?;
    let tested = if restore_test {
        let cfg = load_config(cli)?;
        let threads = if cfg.threads == 0 { 4 } else { cfg.threads };
        let log = cfg
            .mongodb
            .log_namespace(&cfg.mongodb.uri)
            .map(|namespace| hrsm_backup::MongoLog { uri: cfg.mongodb.uri.clone(), namespace });
        let t = hrsm_backup::test_restore(&path, &key, &cfg.mongodb.uri, threads, log.as_ref(), &bar);
        Some(t.inspect_err(|_| bar.done())?)
    } else {
        None
    };
    bar.done();
    if let Some(t) = &tested {
        if cli.json {
            print_json(
                &json!({ "ok": true, "archive": path, "files": r.files, "chunks": r.chunks, "backup_id": r.manifest.backup_id, "restore_test": t }),
            );
            return Ok(());
        }
        for c in &t.collections {
            println!(
                "test restore {}.{}: {} {} match",
                c.db,
                c.name,
                c.documents,
                if c.buckets { "buckets" } else { "documents" }
            );
        }
    }
    if cli.json {
        print_json(
            &json!({ "ok": true, "archive": path, "files": r.files, "bytes": r.bytes, "chunks": r.chunks, "backup_id": r.manifest.backup_id }),
        );
    } else {
        println!(
            "{}: OK ({} files, {}, {} chunks authenticated)",
            path.display(),
            r.files,
            human_bytes(r.bytes),
            r.chunks
        );
    }
    Ok(())
}

fn decrypt(cli: &Cli, arg: &str, output: &Path) -> Result<()> {
    let path = find_archive(cli, arg)?;
    let key = load_key(cli)?;
    if output.exists() {
        return Err(Error::Usage(format!("{} already exists; choose a new output file", output.display())));
    }
    let input = std::fs::File::open(&path).map_err(|e| Error::io("open archive", &path, e))?;
    let mut reader = hrsm_backup::ContainerReader::open(std::io::BufReader::with_capacity(1 << 20, input), &key)
        .map_err(|source| Error::Archive { path: path.clone(), source })?;
    // Written under a temp name and renamed only once the final chunk authenticated: a
    // truncated or tampered archive never leaves a plausible-looking .tar.gz behind.
    let mut out = hrsm_backup::AtomicFile::create(output)?;
    let sticky = reader.sticky_error();
    let copied = std::io::copy(&mut reader, &mut out);
    if let Err(e) = copied {
        return Err(match sticky.get() {
            Some(source) => Error::Archive { path, source },
            None => Error::io("write", output, e),
        });
    }
    out.commit()?;
    if cli.json {
        print_json(&json!({ "ok": true, "output": output }));
    } else {
        println!(
            "decrypted {} -> {} (a gzip-compressed tar: `tar xzf {}`)",
            path.display(),
            output.display(),
            output.display()
        );
    }
    Ok(())
}

fn key_command(cli: &Cli, cmd: &KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Generate { print } => {
            let key = MasterKey::generate(&mut rand::rngs::OsRng);
            if *print {
                println!("{}", recovery_text(&key).as_str());
                eprintln!("hrsm-backup: new key {} printed; store it safely, e.g. as {ENV_KEY}", key.id());
                return Ok(());
            }
            let store = key_store(cli).ok_or_else(|| {
                Error::Usage(
                    "this build has no keychain support: pass --key-file FILE (or set HRSM_BACKUP_KEY_FILE), or use --print"
                        .into(),
                )
            })?;
            store.store(&key)?;
            done_key(cli, &key, &format!("new key stored in {}", store.describe()));
            if !cli.json {
                println!(
                    "next: export a recovery copy and keep it off this machine: hrsm-backup key export --out FILE"
                );
            }
            Ok(())
        }
        KeyCommand::Export { out } => {
            let key = load_key(cli)?;
            let mut text = recovery_text(&key);
            text.push('\n');
            match out {
                Some(path) => {
                    if path.exists() {
                        return Err(Error::Usage(format!("{} already exists; choose a new file", path.display())));
                    }
                    hrsm_backup::write_atomic(path, text.as_bytes())?;
                    done_key(cli, &key, &format!("recovery key written to {} (mode 0600)", path.display()));
                }
                None => {
                    std::io::stdout().write_all(text.as_bytes()).map_err(|e| Error::io("write", "stdout", e))?;
                }
            }
            Ok(())
        }
        KeyCommand::Import { from } => {
            let mut text = hrsm_backup::SecretText::default();
            match from {
                Some(p) => *text = std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?,
                None => {
                    std::io::stdin().read_to_string(&mut text).map_err(|e| Error::io("read", "stdin", e))?;
                }
            }
            let key = parse_key_text(&text, "the recovery key")?;
            let store = key_store(cli).ok_or_else(|| {
                Error::Usage(
                    "this build has no keychain support: pass --key-file FILE (or set HRSM_BACKUP_KEY_FILE)".into(),
                )
            })?;
            store.store(&key)?;
            done_key(cli, &key, &format!("key imported into {}", store.describe()));
            Ok(())
        }
        KeyCommand::Id => {
            let key = load_key(cli)?;
            done_key(cli, &key, "key in use");
            Ok(())
        }
    }
}

fn done_key(cli: &Cli, key: &MasterKey, what: &str) {
    if cli.json {
        print_json(&json!({ "ok": true, "key_id": key.id().to_string(), "message": what }));
    } else {
        println!("{what}: key id {}", key.id());
    }
}
