#!/usr/bin/env bash
# scripts/setup.sh decides what to install from the programs it finds, and the programs it
# checks for are the ones the other scripts call. A machine with some other `convert` on the
# PATH and no ImageMagick (a fresh Debian 12 with GraphicsMagick's or a user's own `convert`)
# must get ImageMagick installed: app.sh and the end-to-end test call `import` and `identify`.
# Simulated with a PATH of fake programs and setup.sh's dry run, which installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
fail() { echo "setup-test: $*" >&2; exit 1; }

# Every program setup.sh looks for, as a stub that exits 0, except the ones left out by each case.
stubs=(cc cmake flac metaflac ffmpeg WebKitWebDriver xvfb-run node npm cargo convert import identify)
# pkg-config answers "installed" for WebKitGTK, so only the programs under test are missing.
make_path() { # DIR PROGRAM... : a PATH holding stubs for PROGRAM...
    mkdir -p "$1"
    for p in "${@:2}"; do printf '#!/bin/sh\nexit 0\n' >"$1/$p"; chmod +x "$1/$p"; done
    printf '#!/bin/sh\nexit 0\n' >"$1/pkg-config"; chmod +x "$1/pkg-config"
}
dry_run() { # DIR: setup.sh's decisions with only DIR on the PATH
    env -i HOME="$HOME" PATH="$1" CAPSTAN_SETUP_DRY_RUN=1 /bin/bash scripts/setup.sh
}

# Another program's `convert`, no `import`, no `identify`: ImageMagick is installed.
make_path "$fake/other-convert" "${stubs[@]}"
rm -f "$fake/other-convert/import" "$fake/other-convert/identify"
out=$(dry_run "$fake/other-convert") || fail "the dry run failed (exit $?)"
grep -qx 'setup: would install: pkg-config imagemagick' <<<"$out" \
    || fail "with another convert and no import/identify, expected to install imagemagick alone; got: ${out:-nothing}"

# `import` present but `identify` missing: still ImageMagick.
make_path "$fake/no-identify" "${stubs[@]}"
rm -f "$fake/no-identify/identify"
out=$(dry_run "$fake/no-identify") || fail "the dry run failed (exit $?)"
grep -qx 'setup: would install: pkg-config imagemagick' <<<"$out" \
    || fail "with no identify, expected to install imagemagick; got: ${out:-nothing}"

# All present: nothing to install (so the cases above are decided by import/identify).
make_path "$fake/all" "${stubs[@]}"
out=$(dry_run "$fake/all") || fail "the dry run failed (exit $?)"
[ -z "$out" ] || fail "with every program present, expected nothing to install; got: $out"
echo "setup-test: a foreign convert without ImageMagick's import/identify makes setup.sh install imagemagick" >&2
