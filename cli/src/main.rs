//! `hrsm-backup`: the command-line front end over the engine, for servers without a desktop
//! and for scripts. Argument parsing (clap) and dispatch here, one module per concern beside
//! it; no backup logic lives in this crate. Exit codes: 0 ok, 1 failure, 2 usage.
//!
//! Depends on the engine (`hrsm_backup`) and its own CLI-only crates (clap, indicatif,
//! tracing-subscriber), which the desktop app never compiles.

mod commands;
mod demo;
mod discover;
mod legacy;
mod offsite;
mod output;
mod restore;
mod task;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "hrsm-backup", version, about = "Encrypted, verified backups of an HR-SM installation")]
pub struct Cli {
    /// Config file (default: $HRSM_BACKUP_CONFIG, else ./hrsm-backup.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// File holding the master key (mode 0600; default: $HRSM_BACKUP_KEY_FILE).
    /// BACKUP_ENCRYPTION_KEY, when set, takes precedence.
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make a restore point now.
    Backup {
        /// Skip re-reading the archive after writing it.
        #[arg(long)]
        no_verify: bool,
        /// Back up even if BACKUPS_ENABLED is false.
        #[arg(long)]
        force: bool,
        /// Record the run as the daily scheduled one (for cron and the Task Scheduler),
        /// not as a manual one.
        #[arg(long)]
        scheduled: bool,
        /// Back up only when the daily schedule says a run is due (a slot passed with no good
        /// backup since, at most 3 tries per slot), judged from the backup folder's history:
        /// for the Task Scheduler or cron to start every hour. Implies --scheduled.
        #[arg(long)]
        if_due: bool,
    },
    /// List the backups in the destination folder.
    List,
    /// Remove backups the retention policy no longer keeps (see docs/CONFIG.md).
    Prune {
        /// List what would go and why, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show an archive's manifest (reads only its first chunk).
    Inspect(ArchiveArg),
    /// Read an archive end to end and check every MAC and checksum.
    Verify {
        #[command(flatten)]
        archive: ArchiveArg,
        /// Also restore the MongoDB part into scratch databases (<db>__verify<time>), compare every
        /// collection with the archive, and drop them.
        #[arg(long)]
        restore_test: bool,
    },
    /// Restore files and/or MongoDB databases from an archive (checks everything first).
    Restore(RestoreArgs),
    /// Restore a dump made by the MongoDB Database Tools (a `mongodump --out` folder or an
    /// `--archive` file) through the same safe, staged restore.
    RestoreDump {
        /// The dump folder or archive file.
        path: PathBuf,
        /// Restore this database (FROM, or FROM=TO); repeatable. Default: all, same names.
        #[arg(long = "db", value_name = "FROM[=TO]")]
        dbs: Vec<String>,
        /// Restore only these collections; repeatable.
        #[arg(long = "collection", value_name = "NAME")]
        collections: Vec<String>,
    },
    /// Convert the backups of HR-SM's old backup service (its .tar.gz.enc files in
    /// backups/daily, weekly and monthly) into archives in the destination, which then list,
    /// verify and restore like any other; retention never removes them.
    ImportLegacy {
        /// The old backups/ folder, or the HR-SM folder that holds backups/ and logs/.
        dir: PathBuf,
        /// A file with keys of the old service, one per line (`-`: standard input). Keys are
        /// never taken as arguments: other users can read a process's arguments.
        #[arg(long, value_name = "FILE")]
        keys_from: Option<PathBuf>,
        /// Decrypt, check and convert each old backup; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Set the TTL indexes that `restore --pause-ttl` paused back to the backup's values.
    ResumeTtl {
        #[command(flatten)]
        archive: ArchiveArg,
        /// The databases as restored (FROM, or FROM=TO); repeatable. Default: all, same names.
        #[arg(long = "db", value_name = "FROM[=TO]")]
        dbs: Vec<String>,
    },
    /// Decrypt an archive to a plain .tar.gz (the escape hatch to standard tools).
    Decrypt {
        #[command(flatten)]
        archive: ArchiveArg,
        /// Output file (must not exist).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Manage the master key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Show what an HR-SM installation's own files say (.env, PM2 ecosystem files): MongoDB
    /// URIs, keys, the databases and file sources a backup takes. Secrets are shown masked.
    Discover {
        /// The HR-SM installation folder (default: hrsm_root of the config).
        root: Option<PathBuf>,
    },
    /// Off-site copies: S3-compatible storage, Azure Blob Storage, a second folder.
    #[command(subcommand)]
    Offsite(crate::offsite::OffsiteCommand),
    /// The daily backup as a Windows Task Scheduler task, which runs when nobody is logged
    /// in: every hour it starts `backup --if-due`.
    #[command(subcommand)]
    ScheduleTask(crate::task::TaskCommand),
    /// Set up a sample HR-SM installation in a folder and back it up and restore it.
    Demo {
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("files").args(["files_to", "files_in_place"])))]
pub struct RestoreArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// Folder to restore the file sources into (as <DIR>/<source>/...).
    #[arg(long, value_name = "DIR")]
    pub files_to: Option<PathBuf>,
    /// Put each file source back into the folder it was backed up from (as `inspect` shows
    /// it); a file of the backup that exists there stops the restore unless --overwrite.
    #[arg(long, conflicts_with = "files_to")]
    pub files_in_place: bool,
    /// Restore only this file source.
    #[arg(long, value_name = "SOURCE", requires = "files")]
    pub only: Option<String>,
    /// Replace files that already exist.
    #[arg(long, requires = "files")]
    pub overwrite: bool,
    /// Restore every MongoDB database of the backup under its own name.
    #[arg(long)]
    pub mongo: bool,
    /// Restore this database (FROM, or FROM=TO to restore it under another name); repeatable.
    #[arg(long = "db", value_name = "FROM[=TO]")]
    pub dbs: Vec<String>,
    /// Restore only these collections; repeatable.
    #[arg(long = "collection", value_name = "NAME")]
    pub collections: Vec<String>,
    /// Show what would be restored, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Restore TTL indexes paused, so that old documents are not deleted by the server within
    /// a minute (the dry run names such collections); `resume-ttl` sets them back.
    #[arg(long, alias = "without-ttl")]
    pub pause_ttl: bool,
}

#[derive(Args, Debug)]
pub struct ArchiveArg {
    /// An archive file, a backup id from `list`, or `latest`.
    pub archive: String,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a new random master key and store it in the key file.
    Generate {
        /// Print the key's recovery text on stdout instead of storing it.
        #[arg(long)]
        print: bool,
    },
    /// Write the key's recovery text to a file (or stdout); keep it off this machine.
    Export {
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Read a recovery text (from a file or stdin) into the key file.
    Import {
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
    /// Show the id of the key in use.
    Id,
}

/// Warnings and details from the engine (and mongodump's own lines, at debug) go to stderr;
/// `HRSM_LOG=debug` (tracing's filter syntax) shows more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HRSM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // `hrsm-backup --json list | head` ends quietly when the reader goes away, like other
    // Unix tools, instead of panicking on the closed pipe. Only for the commands that print and
    // talk to no server: with the default disposition a write to a connection the server cut
    // (an S3 server dying mid-upload) would kill the process without a word, where the others
    // must report it and keep their state.
    #[cfg(unix)]
    if matches!(
        cli.command,
        Command::List | Command::Inspect(_) | Command::Key(_) | Command::Discover { .. } | Command::Prune { .. }
    ) {
        // SAFETY: restoring the default disposition of one signal; no thread has started yet
        // that could be writing.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let json = cli.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::report_error(&e, json);
            match e {
                hrsm_backup::Error::Usage(_) => ExitCode::from(2),
                // The backup (if one was made) stands; a copy of it did not reach its place.
                hrsm_backup::Error::Offsite { .. } => ExitCode::from(3),
                _ => ExitCode::from(1),
            }
        }
    }
}
