//! How the CLI shows things: an indicatif progress bar on a terminal, one-line errors prefixed
//! with the program name, and JSON for scripts.

use std::io::IsTerminal;

use hrsm_backup::{Error, Event, Progress};
use indicatif::{ProgressBar, ProgressStyle};

/// Progress on stderr when it is a terminal; silent otherwise (scripts, CI, --json).
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(json: bool) -> Self {
        if json || !std::io::stderr().is_terminal() {
            return Bar { bar: None };
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Bar { bar: Some(bar) }
    }

    pub fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn event(&self, event: Event) {
        match (&self.bar, event) {
            (_, Event::Warning(w)) => match &self.bar {
                Some(b) => b.println(format!("warning: {w}")),
                None => eprintln!("hrsm-backup: warning: {w}"),
            },
            (Some(b), Event::Phase(p)) => {
                b.set_prefix(p);
                b.set_message("");
                b.set_position(0);
                b.set_length(0);
            }
            (Some(b), Event::Total(n)) => b.set_length(n),
            (Some(b), Event::Advance(n)) => b.inc(n),
            (Some(b), Event::Detail(d)) => b.set_message(d),
            (None, _) => {}
        }
    }
}

/// Set when a command already printed its full answer (with `"ok": false`) on stdout: the
/// error that follows then sets the exit code and writes to stderr only, so that stdout holds
/// one JSON document.
static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn mark_reported() {
    REPORTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub fn report_error(e: &Error, json: bool) {
    if REPORTED.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("hrsm-backup: error: {e}");
        return;
    }
    // The engine's words fit any front end; the CLI adds its own flag where one helps.
    let hint = match e {
        Error::RestoreConflict { replaceable: true, .. } => " (pass --overwrite to replace them)",
        _ => "",
    };
    if json {
        println!("{}", serde_json::json!({ "ok": false, "error": format!("{e}{hint}") }));
    } else {
        eprintln!("hrsm-backup: error: {e}{hint}");
    }
}

pub fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// "1.50 MiB": indicatif's binary units, the same the progress bar shows.
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
