//! `hrsm-backup offsite ...`: the off-site destinations of the config, their credentials in
//! the keychain, copying, checking, listing and fetching back; and the copy step after
//! `backup`.

use std::io::Read;

use clap::Subcommand;
use hrsm_backup::{
    check_remote, copy_all, fetch_from_offsite, load_copy_state, open_destination, remote_entries, Config, CopyReport,
    CopyStatus, Credentials, Error, MongoLog, OffsiteConfig, OffsiteKind, Result,
};
use serde_json::json;

use crate::commands::load_config;
use crate::output::{human_bytes, print_json, Bar};
use crate::Cli;

#[derive(Subcommand, Debug)]
pub enum OffsiteCommand {
    /// Show each destination: where it is, what is copied, what is pending or wrong.
    Status,
    /// Connect to a destination and write, read and remove a small test object.
    Test {
        /// The destination (default: all).
        name: Option<String>,
    },
    /// Store a destination's credentials in the OS keychain, read from standard input (never
    /// from arguments, which other users can see): for S3 the access key id on the first line
    /// and the secret access key on the second; for Azure the account key.
    Secret {
        name: String,
        /// Remove the stored credentials instead.
        #[arg(long)]
        delete: bool,
    },
    /// Copy the verified backups a destination does not have yet, then apply its retention.
    Copy {
        /// The destination (default: all).
        name: Option<String>,
    },
    /// Check the copies a destination holds: present and of the right size, or (with
    /// --read-back) their whole SHA-256.
    Check {
        name: Option<String>,
        #[arg(long)]
        read_back: bool,
    },
    /// List the backups a destination holds (works with an empty local folder).
    List { name: String },
    /// Download a backup from a destination into the local backup folder (then restore it
    /// like any other).
    Fetch {
        /// The backup id (see `offsite list`).
        id: String,
        #[arg(long, value_name = "NAME")]
        from: String,
    },
    /// Forget this computer's record of a destination's copies (the copies there stay): the
    /// next copy starts afresh, e.g. with a new disk under the same destination.
    Forget { name: String },
}

pub fn run(cli: &Cli, cmd: &OffsiteCommand) -> Result<()> {
    let cfg = load_config(cli)?;
    match cmd {
        OffsiteCommand::Status => status(cli, &cfg),
        OffsiteCommand::Test { name } => test(cli, &pick(&cfg, name.as_deref())?),
        OffsiteCommand::Secret { name, delete } => secret(cli, &pick(&cfg, Some(name))?[0], *delete),
        OffsiteCommand::Copy { name } => {
            let bar = Bar::new(cli.json);
            let mut reports = Vec::new();
            // Without a name: the destinations in use; a named one is copied to even when it
            // is switched off for the daily runs.
            match name {
                None => {
                    pick(&cfg, None)?;
                    reports = copy_all(&cfg, run_log(&cfg).as_ref(), &bar)?;
                }
                Some(_) => {
                    for d in pick(&cfg, name.as_deref())? {
                        let one = Config {
                            offsite: vec![OffsiteConfig { enabled: true, ..d }],
                            offsite_problem: None,
                            ..cfg.clone()
                        };
                        reports.extend(copy_all(&one, run_log(&cfg).as_ref(), &bar)?);
                    }
                }
            }
            bar.done();
            report_copies(cli, &reports, None)
        }
        OffsiteCommand::Check { name, read_back } => check(cli, &cfg, name.as_deref(), *read_back),
        OffsiteCommand::List { name } => list(cli, &pick(&cfg, Some(name))?[0]),
        OffsiteCommand::Forget { name } => {
            // A name no longer in the settings can be forgotten too (a destination removed).
            hrsm_backup::forget_offsite(&cfg.destination, name)?;
            if cli.json {
                print_json(&json!({ "ok": true, "forgotten": name }));
            } else {
                println!("the record of {name}'s copies is forgotten; the next copy starts afresh there");
            }
            Ok(())
        }
        OffsiteCommand::Fetch { id, from } => {
            let d = &pick(&cfg, Some(from))?[0];
            let remote = open_destination(d)?;
            let bar = Bar::new(cli.json);
            let got = fetch_from_offsite(&cfg.destination, &remote, id, &bar);
            bar.done();
            let entry = got?;
            if cli.json {
                print_json(&json!({ "ok": true, "backup": entry }));
            } else {
                println!(
                    "{} downloaded from {} ({}), its SHA-256 matches the backup's; restore it with `hrsm-backup restore {}`",
                    entry.id,
                    d.name,
                    human_bytes(entry.size),
                    entry.id
                );
            }
            Ok(())
        }
    }
}

