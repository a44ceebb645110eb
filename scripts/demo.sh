#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install what is missing, build, and ingest the
# demo transfer into ./archive, printing the bag's location and its QC summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
"${CARGO_TARGET_DIR:-target}/release/capstan" demo --archive "${CAPSTAN_ARCHIVE:-./archive}"
