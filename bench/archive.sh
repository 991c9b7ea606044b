#!/usr/bin/env bash
# Archive pipeline benchmark: hrsm-backup vs `tar | gzip -6 | openssl enc -aes-256-cbc -pbkdf2`
# on the same ~1 GB HR-SM-shaped data, side by side, best of N runs each. Prints both times,
# the ratio, both output sizes and our peak RSS; then the restore direction, and `list` over
# 1,000 catalog entries.
#   bench/archive.sh [SIZE_MB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1024}
RUNS=${2:-2}
DATA=bench/data
OUT=$(mktemp -d /tmp/hrsm-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
if [ ! -f "$DATA/.size-$SIZE_MB" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  python3 bench/gen_data.py "$DATA" "$SIZE_MB" && touch "$DATA/.size-$SIZE_MB"
fi
cargo build --release --quiet
BIN=target/release/hrsm-backup
export BACKUP_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_PASS=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$OUT/bench.toml" <<TOML
destination = "$OUT/backups"
verify_after_backup = false
[mongodb]
enabled = false
[[sources]]
name = "data"
path = "$PWD/$DATA"
exclude = [".size-*"]
TOML
input_bytes=$(du -sb --exclude='.size-*' "$DATA" | cut -f1)
cat $(find "$DATA" -type f) > /dev/null # warm the page cache for both sides alike

best() { sort -n | head -1; }
measure() { # measure NAME CMD... -> "seconds maxrss_kb" of the best run
  local name=$1; shift
  for i in $(seq "$RUNS"); do
    rm -rf "$OUT/backups" "$OUT/peer.enc" "$OUT/restore" "$OUT/peer-restore"
    [ "$name" = ours-restore ] || [ "$name" = peer-restore ] && prepare_restore
    /usr/bin/time -f '%e %M' -o "$OUT/t" "$@" >/dev/null 2>"$OUT/err" || { cat "$OUT/err"; exit 1; }
    cat "$OUT/t"
  done | best
}
prepare_restore() { :; }

ours=$(measure ours "$BIN" --config "$OUT/bench.toml" backup --no-verify)
ours_size=$(stat -c %s "$OUT"/backups/*.hrsmbk)
peer=$(measure peer sh -c "tar cf - -C '$DATA' --exclude='.size-*' . | gzip -6 | openssl enc -aes-256-cbc -pbkdf2 -pass env:BENCH_PASS -out '$OUT/peer.enc'")
peer_size=$(stat -c %s "$OUT/peer.enc")

# Restore direction: our full restore (authenticate everything, extract, SHA-256 every file)
# vs openssl -d | gunzip | tar x (no authentication at all).
"$BIN" --config "$OUT/bench.toml" backup --no-verify >/dev/null
cp "$OUT"/backups/*.hrsmbk "$OUT/keep.hrsmbk"
sh -c "tar cf - -C '$DATA' --exclude='.size-*' . | gzip -6 | openssl enc -aes-256-cbc -pbkdf2 -pass env:BENCH_PASS -out '$OUT/keep.enc'"
ours_r=$(for i in $(seq "$RUNS"); do rm -rf "$OUT/restore"; /usr/bin/time -f '%e %M' -o "$OUT/t" "$BIN" restore "$OUT/keep.hrsmbk" --files-to "$OUT/restore" >/dev/null; cat "$OUT/t"; done | best)
rm -rf "$OUT/restore"
peer_r=$(for i in $(seq "$RUNS"); do rm -rf "$OUT/peer-restore"; mkdir "$OUT/peer-restore"; /usr/bin/time -f '%e %M' -o "$OUT/t" sh -c "openssl enc -d -aes-256-cbc -pbkdf2 -pass env:BENCH_PASS -in '$OUT/keep.enc' | gzip -dc | tar xf - -C '$OUT/peer-restore'"; cat "$OUT/t"; done | best)
rm -rf "$OUT/peer-restore"

# list over 1,000 catalog entries
rm -rf "$OUT/backups"; "$BIN" --config "$OUT/bench.toml" --json backup --no-verify > "$OUT/one.json"
entry=$(ls "$OUT"/backups/*.json)
for i in $(seq 1 999); do sed "s/\"id\": \"[^\"]*\"/\"id\": \"hrsm-20250101T000000Z-$(printf %04x "$i")\"/" "$entry" > "$OUT/backups/hrsm-20250101T000000Z-$(printf %04x "$i").json"; done
list_ms=$(for i in 1 2 3 4 5; do s=$(date +%s%N); "$BIN" --config "$OUT/bench.toml" list >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); done | best)

read -r ot orss <<<"$ours"; read -r pt prss <<<"$peer"
read -r ort orrss <<<"$ours_r"; read -r prt prrss <<<"$peer_r"
awk -v in_b="$input_bytes" -v ot="$ot" -v pt="$pt" -v os="$ours_size" -v ps="$peer_size" -v orss="$orss" -v prss="$prss" \
    -v ort="$ort" -v prt="$prt" -v orrss="$orrss" -v list_ms="$list_ms" -v runs="$RUNS" -v cores="$(nproc)" 'BEGIN {
  mb = in_b / 1048576
  printf "input: %.0f MiB (%s cores, best of %d runs)\n\n", mb, cores, runs
  printf "%-44s %9s %10s %12s %11s\n", "backup", "seconds", "MiB/s", "output MiB", "peak RSS"
  printf "%-44s %9.2f %10.1f %12.1f %8.1f MB\n", "hrsm-backup backup", ot, mb/ot, os/1048576, orss/1024
  printf "%-44s %9.2f %10.1f %12.1f %8.1f MB\n", "tar | gzip -6 | openssl aes-256-cbc (peer)", pt, mb/pt, ps/1048576, prss/1024
  printf "speed: %.2fx the peer   size: %.3fx the peer\n\n", pt/ot, os/ps
  printf "%-44s %9s %10s %11s\n", "restore", "seconds", "MiB/s", "peak RSS"
  printf "%-44s %9.2f %10.1f %8.1f MB\n", "hrsm-backup restore (authenticated)", ort, mb/ort, orrss/1024
  printf "%-44s %9.2f %10.1f\n", "openssl -d | gzip -d | tar x (peer)", prt, mb/prt
  printf "speed: %.2fx the peer\n\n", prt/ort
  printf "list over 1000 catalog entries: %d ms\n", list_ms
}'
