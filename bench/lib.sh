# Shared set-up of the MongoDB benchmarks (sourced, not run): a SecantusDB server of the
# benchmark's own in a scratch folder, stopped and removed on exit, and a config backing up
# its `hrms_bench` database into that folder. Sets WORK, SERVER, URI, BACKUP_ENCRYPTION_KEY
# and writes $WORK/bench.toml. $1: the scratch folder's name prefix.
# The server is SecantusDB built with its own release profile (scripts/setup.sh's
# ensure_secantus_optimised, built on first use); HRSM_BENCH_SECANTUSD names another build
# (the tests' own, for instance).
source scripts/setup.sh
if [ -n "${HRSM_BENCH_SECANTUSD:-}" ]; then SECANTUSD=$HRSM_BENCH_SECANTUSD; else ensure_secantus_optimised; SECANTUSD=$HRSM_SECANTUSD_OPTIMISED; fi
[ -x "$SECANTUSD" ] || { echo "no SecantusDB server at $SECANTUSD" >&2; exit 1; }
WORK=$(mktemp -d "/tmp/${1:-hrsm-bench}.XXXXXX")
"$SECANTUSD" --port 0 --storage-path "$WORK/data" --log-file-max 16MB --cache-size 2G >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; sleep 2; kill -9 $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$WORK/server.log" && break; sleep 0.1; done
URI="mongodb://$(grep -o 'listening on [0-9.:]*' "$WORK/server.log" | cut -d' ' -f3)/?directConnection=true"
BACKUP_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BACKUP_ENCRYPTION_KEY
cat > "$WORK/bench.toml" <<TOML
destination = "$WORK/backups"
verify_after_backup = false
sources = []
[mongodb]
uri = "$URI"
databases = ["hrms_bench"]
log_collection = ""
TOML
