#!/usr/bin/env bash
# Launches the station app: installs what is missing (scripts/setup.sh), builds the page and
# the app, and opens it on the archive `$CAPSTAN_ARCHIVE` (else ./archive, as the CLI). Needs a
# desktop session (or `xvfb-run`). Arguments go to the app (`--archive DIR`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
scripts/ui.sh
cargo build --quiet -p capstan-station --profile station
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "app: no display (DISPLAY and WAYLAND_DISPLAY are unset): run it from a desktop session, or under xvfb-run" >&2
    exit 2
fi
exec "$CARGO_TARGET_DIR/station/capstan-station" "$@"
