//! `hrsm-backup restore`: files into a folder or back where they were backed up from, MongoDB
//! databases into a server, or both; a dry run shows the plan without writing.

use std::path::Path;

use hrsm_backup::mongo::MongoRestoreOptions;
use hrsm_backup::{Error, FileRestoreOptions, Result};
use serde_json::json;

use crate::commands::{find_archive, load_config, load_key};
use crate::output::{human_bytes, print_json, Bar};
use crate::{Cli, RestoreArgs};

pub fn run(cli: &Cli, args: &RestoreArgs) -> Result<()> {
    let wants_mongo = args.mongo || !args.dbs.is_empty() || !args.collections.is_empty();
    let wants_files = args.files_to.is_some() || args.files_in_place;
    if !wants_files && !wants_mongo {
        return Err(Error::Usage(
            "say what to restore: --files-to DIR (or --files-in-place) for the files, --mongo (or --db FROM[=TO]) \
             for the databases"
                .into(),
        ));
    }
    let path = find_archive(cli, &args.archive.archive)?;
    let key = load_key(cli)?;
    // Plan both parts before writing anything (the engine's plan, from the manifest).
    let file_opts = wants_files.then(|| FileRestoreOptions {
        target: args.files_to.clone().unwrap_or_default(),
        only: args.only.clone(),
        overwrite: args.overwrite,
        in_place: args.files_in_place,
    });
    let mut groups = if wants_mongo {
        by_server(&path, &key, mongo_options(cli, &args.dbs, &args.collections, args.pause_ttl)?, &load_config(cli)?)?
    } else {
        Vec::new()
    };
    let later: Vec<MongoRestoreOptions> = if groups.len() > 1 { groups.split_off(1) } else { Vec::new() };
    let req = hrsm_backup::RestoreRequest { files: file_opts, mongo: groups.pop() };
    let mut preview = hrsm_backup::plan_restore(&path, &key, &req, false)?;
    for g in &later {
        let r = hrsm_backup::RestoreRequest { files: None, mongo: Some(g.clone()) };
        preview.collections.extend(hrsm_backup::plan_restore(&path, &key, &r, false)?.collections);
    }
    let file_plan = preview.files;
    let mongo_plan = req.mongo.as_ref().map(|_| {
        preview
            .collections
            .iter()
            .map(|c| {
                // A time series is kept as its buckets, each holding several measurements.
                let unit = if c.kind == "timeseries" { "buckets" } else { "documents" };
                let mut line =
                    format!("{}.{} -> {}.{}: {} {} {unit}", c.from, c.name, c.to, c.name, c.kind, c.documents);
                for t in &c.ttl {
                    let rule = if c.kind == "timeseries" && t.index == hrsm_backup::mongo::layout::TIMESERIES_TTL {
                        "the time series' own expiry".to_string()
                    } else {
                        format!("TTL index {}", t.index)
                    };
                    line.push_str(&format!(
                        "; {rule}: the server deletes documents whose {} is older than {}, within a minute \
                         of the restore (restore with --without-ttl to keep them for now)",
                        t.field,
                        human_age(t.seconds)
                    ));
                }
                line
            })
            .collect::<Vec<_>>()
    });
    if args.dry_run {
        if cli.json {
            print_json(&json!({ "ok": true, "dry_run": true, "files": file_plan, "mongo": mongo_plan }));
        } else {
            if let (Some(p), Some(o)) = (&file_plan, &req.files) {
                let into = if o.in_place { "in place:".to_string() } else { format!("into {}", o.target.display()) };
                println!(
                    "would restore {} files ({}), {} folders, {} links of {} {into}",
                    p.files,
                    human_bytes(p.bytes),
                    p.dirs,
                    p.symlinks,
                    p.sources.join(", "),
                );
                if o.in_place {
                    for d in &p.destinations {
                        println!("  {} -> {}", d.source, d.path.display());
                    }
                }
                for r in &p.replaced {
                    println!("  would replace {r}");
                }
            }
            for line in mongo_plan.iter().flatten() {
                println!("would restore {line}");
            }
        }
        return Ok(());
    }
    let bar = Bar::new(cli.json);
    // Files and databases together, in one read of the archive.
    let done = hrsm_backup::restore(&path, &key, &req, &bar);
    bar.done();
    let hrsm_backup::RestoreOutcome { files, mut mongo } = done?;
    for g in &later {
        let bar = Bar::new(cli.json);
        let more = hrsm_backup::restore_mongo(&path, &key, g, &bar);
        bar.done();
        let more = more?;
        match &mut mongo {
            Some(m) => {
                m.collections.extend(more.collections);
                m.views.extend(more.views);
            }
            None => mongo = Some(more),
        }
    }
    if cli.json {
        print_json(&json!({ "ok": true, "files": files, "mongo": mongo }));
        return Ok(());
    }
    if let Some(r) = files {
        let p = &r.plan;
        let in_place = req.files.as_ref().is_some_and(|o| o.in_place);
        let into = if in_place { "in place:".to_string() } else { format!("into {}", r.target.display()) };
        println!(
            "restored {} files ({}), {} folders, {} links of {} {into}",
            p.files,
            human_bytes(p.bytes),
            p.dirs,
            p.symlinks,
            p.sources.join(", "),
        );
        if in_place {
            for d in &p.destinations {
                println!("  {} -> {}", d.source, d.path.display());
            }
        }
    }
    if let Some(r) = mongo {
        print_restored(&r);
        for t in &r.ttl_paused {
            println!("TTL index {t} is paused: nothing expires until you run `hrsm-backup resume-ttl` on this backup");
        }
    }
    Ok(())
}

