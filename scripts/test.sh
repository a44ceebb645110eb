#!/usr/bin/env bash
# Every test: formatting, lints, unit and integration tests (which run flac, metaflac, ffmpeg
# and bagit.py against what Capstan writes), the station app's page unit tests and its
# end-to-end test (CAPSTAN_CLI="$CARGO_TARGET_DIR/release/capstan" scripts/e2e.sh). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
tools_bin=$(scripts/setup.sh)
export PATH="$tools_bin:$HOME/.cargo/bin:$PATH"
# A build cache outside the clone keeps warm runs fast; a cold run builds everything.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
scripts/ui.sh
cargo fmt --all --check
# In the app's profile: the proc macros and build scripts (libFLAC, SQLite, tauri's code
# generation) it compiles are the ones the app's build below reuses.
cargo clippy --workspace --all-targets --profile station --quiet -- -D warnings
# flac 1.5 (built once from the sources Capstan links), for the restore tests beside Debian's 1.4.2.
scripts/flac-1.5.sh >/dev/null
cargo test --release --all-targets 2>&1
# The restore of a source over 4 GiB (writes and restores 4.3 GB; about 3 minutes).
if [ "${CAPSTAN_BIG_TESTS:-}" = 1 ]; then
    cargo test --release --test restore_rf64 -- --ignored 2>&1
fi
# The app's shell, in the profile its binary is built with (shared with CAPSTAN_CLI="$CARGO_TARGET_DIR/release/capstan" scripts/e2e.sh).
# Its tests include the bindings check: it fails while ui/src/bindings/ is stale against the
# Rust types (CAPSTAN_WRITE_BINDINGS=1 cargo test -p capstan-station bindings regenerates it).
cargo test --quiet -p capstan-station --profile station 2>&1
scripts/setup-test.sh; scripts/package-test.sh # setup.sh's choices; the Debian package, unpacked, its CLI and app run
(cd ui && node_modules/.bin/tsc -p tsconfig.test.json && node --test build/test/)
CAPSTAN_CLI="$CARGO_TARGET_DIR/release/capstan" scripts/e2e.sh
