//! Desktop notifications (notify-rust: D-Bus on Linux, toasts on Windows, Notification Center
//! on macOS): failures are critical and say what to do. A missing notification server is
//! logged, never fatal.

pub fn send(summary: &str, body: &str, critical: bool) {
    let mut n = notify_rust::Notification::new();
    n.appname("HR-SM Backup").summary(summary).body(body);
    #[cfg(all(unix, not(target_os = "macos")))]
    n.urgency(if critical { notify_rust::Urgency::Critical } else { notify_rust::Urgency::Normal });
    // Toasts carry no urgency; they need the app id the installer registers (tauri.conf.json's
    // identifier), or Windows shows them as PowerShell's.
    #[cfg(windows)]
    {
        let _ = critical;
        n.app_id(crate::APP_ID);
    }
    #[cfg(target_os = "macos")]
    let _ = critical;
    if let Err(e) = n.show() {
        eprintln!("hrsm-backup-desktop: could not show a notification ({e}): {summary}: {body}");
    }
}
