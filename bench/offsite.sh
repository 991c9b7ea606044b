#!/usr/bin/env bash
# Off-site copy benchmark, against a local Garage (the S3 server the tests use): our upload
# (multipart, three 16 MiB parts in flight), our read-back and our download (`offsite fetch`,
# SHA-256 checked as it arrives) next to the AWS CLI's `aws s3 cp` both ways on the same archive
# and server, and next to the archive pipeline's own rate (`backup` of the same data). Peak RSS
# of each, at two archive sizes: the upload streams, so memory must not grow with the archive.
#   bench/offsite.sh [SIZES_MB...]      (default: 256 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-256 1024}")
read -r -a SIZES <<<"${SIZES[*]}"
source scripts/setup.sh
ensure_garage
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
command -v aws >/dev/null || python3 -m pip install --quiet awscli
cargo build --release --quiet -p hrsm-backup-cli
BIN=$PWD/target/release/hrsm-backup
OUT=$(mktemp -d /tmp/hrsm-bench-offsite.XXXXXX)
GPID=
trap '[ -n "$GPID" ] && kill $GPID 2>/dev/null; rm -rf "$OUT"' EXIT

# One Garage node on free ports, a bucket and a key.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3=$(port); RPC=$(port)
cat >"$OUT/garage.toml" <<TOML
metadata_dir = "$OUT/garage/meta"
data_dir = "$OUT/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC"
rpc_public_addr = "127.0.0.1:$RPC"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3"
TOML
G() { RUST_LOG=warn "$HRSM_GARAGE" -c "$OUT/garage.toml" "$@"; }
G server >"$OUT/garage.log" 2>&1 &
GPID=$!
for _ in $(seq 100); do G status >/dev/null 2>&1 && break; sleep 0.2; done
NODE=$(G node id -q | cut -d@ -f1)
G layout assign -z dc1 -c 100G "$NODE" >/dev/null
G layout apply --version 1 >/dev/null
export AWS_ACCESS_KEY_ID=GK0123456789abcdef01234567
export AWS_SECRET_ACCESS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export AWS_DEFAULT_REGION=garage AWS_REGION=garage
G key import --yes -n bench "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >/dev/null
G bucket create bench >/dev/null
G bucket allow --read --write --owner bench --key bench >/dev/null
export BACKUP_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
EP="http://127.0.0.1:$S3"

timed() { # timed LABEL CMD... -> prints "seconds peak_kb"
  /usr/bin/time -f '%e %M' -o "$OUT/t" "${@:2}" >"$OUT/out" 2>"$OUT/err" || { echo "$1 failed:"; cat "$OUT/out" "$OUT/err"; exit 1; }
  cat "$OUT/t"
}
rate() { python3 -c "import sys; b,s=float(sys.argv[1]),float(sys.argv[2]); print(f'{b/max(s,1e-9)/1048576:7.1f} MiB/s')" "$1" "$2"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}x')" "$1" "$2"; }

echo "machine: $(nproc) cores; Garage $GARAGE_VERSION (release) on loopback; aws-cli $(aws --version 2>&1 | cut -d' ' -f1 | cut -d/ -f2)"
printf '\n%-8s %-28s %9s %14s %10s\n' "size" "step" "seconds" "rate" "peak RSS"
for MB in "${SIZES[@]}"; do
  rm -rf "$OUT/data" "$OUT/backups" "$OUT/fetched"
  mkdir -p "$OUT/data"
  head -c $((MB << 20)) /dev/urandom >"$OUT/data/scans.bin" # does not compress: the archive is as big
  cat >"$OUT/c.toml" <<TOML
destination = "$OUT/backups"
verify_after_backup = true
[mongodb]
enabled = false
[[sources]]
name = "data"
path = "$OUT/data"
TOML
  cp "$OUT/c.toml" "$OUT/plain.toml"
  cat >>"$OUT/c.toml" <<TOML
[[offsite]]
name = "garage"
kind = "s3"
endpoint = "$EP"
region = "garage"
bucket = "bench"
prefix = "mb$MB/"
check = "size"
TOML
  read -r s kb < <(timed backup "$BIN" --config "$OUT/plain.toml" backup)
  archive=$(ls "$OUT"/backups/*.hrsmbk); bytes=$(stat -c %s "$archive"); id=$(basename "$archive" .hrsmbk)
  printf '%-8s %-28s %9s %14s %7d MB\n' "${MB}MB" "backup (archive pipeline)" "$s" "$(rate "$bytes" "$s")" $((kb / 1024))
  read -r up upkb < <(timed upload "$BIN" --config "$OUT/c.toml" offsite copy)
  printf '%-8s %-28s %9s %14s %7d MB\n' "" "ours: upload" "$up" "$(rate "$bytes" "$up")" $((upkb / 1024))
  read -r rb rbkb < <(timed readback "$BIN" --config "$OUT/c.toml" offsite check --read-back)
  printf '%-8s %-28s %9s %14s %7d MB\n' "" "ours: read back (SHA-256)" "$rb" "$(rate "$bytes" "$rb")" $((rbkb / 1024))
  sed "s|^destination = .*|destination = \"$OUT/fetched\"|" "$OUT/c.toml" >"$OUT/f.toml"
  read -r dl dlkb < <(timed fetch "$BIN" --config "$OUT/f.toml" offsite fetch "$id" --from garage)
  printf '%-8s %-28s %9s %14s %7d MB\n' "" "ours: download to disk" "$dl" "$(rate "$bytes" "$dl")" $((dlkb / 1024))
  read -r pu pukb < <(timed peer-up aws --endpoint-url "$EP" s3 cp --only-show-errors "$archive" "s3://bench/peer/mb$MB.bin")
  printf '%-8s %-28s %9s %14s %7d MB\n' "" "aws s3 cp: upload" "$pu" "$(rate "$bytes" "$pu")" $((pukb / 1024))
  read -r pd pdkb < <(timed peer-down aws --endpoint-url "$EP" s3 cp --only-show-errors "s3://bench/peer/mb$MB.bin" "$OUT/peer.bin")
  printf '%-8s %-28s %9s %14s %7d MB\n' "" "aws s3 cp: download" "$pd" "$(rate "$bytes" "$pd")" $((pdkb / 1024))
  cmp -s "$OUT/peer.bin" "$archive" || { echo "the peer's download differs"; exit 1; }
  rm -f "$OUT/peer.bin"
  printf '%-8s %-28s upload %s the peer'"'"'s speed, download %s, upload memory %s of the peer'"'"'s\n' "" "ratios (peer time / ours):" \
    "$(ratio "$pu" "$up")" "$(ratio "$pd" "$dl")" "$(ratio "$upkb" "$pukb")"
done