/// Where copies are recorded for HR-SM (`cloudStorage` of each backup's `BackupLog`): its run
/// log collection, when this site's MongoDB is backed up.
fn run_log(cfg: &Config) -> Option<MongoLog> {
    if !cfg.mongodb.enabled {
        return None;
    }
    cfg.mongodb.log_namespace(&cfg.mongodb.uri).map(|namespace| MongoLog { uri: cfg.mongodb.uri.clone(), namespace })
}

/// The destinations a command is about: the one named, or all configured.
fn pick(cfg: &Config, name: Option<&str>) -> Result<Vec<OffsiteConfig>> {
    if cfg.offsite.is_empty() {
        return Err(Error::Usage(
            "no off-site destination is configured; add an [[offsite]] table to the config (docs/CONFIG.md)".into(),
        ));
    }
    match name {
        None => Ok(cfg.offsite.clone()),
        Some(n) => cfg.offsite.iter().find(|d| d.name == n).cloned().map(|d| vec![d]).ok_or_else(|| {
            let names: Vec<&str> = cfg.offsite.iter().map(|d| d.name.as_str()).collect();
            Error::Usage(format!("no off-site destination is named {n:?}; the config has {}", names.join(", ")))
        }),
    }
}

/// After a good backup: copy to every enabled destination. The backup stands whatever
/// happens here; a failed copy makes the command fail (exit 3) so that a scheduler notices.
pub fn after_backup(cli: &Cli, cfg: &Config, backup: serde_json::Value) -> Result<()> {
    if cfg.offsite_destinations().is_empty() && cfg.offsite_problem.is_none() {
        if cli.json {
            print_json(&backup);
        }
        return Ok(());
    }
    let bar = Bar::new(cli.json);
    let reports = copy_all(cfg, run_log(cfg).as_ref(), &bar);
    bar.done();
    let reports = reports?;
    report_copies(cli, &reports, Some(backup))
}

fn report_copies(cli: &Cli, reports: &[CopyReport], backup: Option<serde_json::Value>) -> Result<()> {
    let failed: Vec<&CopyReport> = reports.iter().filter(|r| r.error.is_some() || !r.problems.is_empty()).collect();
    if cli.json {
        let mut v = backup.unwrap_or_else(|| json!({ "ok": failed.is_empty() }));
        // With a backup: "ok" is the backup's; the copies have their own.
        v["offsite_ok"] = json!(failed.is_empty());
        v["offsite"] = json!(reports);
        print_json(&v);
    } else {
        for r in reports {
            if let Some(w) = &r.waiting {
                let hint = if w.contains("marker") {
                    format!(" (a new disk: `hrsm-backup offsite forget {}` starts afresh)", r.destination)
                } else {
                    String::new()
                };
                println!("off-site {}: waits: {w}; the copy is made when it is back{hint}", r.destination);
                continue;
            }
            let resumed =
                if r.resumed_parts > 0 { format!(", {} parts resumed", r.resumed_parts) } else { String::new() };
            println!(
                "off-site {}: {} copied and checked ({}{resumed}), {} removed by its retention, {} still to copy",
                r.destination,
                r.copied.len(),
                human_bytes(r.bytes),
                r.removed.len(),
                r.pending
            );
            for p in &r.problems {
                println!("off-site {}: PROBLEM: {p}", r.destination);
            }
            if let Some(e) = &r.error {
                println!("off-site {}: FAILED: {e}", r.destination);
            }
        }
    }
    match failed.first() {
        None => Ok(()),
        Some(r) => {
            // The report above said it all on stdout; the error only sets the exit code (and a
            // line on stderr for people).
            crate::output::mark_reported();
            let message = r.error.clone().unwrap_or_else(|| r.problems.join("; "));
            let prefix = format!("off-site copy {}: ", r.destination);
            Err(Error::Offsite {
                destination: r.destination.clone(),
                message: message.strip_prefix(&prefix).map(str::to_string).unwrap_or(message),
            })
        }
    }
}

fn status(cli: &Cli, cfg: &Config) -> Result<()> {
    let mut out = Vec::new();
    for d in &cfg.offsite {
        let st = load_copy_state(&cfg.destination, d)?;
        let copied = st.copies.values().filter(|c| c.status == CopyStatus::Copied).count();
        let failed: Vec<String> = st
            .copies
            .iter()
            .filter(|(_, c)| c.status == CopyStatus::Failed)
            .map(|(id, c)| format!("{id}: {}", c.error.clone().unwrap_or_default()))
            .collect();
        let problems: Vec<String> = st.problems().iter().map(|(id, c)| format!("{id}: {:?}", c.status)).collect();
        if cli.json {
            out.push(json!({
                "name": d.name, "kind": d.kind, "enabled": d.enabled, "where": d.describe(),
                "copied": copied, "failed": failed, "problems": problems, "waiting": st.waiting,
                "last_run": st.last_run, "last_error": st.last_error,
            }));
        } else {
            println!("{}{}", d.describe(), if d.enabled { "" } else { " [switched off]" });
            let last = st.last_run.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or("never".into());
            println!("  {copied} copies, last copy run {last}{}", if st.waiting { ", waiting for it" } else { "" });
            if let Some(e) = &st.last_error {
                println!("  last error: {e}");
            }
            for f in failed.iter().chain(&problems) {
                println!("  {f}");
            }
        }
    }
    if cli.json {
        print_json(&json!({ "ok": true, "destinations": out }));
    }
    Ok(())
}

