//! The demo default: with nothing configured and no MongoDB reachable, the app starts a local
//! SecantusDB (a MongoDB-wire server, run as a separate process) seeded with sample HR-SM data
//! and a sample uploads folder, so a newcomer can back up and restore at once. Marked by
//! `<data>/demo/`; a real config (or MONGODB_URI) turns it off.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hrsm_backup::Config;

/// The running demo server; it dies with the app (PDEATHSIG from a thread that lives as long).
pub struct DemoServer {
    pub uri: String,
}

fn secantus_binary() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("HRSM_SECANTUSD") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/hrsm-tools/bin/secantusd-rs"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("secantusd-rs")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

fn local_mongo_answers() -> bool {
    TcpStream::connect_timeout(
        &"127.0.0.1:27017".parse().expect("a literal socket address"),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// Decides whether this start is a demo and, if so, starts and seeds it.
pub fn prepare(config_path: &Path, data_dir: &Path) -> Result<Option<DemoServer>, Box<dyn std::error::Error>> {
    let demo_dir = data_dir.join("demo");
    let configured = config_path.exists() && !demo_dir.exists();
    if configured || std::env::var_os("MONGODB_URI").is_some() || (!demo_dir.exists() && local_mongo_answers()) {
        return Ok(None);
    }
    let Some(bin) = secantus_binary() else {
        eprintln!("hrsm-backup-desktop: nothing is configured and no MongoDB answers, and the demo server (secantusd-rs) is not installed: run scripts/run-app");
        return Ok(None);
    };
    std::fs::create_dir_all(&demo_dir)?;
    let uri = start_server(&bin, &demo_dir.join("db"))?;
    let root = demo_dir.join("hr-sm");
    if !root.exists() {
        hrsm_backup::seed_sample_installation(&root)?;
    }
    // The sample site's own files name this start's server (backups read them).
    hrsm_backup::point_sample_installation_at(&root, &uri)?;
    hrsm_backup::seed_sample_databases(&uri)?;
    let mut cfg = Config { hrsm_root: root, destination: data_dir.join("backups").join("daily"), ..Default::default() };
    cfg.mongodb.uri = uri.clone();
    cfg.save(config_path)?;
    Ok(Some(DemoServer { uri }))
}

fn start_server(bin: &Path, storage: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<String, String>>();
    let bin = bin.to_path_buf();
    let storage = storage.to_path_buf();
    std::thread::spawn(move || {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(bin);
        cmd.args(["--port", "0", "--log-file-max", "16MB", "--cache-size", "512M", "--storage-path"])
            .arg(&storage)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: prctl in the child before exec; no allocation.
        unsafe {
            cmd.pre_exec(|| {
                libc_prctl_pdeathsig();
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(format!("cannot start the demo server: {e}")));
                return;
            }
        };
        if let Some(out) = child.stdout.take() {
            let mut reader = BufReader::new(out);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(i) = line.find("listening on ") {
                    let addr: String = line[i + 13..].chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = tx.send(Ok(format!("mongodb://{addr}/?directConnection=true")));
                    break;
                }
                line.clear();
            }
            // Keep draining its output so it never blocks on a full pipe.
            std::thread::spawn(move || for _ in reader.lines() {});
        }
        let _ = child.wait();
    });
    let uri = rx.recv_timeout(Duration::from_secs(30))??;
    Ok(uri)
}

/// PR_SET_PDEATHSIG(SIGKILL), without a libc dependency of our own.
fn libc_prctl_pdeathsig() {
    extern "C" {
        fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    }
    const PR_SET_PDEATHSIG: i32 = 1;
    const SIGKILL: u64 = 9;
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a process attribute.
    unsafe {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    }
}
