//! `hrsm-backup schedule-task`: the daily backup registered with the Windows Task Scheduler,
//! so that it runs when nobody is logged in (the desktop app's own schedule runs only while
//! its user is). The task starts `hrsm-backup backup --if-due` every hour; whether a run is due
//! (the schedule's time in its own zone, daylight saving, a slot missed while the machine was
//! off, at most 3 tries a slot) is decided by the engine from the backup folder's history,
//! the same decision the app makes, so the two never back up one slot twice. The key comes
//! from the user's Credential Manager, as for any run of the CLI: never from the task.
//!
//! Writing the task's XML is plain text; registering it is `schtasks.exe /Create /XML`, which
//! asks for the Windows password itself when the task is to run logged off (a password never
//! passes through this program or a command line).
//!
//! Depends on the engine's `Error` only.

use std::path::{Path, PathBuf};

use hrsm_backup::{Error, Result};

use crate::Cli;

/// The task's name in the Task Scheduler's library.
pub const TASK_NAME: &str = "HR-SM Backup";

#[derive(clap::Subcommand, Debug)]
pub enum TaskCommand {
    /// Print the task as the Task Scheduler's XML (on any system).
    Print {
        /// Run only while the user is logged on (no password needed).
        #[arg(long)]
        only_when_logged_on: bool,
    },
    /// Register the task (Windows). By default it runs whether or not the user is logged
    /// on, and the Task Scheduler asks for the user's Windows password once.
    Install {
        /// Run only while the user is logged on (no password needed).
        #[arg(long)]
        only_when_logged_on: bool,
    },
    /// Remove the task (Windows).
    Remove,
}

pub fn run(cli: &Cli, cmd: &TaskCommand) -> Result<()> {
    match cmd {
        TaskCommand::Print { only_when_logged_on } => {
            print!("{}", task_xml(&Task::of(cli, !only_when_logged_on)?, "UTF-8"));
            Ok(())
        }
        TaskCommand::Install { only_when_logged_on } => install(cli, !only_when_logged_on),
        TaskCommand::Remove => {
            let removed = schtasks(&["/Delete", "/TN", TASK_NAME, "/F"], "remove the task");
            // Gone or never there: the note of its program goes either way.
            note_task_command(None);
            removed
        }
    }
}

/// What the task runs and as whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub exe: PathBuf,
    /// The config file, absolute, when one is in use.
    pub config: Option<PathBuf>,
    /// The key file given with `--key-file` (absolute), when the key is not in the Credential
    /// Manager.
    pub key_file: Option<PathBuf>,
    pub workdir: PathBuf,
    /// `DOMAIN\user`.
    pub user: String,
    /// Run whether or not the user is logged on (a stored password), else only while logged on.
    pub logged_off: bool,
}

