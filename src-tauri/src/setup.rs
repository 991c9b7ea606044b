//! The first-run commands: try the app on sample data (and leave it), test the MongoDB
//! connection, and the lists the settings form chooses from. Engine calls only; the demo's
//! server is `demo`'s, the mode switch `AppState`'s.

use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};

use crate::commands::{blocking, mongo_uri, CmdResult, CommandError};
use crate::state::{AppState, StatusDto};

/// "Try with sample data": starts the demo (seconds) and switches the app to it.
#[tauri::command]
pub async fn start_demo<R: Runtime>(app: AppHandle<R>) -> CmdResult<StatusDto> {
    blocking(move || {
        let state = app.state::<AppState>();
        state.enter_demo().map_err(|m| CommandError::new("demo", m))?;
        crate::tray::refresh(&app);
        Ok(state.status())
    })
    .await
}

/// "Leave the sample data": back to the admin's own settings, or to the first-run setup.
#[tauri::command]
pub async fn leave_demo<R: Runtime>(app: AppHandle<R>) -> CmdResult<StatusDto> {
    blocking(move || {
        let state = app.state::<AppState>();
        if state.is_running() {
            return Err(CommandError::new("busy", "A backup or restore is running; wait for it to finish first."));
        }
        state.leave_demo().map_err(|m| CommandError::new("config", m))?;
        crate::tray::refresh(&app);
        Ok(state.status())
    })
    .await
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCheck {
    /// The server and its version, in words.
    pub server: String,
    /// The databases the user may see (none when it may not list them).
    pub databases: Vec<String>,
}

/// Connects to the configured MongoDB (with the keychain's password) and says what answers,
/// within a few seconds.
#[tauri::command]
pub async fn test_connection<R: Runtime>(app: AppHandle<R>) -> CmdResult<ConnectionCheck> {
    blocking(move || {
        let state = app.state::<AppState>();
        let uri = mongo_uri(&state);
        use hrsm_backup::mongo::client;
        let c = client::connect_within(&uri, Duration::from_secs(2))
            .map_err(|e| CommandError::new("mongo", e.to_string()))?;
        let info = client::server_info(&c, &uri)?;
        let databases = c.list_database_names().run().unwrap_or_default();
        Ok(ConnectionCheck {
            server: format!(
                "MongoDB {} at {}{}",
                info.version,
                client::hosts(&uri),
                info.replica_set.map(|r| format!(" (replica set {r})")).unwrap_or_default()
            ),
            databases,
        })
    })
    .await
}

/// The time zones a schedule accepts.
#[tauri::command]
pub fn time_zones() -> Vec<&'static str> {
    hrsm_backup::Schedule::zone_names()
}
