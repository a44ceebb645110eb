#!/usr/bin/env bash
# Launches the station app: installs what is missing (scripts/setup.sh), builds the page and
# the app, and opens it on the archive `$CAPSTAN_ARCHIVE` (else ./archive, as the CLI).
# Arguments go to the app (`--archive DIR`).
#
# On a machine with no display (a server, a fresh install without a desktop) there is nothing
# to open a window on: the app is started on a virtual display (Xvfb) instead, long enough to
# prove that it runs, its first view is saved as a picture, and it is closed again. Run it from
# a desktop session to use it.
#
# CAPSTAN_APP_BIN=PATH starts that binary instead of building one (the package test starts the
# app unpacked from the Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CAPSTAN_APP_BIN:-}" ]; then
    app="$CAPSTAN_APP_BIN"
else
    scripts/setup.sh >/dev/null
    export PATH="$HOME/.cargo/bin:$PATH"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
    scripts/ui.sh
    cargo build --quiet -p capstan-station --profile station
    app="$CARGO_TARGET_DIR/station/capstan-station"
fi
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
    exec "$app" "$@"
fi

shot="${TMPDIR:-/tmp}/capstan-station.png"
echo "app: no display here (DISPLAY and WAYLAND_DISPLAY are unset); starting the app on a virtual display to check that it runs" >&2
export CAPSTAN_APP="$app" CAPSTAN_SHOT="$shot"
# Software rendering: Xvfb has no GPU.
export WEBKIT_DISABLE_COMPOSITING_MODE=1
xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
    "$CAPSTAN_APP" "$@" &
    app=$!
    trap "kill $app 2>/dev/null; wait $app 2>/dev/null" EXIT
    # The window is up once the screen holds more than a handful of colours (the empty root
    # window has one; the station view has hundreds).
    for _ in $(seq 120); do
        sleep 0.5
        kill -0 "$app" 2>/dev/null || { echo "app: the app exited before its window opened" >&2; exit 1; }
        import -window root "$CAPSTAN_SHOT" 2>/dev/null || continue
        colours=$(identify -format "%k" "$CAPSTAN_SHOT" 2>/dev/null || echo 0)
        if [ "$colours" -gt 200 ]; then
            sleep 2 # the first data (profiles, devices, the archive) arrives
            import -window root "$CAPSTAN_SHOT"
            exit 0
        fi
    done
    echo "app: the window did not appear within 60 s" >&2
    exit 1
' app "$@"
echo "app: the station runs; its first view is in $shot. Run this command from a desktop session (or over X forwarding) to use it." >&2
