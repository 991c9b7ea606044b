//! The demo: sample HR-SM data to try the whole cycle on, chosen explicitly ("Try with sample
//! data" on the first-run screen, or `--demo`, which the README's run command passes). It
//! starts a local SecantusDB (a MongoDB-wire server, run as a separate process) seeded with
//! sample HR-SM databases and a sample installation folder. Everything of the demo lives under
//! `<data>/demo/`, its settings included (`<data>/demo/hrsm-backup.toml`): the demo never
//! reads or writes the admin's own settings file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hrsm_backup::Config;

/// The running demo server; it dies when this is dropped (leaving the demo) or with the app
/// (PDEATHSIG from a thread that lives as long).
pub struct DemoServer {
    pub uri: String,
    pid: u32,
}

impl Drop for DemoServer {
    #[cfg(unix)]
    fn drop(&mut self) {
        extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        // SAFETY: kill only sends a signal; the pid is our own child's (PDEATHSIG keeps it
        // from outliving us, so it was not reused while we hold this).
        unsafe {
            kill(self.pid as i32, 9);
        }
    }

    #[cfg(not(unix))]
    fn drop(&mut self) {
        let _ = Command::new("taskkill").args(["/F", "/PID", &self.pid.to_string()]).status();
    }
}

/// The demo's folder inside the app's data folder.
pub fn folder(data_dir: &Path) -> PathBuf {
    data_dir.join("demo")
}

/// The demo's own settings file.
pub fn config_path(data_dir: &Path) -> PathBuf {
    folder(data_dir).join("hrsm-backup.toml")
}

fn secantus_binary() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("HRSM_SECANTUSD") {
        candidates.push(PathBuf::from(p));
    }
    let name = if cfg!(windows) { "secantusd-rs.exe" } else { "secantusd-rs" };
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/hrsm-tools/bin").join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Starts and seeds the demo; returns its server and its settings (also saved in its folder).
pub fn start(data_dir: &Path) -> Result<(DemoServer, Config), String> {
    let bin = secantus_binary()
        .ok_or("The sample data needs the demo database server, which is not installed on this computer.")?;
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("The sample data could not be prepared ({what}: {e}).");
    let demo_dir = folder(data_dir);
    std::fs::create_dir_all(&demo_dir).map_err(|e| fail("folder", &e))?;
    let server = start_server(&bin, &demo_dir.join("db")).map_err(|e| fail("database server", &e))?;
    let root = demo_dir.join("hr-sm");
    if !root.exists() {
        hrsm_backup::seed_sample_installation(&root).map_err(|e| fail("sample installation", &e))?;
    }
    // The sample site's own files name this start's server (backups read them).
    hrsm_backup::point_sample_installation_at(&root, &server.uri).map_err(|e| fail("sample installation", &e))?;
    hrsm_backup::seed_sample_databases(&server.uri).map_err(|e| fail("sample databases", &e))?;
    let path = config_path(data_dir);
    // The demo's own settings: kept (the admin may try the settings page on them), with this
    // start's server.
    let mut cfg = Config::load(&path).unwrap_or_else(|_| Config {
        hrsm_root: root.clone(),
        destination: demo_dir.join("backups"),
        ..Default::default()
    });
    cfg.hrsm_root = root;
    cfg.mongodb.uri = server.uri.clone();
    cfg.save(&path).map_err(|e| fail("settings", &e))?;
    Ok((server, cfg))
}

/// A settings file written over the admin's by an earlier version (which kept the demo's
/// settings in the app's own file): recognised by its installation folder inside the demo's
/// folder, and moved aside so it is never taken for the admin's.
pub fn retire_old_demo_config(config_path: &Path, data_dir: &Path) -> bool {
    let Ok(cfg) = Config::load(config_path) else { return false };
    if !cfg.hrsm_root.starts_with(folder(data_dir)) {
        return false;
    }
    std::fs::rename(config_path, config_path.with_extension("toml.old-demo")).is_ok()
}

fn start_server(bin: &Path, storage: &Path) -> Result<DemoServer, Box<dyn std::error::Error>> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<(String, u32), String>>();
    let bin = bin.to_path_buf();
    let storage = storage.to_path_buf();
    std::thread::spawn(move || {
        let mut cmd = Command::new(bin);
        cmd.args(["--port", "0", "--log-file-max", "16MB", "--cache-size", "512M", "--storage-path"])
            .arg(&storage)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: prctl in the child before exec; no allocation. (Elsewhere the server ends
        // when the demo is left; an app killed outright leaves it running until next start.)
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
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
        let pid = child.id();
        if let Some(out) = child.stdout.take() {
            let mut reader = BufReader::new(out);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(i) = line.find("listening on ") {
                    let addr: String = line[i + 13..].chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = tx.send(Ok((format!("mongodb://{addr}/?directConnection=true"), pid)));
                    break;
                }
                line.clear();
            }
            // Keep draining its output so it never blocks on a full pipe.
            std::thread::spawn(move || for _ in reader.lines() {});
        }
        let _ = child.wait();
    });
    let (uri, pid) = rx.recv_timeout(Duration::from_secs(30))??;
    Ok(DemoServer { uri, pid })
}

/// PR_SET_PDEATHSIG(SIGKILL), without a libc dependency of our own.
#[cfg(target_os = "linux")]
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
