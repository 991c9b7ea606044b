#!/usr/bin/env bash
# Desktop app figures, release build, demo mode, in a private session (scripts/with-session):
# start to tray ready and to page ready (from the app's own log lines), then idle RSS and CPU
# after IDLE seconds in the tray with the window closed (CPU measured over the following 60 s),
# then RSS with the window opened, 30 s after it was closed again (scripts/close-window.py
# closes it as a window manager's close button does), and AFTER_CLOSE seconds after that, when
# the app has restarted as its tray alone (src-tauri/src/relaunch.rs); WebKit's helper
# processes are counted with the app.
#   bench/desktop-idle.sh [IDLE_SECONDS [AFTER_CLOSE_SECONDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-300}
export IDLE_AFTER_CLOSE=${2:-300}
cargo build -p hrsm-backup-desktop --release --quiet
export HRSM_SECANTUSD=${HRSM_SECANTUSD:-$HOME/.cache/hrsm-tools/bin/secantusd-rs}
cat > /tmp/hrsm-idle-inner.sh <<INNER
#!/usr/bin/env bash
set -euo pipefail
export HRSM_DESKTOP_DATA=\$(mktemp -d)
# When the app restarts as its tray alone, and why it waited if it did, in its log.
export HRSM_LOG=warn,hrsm_backup_desktop::relaunch=info
log=/tmp/hrsm-idle-app.log
# RSS (kB) of the app's own WebKit processes (its children).
webkit() { ps -eo ppid,rss,comm | awk -v p="\$PID" '\$1 == p && /WebKit/ {s += \$2} END {print s + 0}'; }
start=\$(date +%s.%N)
target/release/hrsm-backup-desktop --demo >\$log 2>&1 &
PID=\$!
until grep -q "tray ready" \$log 2>/dev/null; do sleep 0.02; done
tray=\$(date +%s.%N)
until grep -q "page ready" \$log 2>/dev/null; do sleep 0.02; done
page=\$(date +%s.%N)
echo "start to tray ready: \$(echo "\$tray - \$start" | bc) s; to page ready: \$(echo "\$page - \$start" | bc) s"
kill \$PID; wait \$PID 2>/dev/null || true
# Idle in the tray, as after a login start.
target/release/hrsm-backup-desktop --demo --hidden >\$log 2>&1 &
PID=\$!
sleep $IDLE
hz=\$(getconf CLK_TCK)
t1=\$(awk '{print \$14+\$15}' /proc/\$PID/stat)
sleep 60
t2=\$(awk '{print \$14+\$15}' /proc/\$PID/stat)
rss=\$(awk '/^Rss/{print \$2}' /proc/\$PID/smaps_rollup)
anon=\$(awk '/^Anonymous/{print \$2}' /proc/\$PID/smaps_rollup)
web=\$(webkit)
echo "after $IDLE s in the tray: RSS \$((rss / 1024)) MB (private anonymous \$((anon / 1024)) MB), WebKit processes \$((web / 1024)) MB, CPU \$(echo "scale=2; (\$t2 - \$t1) * 100 / \$hz / 60" | bc) % over 60 s"
# The admin opens the window (a second start brings it up) and closes it again. WebKit's
# helpers (web and network processes) are counted with the app.
target/release/hrsm-backup-desktop --demo >/dev/null 2>&1 || true
until grep -q "page ready" \$log 2>/dev/null; do sleep 0.1; done
sleep 5
open_rss=\$(awk '/^Rss/{print \$2}' /proc/\$PID/smaps_rollup)
open_web=\$(webkit)
echo "window open: app \$((open_rss / 1024)) MB + WebKit helpers \$((open_web / 1024)) MB"
/usr/bin/python3 scripts/close-window.py
sleep 30
rss=\$(awk '/^Rss/{print \$2}' /proc/\$PID/smaps_rollup)
web=\$(webkit)
echo "30 s after it was closed: app \$((rss / 1024)) MB + WebKit helpers \$((web / 1024)) MB"
# A minute after the close the app restarts as its tray alone (src-tauri/src/relaunch.rs).
sleep \$((IDLE_AFTER_CLOSE - 30))
grep -h relaunch \$HRSM_DESKTOP_DATA/hrsm-backup-desktop.log | sed 's/^/  /' || true
rss=\$(awk '/^Rss/{print \$2}' /proc/\$PID/smaps_rollup)
anon=\$(awk '/^Anonymous/{print \$2}' /proc/\$PID/smaps_rollup)
web=\$(webkit)
echo "\$IDLE_AFTER_CLOSE s after it was closed (restarted in the same process if the log line above says so): app \$((rss / 1024)) MB (private anonymous \$((anon / 1024)) MB) + WebKit helpers \$((web / 1024)) MB = \$(((rss + web) / 1024)) MB"
kill \$PID
INNER
chmod +x /tmp/hrsm-idle-inner.sh
scripts/with-session /tmp/hrsm-idle-inner.sh 2>/dev/null | grep -v SpiRegistry
