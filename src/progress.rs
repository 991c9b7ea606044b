//! How the engine reports progress: a trait the front ends implement (the CLI with indicatif,
//! the desktop shell with a Tauri channel, tests with a recorder). Depends on nothing.

/// One progress event. Byte counts are of source data (before compression).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new phase begins: "scanning", "archiving", "verifying", "restoring".
    Phase(&'static str),
    /// The total bytes the current phase will process, once known.
    Total(u64),
    /// `n` more bytes processed in the current phase.
    Advance(u64),
    /// Something the admin should see (a warning).
    Warning(String),
    /// What the phase is on now, in words: `hrms.users: 5000 of about 12000 documents`.
    /// Front ends show the latest one beside the phase; it carries no progress of its own.
    Detail(String),
}

pub trait Progress: Send + Sync {
    fn event(&self, event: Event);

    /// Polled between items and batches; true stops the run with `Error::Cancelled`, keeping
    /// nothing of it.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Ignores every event.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: Event) {}
}
