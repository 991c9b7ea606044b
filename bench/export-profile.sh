#!/usr/bin/env bash
# Where an export's time goes, and the limit on this machine: on one SecantusDB and the same
# HR-like data (bench/node-peer/seed.js), times
#   1. the server's ceiling: every collection read with raw cursors, two at a time, nothing
#      written (examples/export_ceiling.rs);
#   2. our export (`backup`: dump, hash, tar, gzip, encrypt, write; no verify), with the CPU
#      seconds of our process and of the server during it;
# then samples our process with `perf` and sums the samples by what they do (gzip, SHA-256,
# AES, the driver's BSON and socket reads, copying, the kernel).
#   bench/export-profile.sh [DOCUMENTS]      default 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
cargo build --release --quiet
cargo build --release --quiet --example export_ceiling
(cd bench/node-peer && npm ci --no-audit --no-fund --silent)
BIN=$PWD/target/release/hrsm-backup
source bench/lib.sh hrsm-prof
# The native export (mongodump, where installed, would be used otherwise).
command -v mongodump >/dev/null && { echo "mongodump is installed: this profiles the native export only when it is not" >&2; exit 1; }
node bench/node-peer/seed.js "$URI" hrms_bench "$N"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# A first read warms the server's cache for both sides.
target/release/examples/export_ceiling "$URI" hrms_bench 2 >/dev/null
read -r cs cdocs cbytes <<<"$(target/release/examples/export_ceiling "$URI" hrms_bench 2)"
rm -rf "$WORK/backups"
/usr/bin/time -f '%e' -o "$WORK/plain" "$BIN" --config "$WORK/bench.toml" backup --force >/dev/null
rm -rf "$WORK/backups"
s0=$(cpu $SERVER)
/usr/bin/time -f '%e %U %S %M' -o "$WORK/t" perf record -q -F 999 -o "$WORK/perf.data" -- "$BIN" --config "$WORK/bench.toml" backup --force >/dev/null 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }
s1=$(cpu $SERVER)
read -r wall user sys rss <<<"$(cat "$WORK/t")"
mb=$(echo "$cbytes / 1048576" | bc -l)
printf 'documents %d, BSON %.1f MB, 2 cores\n' "$cdocs" "$mb"
printf '%-44s %8.2f s  %7.1f MB/s\n' "server ceiling (raw read, 2 collections at once)" "$cs" "$(echo "$mb / $cs" | bc -l)"
plain=$(cat "$WORK/plain")
printf '%-44s %8.2f s  %7.1f MB/s  (%.0f%% of the ceiling'"'"'s speed)\n' "our export" "$plain" "$(echo "$mb / $plain" | bc -l)" "$(echo "100 * $cs / $plain" | bc -l)"
printf '%-44s %8.2f s  %7.1f MB/s  (%.0f%% of the ceiling'"'"'s speed)\n' "our export (perf attached)" "$wall" "$(echo "$mb / $wall" | bc -l)" "$(echo "100 * $cs / $wall" | bc -l)"
printf '%-44s %8.2f s  (user %.2f, system %.2f), peak RSS %d MB\n' "  CPU of our process" "$(echo "$user + $sys" | bc -l)" "$user" "$sys" "$((rss / 1024))"
printf '%-44s %8.2f s\n' "  CPU of the server meanwhile" "$(echo "($s1 - $s0) / $hz" | bc -l)"
printf '%-44s %8.2f s\n' "  CPU available (2 cores x wall)" "$(echo "2 * $wall" | bc -l)"
echo "Our samples by what they do (% of our process's samples):"
perf report -q -i "$WORK/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | awk '
  /%/ {
    p = $1; sub("%", "", p); line = tolower($0)
    if (line ~ /deflate|compress|zlib|miniz|flate|crc32|adler|longest_match|fill_window/) k = "gzip (flate2)"
    else if (line ~ /sha256|sha2|sha_256/) k = "SHA-256 (spool hash + archive hash)"
    else if (line ~ /aes|hmac|cbc/) k = "AES-256-CBC + HMAC"
    else if (line ~ /bson|rawdocument|mongodb|cursor|decode|serde/) k = "driver: BSON and cursors"
    else if (line ~ /memcpy|memmove|memset/) k = "copying bytes (memcpy)"
    else if (line ~ /\[kernel|\[k\]/) k = "kernel (socket, file, page faults)"
    else if (line ~ /tar|write_all|bufwriter/) k = "tar and buffered writes"
    else k = "other"
    sum[k] += p
  }
  END { for (k in sum) printf "%6.1f%%  %s\n", sum[k], k }' | sort -rn
echo "Top symbols:"
perf report -q -i "$WORK/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep "%" | head -12 || true
