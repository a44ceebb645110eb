#!/usr/bin/env bash
# Builds the station's Debian package (Tauri's bundler): the app (`capstan-station`, with its
# desktop entry), the CLI (`capstan`) and the watcher's systemd unit (`capstan-watch.service`,
# installed disabled). Prints the package's path. Install it with `apt install ./capstan_*.deb`.
#
# The binaries are the ones the other scripts build, from the same cache: the app in the
# `station` profile (scripts/app.sh), the CLI in `release` (scripts/test.sh, the end-to-end
# test). The bundler only packs them (`tauri bundle`, no build of its own): `tauri build` would
# compile the whole webview stack again, optimised, in `release`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools_bin=$(scripts/setup.sh)
export PATH="$tools_bin:$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
TOOLS="${CAPSTAN_TOOLS:-$HOME/.cache/capstan-tools}"

# The Tauri CLI from npm: its platform package carries a prebuilt binary (cargo install
# tauri-cli would compile it for minutes). Same minor version as the `tauri` crate in Cargo.lock.
TAURI_CLI_VERSION=2.12.5
tauri="$TOOLS/tauri-cli/node_modules/.bin/tauri"
if [ ! -x "$tauri" ] || [ "$("$tauri" --version 2>/dev/null)" != "tauri-cli $TAURI_CLI_VERSION" ]; then
    echo "package: installing @tauri-apps/cli@$TAURI_CLI_VERSION into $TOOLS/tauri-cli" >&2
    npm install --prefix "$TOOLS/tauri-cli" --no-save --no-audit --no-fund --loglevel=error \
        "@tauri-apps/cli@$TAURI_CLI_VERSION" >/dev/null
fi

scripts/ui.sh
cargo build --quiet --release --bin capstan
cargo build --quiet -p capstan-station --profile station

# The bundler looks for the app in <target>/release; a staging target of copies keeps it from
# rewriting (patching) the binaries in the build cache. The copies lose their debug information
# (line tables: 35 of the CLI's 42 MB) and keep their symbols, so a panic's backtrace still
# names its functions.
stage="$CARGO_TARGET_DIR/package"
rm -rf "$stage"
mkdir -p "$stage/release"
strip --strip-debug -o "$stage/release/capstan-station" "$CARGO_TARGET_DIR/station/capstan-station"
strip --strip-debug -o "$stage/capstan" "$CARGO_TARGET_DIR/release/capstan"
# The CLI's path depends on the build cache, so it is given here (merged into tauri.conf.json's
# bundle.linux.deb.files, which places the unit).
config=$(printf '{"bundle":{"active":true,"targets":["deb"],"linux":{"deb":{"files":{"/usr/bin/capstan":"%s"}}}}}' "$stage/capstan")
(cd src-tauri && CARGO_TARGET_DIR="$stage" CI=true "$tauri" bundle --bundles deb --config "$config" >&2)
built=$(ls "$stage"/release/bundle/deb/*.deb)
version=$(sed -n 's/^ *"version": "\(.*\)",$/\1/p' src-tauri/tauri.conf.json)
deb="$CARGO_TARGET_DIR/capstan_${version}_$(dpkg --print-architecture).deb"
mv "$built" "$deb"
echo "$deb"