fn test(cli: &Cli, dests: &[OffsiteConfig]) -> Result<()> {
    let mut first_err = None;
    let mut out = Vec::new();
    for d in dests {
        let r = open_destination(d).and_then(|remote| remote.probe());
        match &r {
            Ok(()) if !cli.json => println!("{}: ok (wrote, read and removed a test object)", d.describe()),
            Err(e) if !cli.json => println!("{}: {e}", d.describe()),
            _ => {}
        }
        out.push(json!({ "name": d.name, "ok": r.is_ok(), "error": r.as_ref().err().map(|e| e.to_string()) }));
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    if cli.json {
        print_json(&json!({ "ok": first_err.is_none(), "destinations": out }));
    }
    first_err.map_or(Ok(()), Err)
}

fn secret(cli: &Cli, d: &OffsiteConfig, delete: bool) -> Result<()> {
    #[cfg(feature = "keychain")]
    {
        let kc = hrsm_backup::Keychain::offsite(&d.name);
        if delete {
            kc.delete()?;
            if !cli.json {
                println!("the credentials of {} are removed from the keychain", d.name);
            }
            return Ok(());
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Usage(format!("cannot read standard input: {e}")))?;
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let creds = match d.kind {
            OffsiteKind::S3 => {
                let (Some(id), Some(secret)) = (lines.next(), lines.next()) else {
                    return Err(Error::Usage(
                        "give the access key id on the first line and the secret access key on the second".into(),
                    ));
                };
                Credentials::s3(id, secret)?
            }
            OffsiteKind::Azure => Credentials::azure(lines.next().unwrap_or_default())?,
            OffsiteKind::Folder => {
                return Err(Error::Usage(format!("{} is a folder: it needs no credentials", d.name)));
            }
        };
        kc.set_text(&creds.to_secret_text())?;
        if cli.json {
            print_json(&json!({ "ok": true }));
        } else {
            println!(
                "the credentials of {} are in the keychain; `hrsm-backup offsite test {}` tries them",
                d.name, d.name
            );
        }
        Ok(())
    }
    #[cfg(not(feature = "keychain"))]
    {
        let _ = (cli, d, delete);
        Err(Error::Usage(
            "this build has no keychain support: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AZURE_STORAGE_KEY) instead".into(),
        ))
    }
}

fn check(cli: &Cli, cfg: &Config, name: Option<&str>, read_back: bool) -> Result<()> {
    let bar = Bar::new(cli.json);
    let mut reports = Vec::new();
    for d in pick(cfg, name)? {
        let remote = open_destination(&d)?;
        reports.push(check_remote(&cfg.destination, &remote, read_back, &bar)?);
    }
    bar.done();
    let problems: Vec<String> =
        reports.iter().flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.destination))).collect();
    if cli.json {
        print_json(&json!({ "ok": problems.is_empty(), "offsite": reports }));
    } else if problems.is_empty() {
        for r in &reports {
            println!(
                "off-site {}: every copy is there{}",
                r.destination,
                if read_back { " and reads back right" } else { "" }
            );
        }
    } else {
        for p in &problems {
            println!("PROBLEM: {p}");
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    crate::output::mark_reported();
    Err(Error::Offsite {
        destination: reports.iter().find(|r| !r.problems.is_empty()).map(|r| r.destination.clone()).unwrap_or_default(),
        message: format!(
            "{} copies are missing or changed; they are copied again at the next copy run",
            problems.len()
        ),
    })
}

fn list(cli: &Cli, d: &OffsiteConfig) -> Result<()> {
    let remote = open_destination(d)?;
    let (entries, problems) = remote_entries(&remote)?;
    if cli.json {
        print_json(&json!({ "ok": true, "backups": entries, "problems": problems }));
        return Ok(());
    }
    if entries.is_empty() {
        println!("{} holds no backups yet", d.describe());
    } else {
        println!("{:<32} {:<20} {:>10} DATABASES", "ID", "STARTED (UTC)", "SIZE");
        for e in &entries {
            println!(
                "{:<32} {:<20} {:>10} {}",
                e.id,
                e.started.format("%Y-%m-%d %H:%M:%S"),
                human_bytes(e.size),
                e.databases.join(",")
            );
        }
    }
    for p in &problems {
        println!("problem: {p}");
    }
    Ok(())
}
