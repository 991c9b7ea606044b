#!/usr/bin/env bash
# Desktop app figures: time from start until the page shows the status (read from the app's
# own log line), then idle RSS and CPU after 5 minutes (CPU over the following 60 s), for the
# release build in demo mode inside a private session (scripts/with-session).
#   bench/desktop-idle.sh [IDLE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-300}
cargo build -p hrsm-backup-desktop --release --quiet
export HRSM_SECANTUSD=${HRSM_SECANTUSD:-$HOME/.cache/hrsm-tools/bin/secantusd-rs}
cat > /tmp/hrsm-idle-inner.sh <<INNER
#!/usr/bin/env bash
set -euo pipefail
export HRSM_DESKTOP_DATA=\$(mktemp -d)
start=\$(date +%s.%N)
target/release/hrsm-backup-desktop >/tmp/hrsm-idle-app.log 2>&1 &
PID=\$!
until grep -q "page ready" /tmp/hrsm-idle-app.log 2>/dev/null; do sleep 0.05; done
ready=\$(date +%s.%N)
echo "start to page ready: \$(echo "\$ready - \$start" | bc) s"
sleep $IDLE
hz=\$(getconf CLK_TCK)
t1=\$(awk '{print \$14+\$15}' /proc/\$PID/stat)
sleep 60
t2=\$(awk '{print \$14+\$15}' /proc/\$PID/stat)
echo "after $IDLE s idle: RSS \$(( \$(awk '/VmRSS/{print \$2}' /proc/\$PID/status) / 1024 )) MB, CPU \$(echo "scale=2; (\$t2 - \$t1) * 100 / \$hz / 60" | bc) % over 60 s"
kill \$PID
INNER
chmod +x /tmp/hrsm-idle-inner.sh
scripts/with-session /tmp/hrsm-idle-inner.sh 2>/dev/null
