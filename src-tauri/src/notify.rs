//! Desktop notifications (notify-rust over D-Bus): failures are critical and say what to do.
//! A missing notification server is logged, never fatal.

pub fn send(summary: &str, body: &str, critical: bool) {
    let mut n = notify_rust::Notification::new();
    n.appname("HR-SM Backup").summary(summary).body(body);
    #[cfg(all(unix, not(target_os = "macos")))]
    n.urgency(if critical { notify_rust::Urgency::Critical } else { notify_rust::Urgency::Normal });
    if let Err(e) = n.show() {
        eprintln!("hrsm-backup-desktop: could not show a notification ({e}): {summary}: {body}");
    }
}
