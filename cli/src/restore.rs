//! `hrsm-backup restore`: files into a folder, MongoDB databases into a server, or both; a dry
//! run shows the plan without writing.

use std::path::Path;

use hrsm_backup::mongo::MongoRestoreOptions;
use hrsm_backup::{Error, FileRestoreOptions, Result};
use serde_json::json;

use crate::commands::{find_archive, load_config, load_key};
use crate::output::{human_bytes, print_json, Bar};
use crate::{Cli, RestoreArgs};

pub fn run(cli: &Cli, args: &RestoreArgs) -> Result<()> {
    let wants_mongo = args.mongo || !args.dbs.is_empty() || !args.collections.is_empty();
    if args.files_to.is_none() && !wants_mongo {
        return Err(Error::Usage(
            "say what to restore: --files-to DIR for the files, --mongo (or --db FROM[=TO]) for the databases".into(),
        ));
    }
    let path = find_archive(cli, &args.archive.archive)?;
    let key = load_key(cli)?;
    // Plan both parts before writing anything (the engine's plan, from the manifest).
    let file_opts = args.files_to.as_ref().map(|t| FileRestoreOptions {
        target: t.clone(),
        only: args.only.clone(),
        overwrite: args.overwrite,
    });
    let mongo_opts = if wants_mongo { Some(mongo_options(cli, &args.dbs, &args.collections)?) } else { None };
    let req = hrsm_backup::RestoreRequest { files: file_opts, mongo: mongo_opts };
    let preview = hrsm_backup::plan_restore(&path, &key, &req, false)?;
    let file_plan = preview.files;
    let mongo_plan = req.mongo.as_ref().map(|_| {
        preview
            .collections
            .iter()
            .map(|c| format!("{}.{} -> {}.{}: {} {} documents", c.from, c.name, c.to, c.name, c.kind, c.documents))
            .collect::<Vec<_>>()
    });
    if args.dry_run {
        if cli.json {
            print_json(&json!({ "ok": true, "dry_run": true, "files": file_plan, "mongo": mongo_plan }));
        } else {
            if let (Some(p), Some(o)) = (&file_plan, &req.files) {
                println!(
                    "would restore {} files ({}), {} folders, {} links of {} into {}",
                    p.files,
                    human_bytes(p.bytes),
                    p.dirs,
                    p.symlinks,
                    p.sources.join(", "),
                    o.target.display()
                );
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
    let hrsm_backup::RestoreOutcome { files, mongo } = done?;
    if cli.json {
        print_json(&json!({ "ok": true, "files": files, "mongo": mongo }));
        return Ok(());
    }
    if let Some(r) = files {
        let p = &r.plan;
        println!(
            "restored {} files ({}), {} folders, {} links of {} into {}",
            p.files,
            human_bytes(p.bytes),
            p.dirs,
            p.symlinks,
            p.sources.join(", "),
            r.target.display()
        );
    }
    if let Some(r) = mongo {
        for c in &r.collections {
            println!("restored {}.{}: {} documents", c.db, c.name, c.documents);
        }
        for v in &r.views {
            println!("restored view {v}");
        }
    }
    Ok(())
}

/// `restore-dump`: a mongodump folder or archive into the configured server.
pub fn run_dump(cli: &Cli, path: &Path, dbs: &[String], collections: &[String]) -> Result<()> {
    let opts = mongo_options(cli, dbs, collections)?;
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
        for c in &r.collections {
            println!("restored {}.{}: {} documents", c.db, c.name, c.documents);
        }
        for v in &r.views {
            println!("restored view {v}");
        }
    }
    Ok(())
}

fn mongo_options(cli: &Cli, dbs: &[String], collections: &[String]) -> Result<MongoRestoreOptions> {
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
        log_collection: Some(cfg.mongodb.log_collection.clone()).filter(|s| !s.is_empty()),
    })
}
