//! The MongoDB Database Tools path: find `mongodump`/`mongorestore`, build their arguments,
//! hand them secrets through a private `--config` YAML file (never the command line), run them
//! with an inactivity timeout and a clean kill, and read their stderr: progress, `Failed:`
//! lines and mongorestore's summary (which can report failures with exit status 0).
//!
//! Kept thin on purpose: everything here is tested against real captured output in
//! tests/fixtures/mongotools-output/. Depends on `fsutil` and `error`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Finds a tool in `dir` (the configured tools path) or on PATH (`mongodump.exe` on Windows).
pub fn find_tool(name: &str, dir: Option<&Path>) -> Option<PathBuf> {
    let name = if cfg!(windows) { format!("{name}.exe") } else { name.to_string() };
    let name = name.as_str();
    let candidates: Vec<PathBuf> = match dir {
        Some(d) => vec![d.join(name)],
        None => std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
            .unwrap_or_default(),
    };
    candidates.into_iter().find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// A `--config` file holding the URI (which may carry a password). Mode 0600, removed on drop.
pub struct ToolConfig {
    path: PathBuf,
}

impl ToolConfig {
    pub fn create(dir: &Path, uri: &str) -> Result<Self> {
        let path = dir.join(format!(".mongotools-{}.yaml", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut f = crate::fsutil::create_private_file(&path)?;
        f.write_all(format!("uri: {}\n", yaml_quote(uri)).as_bytes()).map_err(|e| Error::io("write", &path, e))?;
        Ok(ToolConfig { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ToolConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A YAML double-quoted scalar.
fn yaml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `mongodump` arguments for one database into `out` (the layout of `--out`). The URI comes
/// from the config file; no `--quiet` (it hides `Failed:` lines).
pub fn dump_args(config: &Path, db: &str, out: &Path) -> Vec<String> {
    vec![format!("--config={}", config.display()), format!("--db={db}"), format!("--out={}", out.display())]
}

/// `mongorestore` arguments restoring database `from` of the dump folder `dir` into `to`.
/// Values are joined with `=` (the tools' optional-value flags misparse a separate value).
pub fn restore_args(config: &Path, dir: &Path, from: &str, to: &str, drop: bool) -> Vec<String> {
    let mut a = vec![format!("--config={}", config.display()), format!("--nsInclude={from}.*")];
    if from != to {
        a.push(format!("--nsFrom={from}.*"));
        a.push(format!("--nsTo={to}.*"));
    }
    if drop {
        a.push("--drop".into());
    }
    a.push(format!("--dir={}", dir.display()));
    a
}

/// One line of a tool's stderr.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolLine {
    /// `done dumping hrms.users (300000 documents)`
    DoneDumping {
        ns: String,
        documents: u64,
    },
    /// `finished restoring hrms_copy.users (300000 documents, 0 failures)`
    FinishedRestoring {
        ns: String,
        documents: u64,
        failures: u64,
    },
    /// `301000 document(s) restored successfully. 0 document(s) failed to restore.`
    RestoreSummary {
        restored: u64,
        failed: u64,
    },
    /// `Failed: ...`
    Failed(String),
    /// `continuing through error: E11000 ...`
    ContinuingThroughError(String),
    /// `[####....]  db.coll  1234/5678  (21.7%)` or `db.coll  14.0MB`
    Progress(String),
    Other(String),
}

/// Parses one stderr line (`<timestamp>\t<message>`).
pub fn parse_line(line: &str) -> ToolLine {
    let msg = line.split_once('\t').map(|(_, m)| m).unwrap_or(line).trim_end();
    if let Some(rest) = msg.strip_prefix("Failed: ") {
        return ToolLine::Failed(rest.to_string());
    }
    if let Some(rest) = msg.strip_prefix("continuing through error: ") {
        return ToolLine::ContinuingThroughError(rest.to_string());
    }
    if let Some(rest) = msg.strip_prefix("done dumping ") {
        if let Some((ns, tail)) = rest.split_once(" (") {
            if let Some(n) = tail.strip_suffix(" documents)").or_else(|| tail.strip_suffix(" document)")) {
                if let Ok(documents) = n.parse() {
                    return ToolLine::DoneDumping { ns: ns.to_string(), documents };
                }
            }
        }
    }
    if let Some(rest) = msg.strip_prefix("finished restoring ") {
        if let Some((ns, tail)) = rest.split_once(" (") {
            let nums: Vec<u64> = tail.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
            if let [documents, failures] = nums[..] {
                return ToolLine::FinishedRestoring { ns: ns.to_string(), documents, failures };
            }
        }
    }
    if msg.ends_with("document(s) failed to restore.") {
        let nums: Vec<u64> = msg.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
        if let [restored, failed] = nums[..] {
            return ToolLine::RestoreSummary { restored, failed };
        }
    }
    if msg.starts_with('[')
        || msg.ends_with("MB")
        || msg.ends_with("KB")
        || msg.ends_with("GB")
        || msg.ends_with('B') && msg.contains('.')
    {
        return ToolLine::Progress(msg.to_string());
    }
    ToolLine::Other(msg.to_string())
}

/// A line of mongodump's stderr as a progress detail for the admin, if it is one: the
/// collection it is on and how far (`hrms.users: 1234 of 5678 documents (21.7%)`), or one
/// finished (`hrms.users: 300000 documents, done`).
pub fn dump_detail(line: &str) -> Option<String> {
    match parse_line(line) {
        ToolLine::DoneDumping { ns, documents } => Some(format!("{ns}: {documents} documents, done")),
        ToolLine::Progress(msg) => {
            // `[####....]  db.coll  1234/5678  (21.7%)`: the bar dropped, the rest in words.
            let rest = msg.rsplit_once(']').map(|(_, r)| r).unwrap_or(&msg);
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words[..] {
                [ns, counts, pct] => {
                    let (done, total) = counts.split_once('/')?;
                    Some(format!("{ns}: {done} of {total} documents {pct}"))
                }
                [ns, amount] => Some(format!("{ns}: {amount}")),
                _ => None,
            }
        }
        ToolLine::Other(msg) => {
            let ns = msg.strip_prefix("writing ")?.split_once(" to ")?.0;
            Some(format!("{ns}: exporting"))
        }
        _ => None,
    }
}

/// What a tool run produced.
#[derive(Debug, Default, Clone)]
pub struct ToolOutcome {
    pub exit_code: Option<i32>,
    pub failed: Vec<String>,
    pub dumped: Vec<(String, u64)>,
    pub summary: Option<(u64, u64)>,
    pub last_lines: Vec<String>,
}

impl ToolOutcome {
    /// Folds the parsed lines of a finished run.
    pub fn from_lines<'a>(exit_code: Option<i32>, lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut o = ToolOutcome { exit_code, ..Default::default() };
        for line in lines {
            match parse_line(line) {
                ToolLine::Failed(m) => o.failed.push(m),
                ToolLine::DoneDumping { ns, documents } => o.dumped.push((ns, documents)),
                ToolLine::RestoreSummary { restored, failed } => o.summary = Some((restored, failed)),
                _ => {}
            }
            o.last_lines.push(line.to_string());
            if o.last_lines.len() > 20 {
                o.last_lines.remove(0);
            }
        }
        o
    }

    /// A run succeeded only if it exited 0, printed no `Failed:` line, and (for a restore) its
    /// summary counts no failed document: mongorestore exits 0 even then.
    pub fn check(&self, tool: &str) -> Result<()> {
        if let Some(m) = self.failed.first() {
            return Err(Error::Tool { tool: tool.into(), message: m.clone() });
        }
        if let Some((_, failed)) = self.summary {
            if failed > 0 {
                return Err(Error::Tool {
                    tool: tool.into(),
                    message: format!(
                        "{failed} document(s) failed to restore (it exited {:?} but that is a failure)",
                        self.exit_code.unwrap_or(0)
                    ),
                });
            }
        }
        match self.exit_code {
            Some(0) => Ok(()),
            code => Err(Error::Tool {
                tool: tool.into(),
                message: format!(
                    "exited with {}; last output: {}",
                    code.map(|c| c.to_string()).unwrap_or_else(|| "a signal".into()),
                    self.last_lines.join(" | ")
                ),
            }),
        }
    }
}

/// Runs a tool, feeding each stderr line to `on_line`. If it prints nothing for `idle`
/// (mongodump hangs silently on an unreachable server), it gets SIGTERM, then SIGKILL.
pub fn run_tool(program: &Path, args: &[String], idle: Duration, mut on_line: impl FnMut(&str)) -> Result<ToolOutcome> {
    let mut cmd = Command::new(program);
    // Its own process group, so a stop reaches anything it started too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    #[cfg(windows)]
    std::os::windows::process::CommandExt::creation_flags(&mut cmd, 0x0000_0200); // CREATE_NEW_PROCESS_GROUP
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("start", program, e))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| Error::Tool { tool: program.display().to_string(), message: "no stderr".into() })?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(idle) {
            Ok(line) => {
                on_line(&line);
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                stop(&mut child);
                break;
            }
        }
    }
    let status = child.wait().map_err(|e| Error::io("wait for", program, e))?;
    let _ = reader.join();
    if timed_out {
        return Err(Error::Tool {
            tool: program.display().to_string(),
            message: format!(
                "printed nothing for {} s and was stopped; is the MongoDB server reachable?",
                idle.as_secs()
            ),
        });
    }
    Ok(ToolOutcome::from_lines(status.code(), lines.iter().map(String::as_str)))
}

/// SIGTERM to the tool's process group, a few seconds' grace, then SIGKILL (rustix).
#[cfg(unix)]
fn stop(child: &mut Child) {
    let group = rustix::process::Pid::from_raw(child.id() as i32);
    let signal = |sig| {
        if let Some(g) = group {
            let _ = rustix::process::kill_process_group(g, sig);
        }
    };
    signal(rustix::process::Signal::TERM);
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(rustix::process::Signal::KILL);
    let _ = child.kill();
}

/// The tool and what it started: `taskkill /T` ends the tree (Windows has no signals to ask
/// first); then the tool itself, should taskkill be missing.
#[cfg(not(unix))]
fn stop(child: &mut Child) {
    let _ = Command::new("taskkill")
        .args(["/T", "/F", "/PID", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongodump_lines_become_progress_details() {
        let real = include_str!("../../tests/fixtures/mongotools-output/mongodump-db-out.stderr.txt");
        let details: Vec<String> = real.lines().filter_map(dump_detail).collect();
        assert_eq!(
            details,
            [
                "hrms.users: exporting",
                "hrms.auditlogs: exporting",
                "hrms.auditlogs: 1000 documents, done",
                "hrms.users: 300000 documents, done"
            ]
        );
        // The bar mongodump draws on a long export (mongo-tools' progress.Bar).
        assert_eq!(
            dump_detail("2026-11-27T03:14:50.011+0000\t[##......................]  hrms.users  30102/300000  (10.0%)")
                .as_deref(),
            Some("hrms.users: 30102 of 300000 documents (10.0%)")
        );
        assert_eq!(dump_detail("2026-11-27T03:14:50.011+0000\tFailed: boom"), None);
    }

    fn fixture(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mongotools-output").join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn dump_output_gives_counts_and_success() {
        let text = fixture("mongodump-db-out.stderr.txt");
        let o = ToolOutcome::from_lines(Some(0), text.lines().filter(|l| l.contains('\t')));
        assert_eq!(o.dumped, vec![("hrms.auditlogs".to_string(), 1000), ("hrms.users".to_string(), 300000)]);
        o.check("mongodump").unwrap();
    }

    #[test]
    fn restore_success_reads_the_summary() {
        let text = fixture("mongorestore-archive-ok.stderr.txt");
        let o = ToolOutcome::from_lines(Some(0), text.lines());
        assert_eq!(o.summary, Some((301000, 0)));
        o.check("mongorestore").unwrap();
        assert!(text.lines().any(|l| parse_line(l)
            == ToolLine::FinishedRestoring { ns: "hrms_copy.users".into(), documents: 300000, failures: 0 }));
        assert!(text.lines().any(|l| parse_line(l) == ToolLine::Progress("hrms_copy.users  14.0MB".into())));
    }

    #[test]
    fn duplicate_key_failures_fail_even_with_exit_status_0() {
        let text = fixture("mongorestore-duplicates-exit0.stderr.txt");
        let o = ToolOutcome::from_lines(Some(0), text.lines().filter(|l| l.contains('\t')));
        assert_eq!(o.summary, Some((0, 301000)));
        let msg = o.check("mongorestore").unwrap_err().to_string();
        assert_eq!(
            msg,
            "mongorestore failed: 301000 document(s) failed to restore (it exited 0 but that is a failure)"
        );
    }

    #[test]
    fn failed_lines_are_the_error() {
        let text = fixture("mongorestore-bad-archive.stderr.txt");
        let o = ToolOutcome::from_lines(Some(1), text.lines().filter(|l| l.contains('\t')));
        let msg = o.check("mongorestore").unwrap_err().to_string();
        assert!(msg.starts_with("mongorestore failed: restore error: error parsing metadata from archive"), "{msg}");
    }

    #[test]
    fn arguments_keep_secrets_off_the_command_line() {
        let uri = "mongodb://backup:p%40ss\"word@db1:27017/?authSource=admin";
        let dir = tempfile::tempdir().unwrap();
        let cfg = ToolConfig::create(dir.path(), uri).unwrap();
        let args = dump_args(cfg.path(), "hrsm-licenses", Path::new("/spool"));
        assert_eq!(args[1..], ["--db=hrsm-licenses".to_string(), "--out=/spool".to_string()]);
        assert!(args.iter().all(|a| !a.contains("word")));
        let text = std::fs::read_to_string(cfg.path()).unwrap();
        assert_eq!(text, "uri: \"mongodb://backup:p%40ss\\\"word@db1:27017/?authSource=admin\"\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(cfg.path()).unwrap().permissions().mode() & 0o777, 0o600);
        let p = cfg.path().to_path_buf();
        drop(cfg);
        assert!(!p.exists(), "the config file is removed afterwards");
        let r = restore_args(Path::new("/c.yaml"), Path::new("/d"), "hrms", "hrms_copy", true);
        assert_eq!(
            r,
            ["--config=/c.yaml", "--nsInclude=hrms.*", "--nsFrom=hrms.*", "--nsTo=hrms_copy.*", "--drop", "--dir=/d"]
        );
    }

    #[test]
    fn a_silent_tool_is_stopped() {
        let o = run_tool(Path::new("/bin/sh"), &["-c".into(), "sleep 30".into()], Duration::from_millis(300), |_| {});
        let msg = o.unwrap_err().to_string();
        assert!(msg.contains("printed nothing for 0 s and was stopped"), "{msg}");
    }
}
