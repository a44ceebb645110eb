#!/usr/bin/env bash
# The station app end to end (ui/e2e/station.e2e.ts): builds the page and the app, starts it
# under Xvfb through tauri-driver and WebKitWebDriver (Debian's webkit2gtk-driver;
# TAURI_WEBVIEW_AUTOMATION=true lets the driver drive the app's webview), on a fresh archive, and saves each view as docs/screenshots/<view>.png
# (CAPSTAN_SCREENSHOTS to put them elsewhere). The driver runs inside xvfb-run, so nothing it
# started outlives the display.
set -euo pipefail
cd "$(dirname "$0")/.."
tools_bin=$(scripts/setup.sh)
export PATH="$tools_bin:$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
scripts/ui.sh
(cd ui && node_modules/.bin/tsc -p tsconfig.test.json)
cargo build --quiet -p capstan-station --profile station
# The CLI, to leave an interrupted take behind for the app to offer at start-up (test.sh
# passes the one its release tests built).
if [ -z "${CAPSTAN_CLI:-}" ]; then
    cargo build --quiet --release --bin capstan
    CAPSTAN_CLI="$CARGO_TARGET_DIR/release/capstan"
fi
export CAPSTAN_CLI
# tauri-driver (crates.io), installed once beside bagit.py, outside the clone.
TOOLS="${CAPSTAN_TOOLS:-$HOME/.cache/capstan-tools}"
export TAURI_DRIVER="$TOOLS/tauri-driver/bin/tauri-driver"
if [ ! -x "$TAURI_DRIVER" ]; then
    echo "e2e: installing tauri-driver into $TOOLS/tauri-driver" >&2
    cargo install --quiet --locked tauri-driver --version 2.1.0 --root "$TOOLS/tauri-driver"
fi

work=$(mktemp -d)
# A shared catalogue for the archive view's panel: PostgreSQL 15 (scripts/setup.sh installs it),
# started as the `postgres` user in the work folder on a free loopback port, stopped on exit.
pgbin=/usr/lib/postgresql/15/bin
chmod 755 "$work" && mkdir "$work/pg" && chown postgres "$work/pg"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg/data" -U capstan -A trust -E UTF8 --no-locale --no-sync >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 60 \
    -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U capstan e2e
export CAPSTAN_CATALOGUE="postgres://capstan@127.0.0.1:$pg_port/e2e"
mkdir -p "$work/archive"
# The institution is set once, as an archivist does before the first take.
"$CAPSTAN_CLI" institution --archive "$work/archive" --country GB --organisation "Test Archive" >/dev/null
export CAPSTAN_STATION="$CARGO_TARGET_DIR/station/capstan-station"
export CAPSTAN_ARCHIVE="$work/archive"
export CAPSTAN_SCREENSHOTS="${CAPSTAN_SCREENSHOTS:-$PWD/docs/screenshots}"
export BAGIT_PY="$(command -v bagit.py)"
export TAURI_WEBVIEW_AUTOMATION=true
# A real ALSA playback device for listening in the app: alsa-lib's `file` plugin (as
# ../shared/alsa/asoundrc) writes what is played into a FIFO, which the test reads at the
# programme's own rate, so the device plays in real time and what it played is compared with
# the masters.
mkdir -p "$work/xdg/alsa"
cat >"$work/xdg/alsa/asoundrc" <<'ALSA'
pcm.capstan_monitor {
    type file
    slave.pcm "null"
    file { @func getenv vars [ CAPSTAN_TEST_OUTFILE ] default "/dev/null" }
    format "raw"
    hint { show on description "Capstan test monitor (file-backed playback)" }
}
ALSA
mkfifo "$work/monitor.fifo"
export XDG_CONFIG_HOME="$work/xdg" CAPSTAN_TEST_OUTFILE="$work/monitor.fifo" E2E_MONITOR="$work/monitor.fifo"
# A replica for the archive view's audit: the test starts a SeaweedFS server (weed, installed by
# setup.sh) on loopback with these test credentials, which the app reads as any AWS client does.
export AWS_ACCESS_KEY_ID=e2e-key AWS_SECRET_ACCESS_KEY=e2e-secret
export E2E_WEED="$(command -v weed)"
# The capturing thread stalls once, 5 s long, 6.5 s into a take: longer than the ring holds, so
# the second take (17 s; the first stops at 5 s) loses samples, and the app must say so as it
# happens and in the review.
export CAPSTAN_TEST_STALL_WRITER=624000:5000
# Software rendering: without compositing, the animated meters cost a fraction of a core.
export WEBKIT_DISABLE_COMPOSITING_MODE=1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
native_port=$(free_port)
while [ "$native_port" = "$port" ]; do native_port=$(free_port); done
export WEBDRIVER_URL="http://127.0.0.1:$port"
export E2E_WORK="$work" E2E_PORT="$port" E2E_NATIVE_PORT="$native_port"
status=0
xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
    "$TAURI_DRIVER" --port "$E2E_PORT" --native-port "$E2E_NATIVE_PORT" >"$E2E_WORK/driver.log" 2>&1 &
    driver=$!
    trap "kill $driver 2>/dev/null" EXIT
    node --test ui/build/e2e/station.e2e.js
' || status=$?
if [ "$status" -ne 0 ]; then
    echo "e2e: failed; the driver said:" >&2
    tail -n 40 "$work/driver.log" >&2 || true
fi
exit "$status"
