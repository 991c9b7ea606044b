# Shared set-up for scripts/test and scripts/run-app (sourced, not run): installs what a fresh
# Debian machine lacks, and builds the cached tools under $HOME/.cache/hrsm-tools.
TOOLS=${HRSM_TOOLS:-$HOME/.cache/hrsm-tools}
export PATH="$TOOLS/bin:$PATH"
SECANTUS_VERSION=0.5.3-beta.196

log() { printf '\n== %s\n' "$*"; }

# Free disk space and the size of the build folders, so that a run stopped by a full disk says so.
report_disk() {
  local d sizes=""
  for d in target fuzz/target; do
    if [ -d "$d" ]; then sizes+="; $d $(du -sh "$d" | cut -f1)"; else sizes+="; $d none"; fi
  done
  echo "disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free$sizes"
}

# Debian packages: the desktop build (webkit2gtk, appindicator...), the session the tests use
# (D-Bus, gnome-keyring, Xvfb, dunst), and small tools the tests call.
ensure_packages() {
  local want=(build-essential pkg-config cmake libdbus-1-dev libssl-dev openssl libwebkit2gtk-4.1-dev libxdo-dev
    libayatana-appindicator3-dev librsvg2-dev webkit2gtk-driver xvfb xauth dbus-daemon dbus-bin dunst
    gnome-keyring libsecret-tools libglib2.0-bin imagemagick util-linux mount tar bc time chromium chromium-driver
    python3-dbus python3-gi python3-xlib poppler-utils)
  local missing=()
  for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The MongoDB-wire server for tests and the demo (SecantusDB, GPL-2.0: run as a separate
# process, never linked), built once into ROOT ($1) unless that build is there; the rest of
# the arguments are environment settings for the build.
install_secantus() {
  local root=$1
  shift
  if ! "$root/bin/secantusd-rs" --version 2>/dev/null | grep -q "$SECANTUS_VERSION"; then
    log "building SecantusDB $SECANTUS_VERSION into $root (first run only)"
    env "$@" cargo install secantus-mdb --version "$SECANTUS_VERSION" --ignore-rust-version --locked --root "$root" >&2
  fi
}

# The tests' and the demo's build: LTO off and 16 codegen units, about 8 minutes on 2 cores.
ensure_secantus() {
  install_secantus "$TOOLS" CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  export HRSM_SECANTUSD="$TOOLS/bin/secantusd-rs"
}

# The same server built as its authors ship it (its own release profile: thin LTO, one codegen
# unit), for the MongoDB benchmarks only: the tests' build trades its speed for build time, and
# the restore figures of issue 10 (mongorestore's 58k docs/s) were measured against this one.
# About 4 minutes on 2 cores, once.
ensure_secantus_optimised() {
  install_secantus "$TOOLS/bench-opt"
  export HRSM_SECANTUSD_OPTIMISED="$TOOLS/bench-opt/bin/secantusd-rs"
}

# The S3-compatible object store for the off-site tests (Garage, AGPL-3.0: run as a separate
# process, never linked). About 25 minutes to build on 2 cores, once.
GARAGE_VERSION=2.5.0
ensure_garage() {
  if ! "$TOOLS/bin/garage" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
    log "building Garage $GARAGE_VERSION into $TOOLS (first run only)"
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install garage --version "$GARAGE_VERSION" --locked --no-default-features \
      --features bundled-libs,lmdb --root "$TOOLS"
  fi
  export HRSM_GARAGE="$TOOLS/bin/garage"
}

# Azure's own Blob Storage emulator (Azurite, MIT, from npm) for the off-site tests.
AZURITE_VERSION=3.35.0
ensure_azurite() {
  if ! "$TOOLS/azurite/node_modules/.bin/azurite-blob" --version 2>/dev/null | grep -q "$AZURITE_VERSION"; then
    log "installing Azurite $AZURITE_VERSION into $TOOLS/azurite (first run only)"
    mkdir -p "$TOOLS/azurite"
    (cd "$TOOLS/azurite" && npm install --silent --no-audit --no-fund "azurite@$AZURITE_VERSION" >/dev/null)
  fi
  export HRSM_AZURITE="$TOOLS/azurite/node_modules/.bin/azurite-blob"
}

ensure_python_packages() {
  python3 -c 'import cryptography, selenium, pymongo, azure.storage.blob' 2>/dev/null ||
    python3 -m pip install --quiet 'cryptography>=42' 'selenium>=4.20' 'pymongo>=4.6' 'azure-storage-blob>=12.19'
}

# Cross-building for Windows and running the result: the Rust target (rustup), mingw-w64's
# linker and Wine (Debian's, 8.0), for scripts/test-windows.
ensure_windows_tools() {
  rustup target list --installed | grep -q x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
  local want=(gcc-mingw-w64-x86-64 wine64 wine nsis) missing=()
  for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

# Tauri's CLI (the bundler: .deb, AppImage, NSIS), built once into the tool cache.
ensure_tauri_cli() {
  if ! "$TOOLS/bin/cargo-tauri" --version 2>/dev/null | grep -q "^tauri-cli 2"; then
    log "building tauri-cli into $TOOLS (first run only)"
    cargo install tauri-cli --version "^2" --locked --root "$TOOLS"
  fi
}

# cargo-deny (licenses, duplicate versions, sources), built once into the tool cache.
ensure_cargo_deny() {
  if ! "$TOOLS/bin/cargo-deny" --version 2>/dev/null | grep -q "0.20.2"; then
    log "building cargo-deny into $TOOLS (first run only)"
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install cargo-deny --version 0.20.2 --locked --root "$TOOLS"
  fi
}