impl Task {
    fn of(cli: &Cli, logged_off: bool) -> Result<Self> {
        let exe = std::env::current_exe().map_err(|e| Error::io("find", "this program", e))?;
        let workdir = std::env::current_dir().map_err(|e| Error::io("find", "the current folder", e))?;
        let config = cli
            .config
            .clone()
            .or_else(|| std::env::var_os("HRSM_BACKUP_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from))
            .or_else(|| Path::new("hrsm-backup.toml").exists().then(|| PathBuf::from("hrsm-backup.toml")))
            .map(|p| if p.is_absolute() { p } else { workdir.join(p) });
        let key_file = cli
            .key_file
            .clone()
            .or_else(|| std::env::var_os("HRSM_BACKUP_KEY_FILE").filter(|v| !v.is_empty()).map(PathBuf::from))
            .map(|p| if p.is_absolute() { p } else { workdir.join(p) });
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        let user = match (var("USERDOMAIN"), var("USERNAME")) {
            (d, u) if !d.is_empty() && !u.is_empty() => format!("{d}\\{u}"),
            (_, u) if !u.is_empty() => u,
            _ => var("USER"),
        };
        Ok(Task { exe, config, key_file, workdir, user, logged_off })
    }

    /// The arguments the task passes: the config in use, then `backup --if-due`.
    pub fn arguments(&self) -> String {
        let mut a = String::new();
        if let Some(c) = &self.config {
            a.push_str(&format!("--config \"{}\" ", c.display()));
        }
        if let Some(k) = &self.key_file {
            a.push_str(&format!("--key-file \"{}\" ", k.display()));
        }
        a.push_str("backup --if-due");
        a
    }
}

/// XML text content: `&`, `<`, `>` and quotes escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The Task Scheduler's task (schema 1.2, Windows 7 and later): every hour from midnight,
/// started late when the machine was off at the hour, never two at once, not stopped on
/// battery, stopped after 12 hours.
/// `encoding` is what the text will be written as: "UTF-16" for schtasks, "UTF-8" on screen.
pub fn task_xml(t: &Task, encoding: &str) -> String {
    let logon = if t.logged_off { "Password" } else { "InteractiveToken" };
    format!(
        r#"<?xml version="1.0" encoding="{encoding}"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>HR-SM Backup: the daily restore point of HR-SM (runs every hour; backs up only when the daily schedule says a run is due).</Description>
    <URI>\{name}</URI>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T00:00:00</StartBoundary>
      <Repetition>
        <Interval>PT1H</Interval>
        <Duration>P1D</Duration>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{user}</UserId>
      <LogonType>{logon}</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{exe}</Command>
      <Arguments>{args}</Arguments>
      <WorkingDirectory>{dir}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"#,
        name = esc(TASK_NAME),
        user = esc(&t.user),
        exe = esc(&t.exe.display().to_string()),
        args = esc(&t.arguments()),
        dir = esc(&t.workdir.display().to_string()),
    )
}

fn install(cli: &Cli, logged_off: bool) -> Result<()> {
    if !cfg!(windows) {
        // Says what to use instead.
        return schtasks(&[], "register the task");
    }
    // What the task will need, checked now rather than failing every hour: the config reads
    // and the key is there (the Credential Manager's, or the key file).
    crate::commands::load_config(cli)?;
    crate::commands::load_key(cli)?;
    let task = Task::of(cli, logged_off)?;
    // schtasks reads the XML as UTF-16 (with its byte order mark), as the Task Scheduler
    // itself writes it.
    // Closed before schtasks reads it (an open handle keeps other programs out on Windows);
    // removed when this function ends.
    let file = tempfile::Builder::new()
        .prefix("hrsm-backup-task")
        .suffix(".xml")
        .tempfile()
        .map_err(|e| Error::io("write", "a temporary file", e))?
        .into_temp_path();
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(task_xml(&task, "UTF-16").encode_utf16().flat_map(|u| u.to_le_bytes()));
    std::fs::write(&file, bytes).map_err(|e| Error::io("write", &file, e))?;
    let xml = file.display().to_string();
    let mut args = vec!["/Create", "/F", "/TN", TASK_NAME, "/XML", xml.as_str()];
    if logged_off {
        // `/RP` without a value: schtasks asks for the password on the console.
        args.extend(["/RU", task.user.as_str(), "/RP"]);
    }
    schtasks(&args, "register the task")?;
    note_task_command(Some(&task.exe));
    println!(
        "registered \"{TASK_NAME}\": every hour, `{} {}` backs up when the daily schedule says a run is due{}",
        task.exe.display(),
        task.arguments(),
        if logged_off { ", whether or not you are logged on" } else { ", while you are logged on" }
    );
    Ok(())
}

/// Where the registered task's program is, kept under the user's registry key of the desktop
/// app (tauri.conf.json's identifier): the app's uninstaller removes the task only when it runs
/// the program it installed, never one of a copy of the CLI elsewhere. (Windows' own record of
/// the task cannot be read back by an installer: `schtasks /Query /XML` prints it to a console.)
#[cfg(windows)]
fn note_task_command(exe: Option<&std::path::Path>) {
    const KEY: &str = r"HKCU\Software\com.hrsm.backup";
    let mut reg = std::process::Command::new("reg.exe");
    match exe {
        Some(exe) => reg.args(["add", KEY, "/v", "TaskCommand", "/t", "REG_SZ", "/d"]).arg(exe).arg("/f"),
        None => reg.args(["delete", KEY, "/v", "TaskCommand", "/f"]),
    };
    let done = reg.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
    if exe.is_some() && !done.is_ok_and(|s| s.success()) {
        eprintln!("warning: could not note the task's program for the app's uninstaller (reg.exe failed)");
    }
}

#[cfg(not(windows))]
fn note_task_command(_exe: Option<&std::path::Path>) {}

#[cfg(windows)]
fn schtasks(args: &[&str], what: &str) -> Result<()> {
    let status = std::process::Command::new("schtasks.exe")
        .args(args)
        .status()
        .map_err(|e| Error::io("start", "schtasks.exe", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "schtasks.exe could not {what} (exit {}); see its message above",
            status.code().unwrap_or(-1)
        )))
    }
}

#[cfg(not(windows))]
fn schtasks(_args: &[&str], _what: &str) -> Result<()> {
    Err(Error::Usage(
        "the Task Scheduler is Windows': on Linux and macOS, start `hrsm-backup --config FILE backup --if-due` every \
         hour from cron (`0 * * * *`) or a systemd timer; `schedule-task print` shows the Windows task"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_runs_the_cli_every_hour_with_escaped_paths() {
        let t = Task {
            exe: PathBuf::from(r"C:\Program Files\HR-SM Backup\hrsm-backup.exe"),
            config: Some(PathBuf::from(r"C:\HR & Co\hrsm-backup.toml")),
            key_file: None,
            workdir: PathBuf::from(r"C:\HR & Co"),
            user: r"ACME\amal".into(),
            logged_off: true,
        };
        let x = task_xml(&t, "UTF-16");
        assert!(x.contains(r"<Command>C:\Program Files\HR-SM Backup\hrsm-backup.exe</Command>"), "{x}");
        assert!(
            x.contains(r"<Arguments>--config &quot;C:\HR &amp; Co\hrsm-backup.toml&quot; backup --if-due</Arguments>"),
            "{x}"
        );
        assert!(x.contains("<Interval>PT1H</Interval>") && x.contains("<StartWhenAvailable>true</StartWhenAvailable>"));
        assert!(x.contains(r"<UserId>ACME\amal</UserId>") && x.contains("<LogonType>Password</LogonType>"));
        assert!(x.contains("<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>"));
        let on = task_xml(&Task { logged_off: false, config: None, key_file: None, ..t }, "UTF-8");
        assert!(on.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#));
        assert!(on.contains("<LogonType>InteractiveToken</LogonType>"));
        assert!(on.contains("<Arguments>backup --if-due</Arguments>"));
    }
}
