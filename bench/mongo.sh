#!/usr/bin/env bash
# MongoDB benchmark: our native export and restore vs the seed's approach (Node.js driver,
# each collection to Extended JSON, insertMany back), and our restore vs the server's ceiling
# (examples/ceiling_load.rs: the same documents pre-read into memory and inserted raw, all
# collections at once, two connections each, no staging, indexes after; the Database Tools
# cannot be installed here), same server, same data. Prints docs/s, MB/s (of BSON data),
# ratios, and peak RSS at each size.
# Exports, our restore and the ceiling are best of two alternating runs per side; the peer's
# restore runs once. The server is SecantusDB built as its authors ship it (bench/lib.sh).
#   bench/mongo.sh [SIZES...]      default: 100000 1000000 documents
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${*:-100000 1000000}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
cargo build --release --quiet
cargo build --release --quiet --example ceiling_load
(cd bench/node-peer && npm ci --no-audit --no-fund --silent)
BIN=$PWD/target/release/hrsm-backup
source bench/lib.sh hrsm-mbench
timed() { /usr/bin/time -f '%e %M' -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }; cat "$WORK/t"; }
# Best time of the runs, with the highest peak RSS of any of them.
best() { sort -n | awk 'NR == 1 { t = $1 } $2 > m { m = $2 } END { print t, m }'; }
drop() { node -e "const {MongoClient}=require('./bench/node-peer/node_modules/mongodb');(async()=>{const c=new MongoClient('$URI');await c.db('$1').dropDatabase();await c.close()})()"; }

printf '%-10s %-26s %9s %11s %9s %10s\n' docs step seconds docs/s MB/s "peak RSS"
for N in $SIZES; do
  node bench/node-peer/seed.js "$URI" hrms_bench "$N"
  # Exports: alternate the two sides, twice each, best run each: the first read of freshly
  # seeded data is slower for whoever goes first.
  for side in ours peer ours peer; do
    if [ $side = ours ]; then rm -rf "$WORK/backups"; timed "$BIN" --config "$WORK/bench.toml" backup --force >> "$WORK/ours.t"
    else rm -rf "$WORK/peer"; timed node bench/node-peer/peer.js export "$URI" hrms_bench "$WORK/peer" >> "$WORK/peer.t"; fi
  done
  read -r ot orss <<<"$(best < "$WORK/ours.t")"; read -r pt prss <<<"$(best < "$WORK/peer.t")"; rm -f "$WORK/ours.t" "$WORK/peer.t"
  mb=$("$BIN" --config "$WORK/bench.toml" --json inspect latest | python3 -c 'import json,sys; m=json.load(sys.stdin)["manifest"]["mongo"]; print(sum(f["size"] for d in m["databases"] for f in d["files"] if f["path"].endswith(".bson"))/1048576)')
  # The ceiling reads the same archive's mongodump layout (decrypted and unpacked; not timed).
  rm -rf "$WORK/dump" && mkdir -p "$WORK/dump"
  "$BIN" --config "$WORK/bench.toml" decrypt latest -o "$WORK/dump/a.tar.gz" >/dev/null
  tar xzf "$WORK/dump/a.tar.gz" -C "$WORK/dump" mongo
  # Our restore and the ceiling alternate, twice each, best run each: the server's own
  # background work (checkpoints, the files of dropped databases) makes single runs vary by
  # about a second at 1M documents.
  for side in ours ceiling ours ceiling; do
    if [ $side = ours ]; then timed "$BIN" --config "$WORK/bench.toml" restore latest --db hrms_bench=hrms_r1 >> "$WORK/ours.t"; drop hrms_r1
    else target/release/examples/ceiling_load "$URI" "$WORK/dump/mongo/hrms_bench" hrms_r3 >> "$WORK/ceiling.t"; drop hrms_r3; fi
  done
  read -r ort orrss <<<"$(best < "$WORK/ours.t")"; read -r ct _ <<<"$(best < "$WORK/ceiling.t")"; rm -f "$WORK/ours.t" "$WORK/ceiling.t"
  read -r prt prrss <<<"$(timed node bench/node-peer/peer.js restore "$URI" hrms_r2 "$WORK/peer")"
  drop hrms_r2
  awk -v n="$N" -v mb="$mb" -v ct="$ct" 'BEGIN { printf "%-10d %-26s %9.2f %11.0f %9.1f %10s\n", n, "restore ceiling (raw)", ct, n/ct, mb/ct, "preloaded" }'
  awk -v n="$N" -v mb="$mb" -v ot="$ot" -v pt="$pt" -v ort="$ort" -v prt="$prt" -v orss="$orss" -v prss="$prss" -v orrss="$orrss" -v prrss="$prrss" -v ct="$ct" 'BEGIN {
    row = "%-10d %-26s %9.2f %11.0f %9.1f %7.1f MB\n"
    printf row, n, "export  hrsm-backup", ot, n/ot, mb/ot, orss/1024
    printf row, n, "export  node peer (JSON)", pt, n/pt, mb/pt, prss/1024
    printf row, n, "restore hrsm-backup", ort, n/ort, mb/ort, orrss/1024
    printf row, n, "restore node peer", prt, n/prt, mb/prt, prrss/1024
    printf "%-10d ratios: export %.1fx, restore %.1fx the peer; restore at %.0f%% of the ceiling; BSON data %.1f MB\n", n, pt/ot, prt/ort, 100*ct/ort, mb
  }'
done
echo "hrsm-backup export = a full backup (dump, compress, encrypt, write); restore = authenticate, stage, insert, build indexes, swap."