/// `resume-ttl`: the TTL indexes a `--pause-ttl` restore paused, back to the backup's values.
pub fn run_resume_ttl(cli: &Cli, archive: &str, dbs: &[String]) -> Result<()> {
    let path = find_archive(cli, archive)?;
    let key = load_key(cli)?;
    let opts = mongo_options(cli, dbs, &[], false)?;
    let manifest = hrsm_backup::read_manifest(&path, &key)?;
    let resumed = hrsm_backup::mongo::resume_ttl(&opts.uri, &manifest, &opts.databases)?;
    if cli.json {
        print_json(&json!({ "ok": true, "resumed": resumed }));
    } else if resumed.is_empty() {
        println!("no paused TTL index of this backup was found");
    } else {
        for r in &resumed {
            println!("resumed TTL index {r}");
        }
    }
    Ok(())
}

/// `restore-dump`: a mongodump folder or archive into the configured server.
pub fn run_dump(cli: &Cli, path: &Path, dbs: &[String], collections: &[String]) -> Result<()> {
    let opts = mongo_options(cli, dbs, collections, false)?;
    let bar = Bar::new(cli.json);
    let result = if path.is_dir() {
        hrsm_backup::mongo::restore_dump_dir(path, &opts, &bar)
    } else {
        hrsm_backup::mongo::restore_dump_archive(path, &opts, &bar)
    };
    bar.done();
    let r = result?;
    if cli.json {
        print_json(&json!({ "ok": true, "mongo": r }));
    } else {
        print_restored(&r);
    }
    Ok(())
}

/// Databases that came from another server (the license server's own) go back to the server
/// `mongodb.license_uri` names; the rest to the main one. One restore per server.
fn by_server(
    path: &Path,
    key: &hrsm_backup::MasterKey,
    opts: MongoRestoreOptions,
    cfg: &hrsm_backup::Config,
) -> Result<Vec<MongoRestoreOptions>> {
    let Some(license_uri) = cfg.mongodb.license_uri.clone() else { return Ok(vec![opts]) };
    let manifest = hrsm_backup::read_manifest(path, key)?;
    Ok(hrsm_backup::split_by_server(&manifest, opts, Some(license_uri)))
}

fn mongo_options(cli: &Cli, dbs: &[String], collections: &[String], pause_ttl: bool) -> Result<MongoRestoreOptions> {
    let cfg = load_config(cli)?;
    let mut databases = Vec::new();
    for spec in dbs {
        let (from, to) = spec.split_once('=').unwrap_or((spec, spec));
        if from.is_empty() || to.is_empty() {
            return Err(Error::Usage(format!("--db {spec:?}: write FROM or FROM=TO")));
        }
        databases.push((from.to_string(), to.to_string()));
    }
    Ok(MongoRestoreOptions {
        uri: cfg.mongodb.uri.clone(),
        databases,
        collections: (!collections.is_empty()).then(|| collections.to_vec()),
        threads: if cfg.threads == 0 { 4 } else { cfg.threads },
        log_collection: cfg.mongodb.log_namespace(&cfg.mongodb.uri),
        pause_ttl,
    })
}

/// "90 days", "2 years": a TTL in words.
fn human_age(seconds: i64) -> String {
    let days = seconds / 86_400;
    match days {
        0 => format!("{seconds} seconds"),
        d if d % 365 == 0 => format!("{} year{}", d / 365, if d == 365 { "" } else { "s" }),
        1 => "1 day".into(),
        d => format!("{d} days"),
    }
}

/// The collections and views a MongoDB restore brought back, a line each.
fn print_restored(r: &hrsm_backup::mongo::MongoRestoreReport) {
    for c in &r.collections {
        let unit = if c.buckets { "buckets" } else { "documents" };
        println!("restored {}.{}: {} {unit}", c.db, c.name, c.documents);
    }
    for v in &r.views {
        println!("restored view {v}");
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
}
