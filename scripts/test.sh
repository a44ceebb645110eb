#!/usr/bin/env bash
# Every test: formatting, lints, unit and integration tests (which run flac, metaflac, ffmpeg
# and bagit.py against what Capstan writes). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
tools_bin=$(scripts/setup.sh)
export PATH="$tools_bin:$HOME/.cargo/bin:$PATH"
# A build cache outside the clone keeps warm runs fast; a cold run builds everything.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --release --all-targets 2>&1
