//! What the page hears without asking: `state-changed` (the dashboard's status, whenever it
//! differs from the last one sent) and `history-changed` (the catalog folder changed). Sent
//! from wherever the tray is refreshed: job start and end, settings, keys, and the scheduler's
//! look at the clock at least once a minute, so runs started elsewhere (the CLI, the Task
//! Scheduler) show up too. The page keeps no timer of its own.

use std::sync::Mutex;

use tauri::{AppHandle, Emitter, Runtime};

use crate::state::{AppState, StatusDto};

pub const STATE_CHANGED: &str = "state-changed";
pub const HISTORY_CHANGED: &str = "history-changed";

/// What was sent last: the status as JSON and the history folder's stamp.
#[derive(Default)]
pub struct Sent(Mutex<(String, Option<std::time::SystemTime>)>);

pub fn announce<R: Runtime>(app: &AppHandle<R>, state: &AppState, status: &StatusDto) {
    let json = serde_json::to_string(status).unwrap_or_default();
    let stamp = state.history_stamp();
    let (state_new, history_new) = match state.sent.0.lock() {
        Ok(mut last) => {
            let changed = (last.0 != json, last.1 != stamp);
            *last = (json, stamp);
            changed
        }
        Err(_) => (true, true),
    };
    if state_new {
        let _ = app.emit(STATE_CHANGED, status);
    }
    if history_new {
        let _ = app.emit(HISTORY_CHANGED, ());
    }
}
