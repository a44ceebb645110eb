#!/usr/bin/env bash
# Builds the flac 1.5 command-line tool, to check that masters restore with it as with Debian's
# flac 1.4.2: from the flac 1.5.0 sources the libflac-sys crate vendors (the libFLAC Capstan
# links), fetched by cargo like any dependency, with the six grabbag headers that crate leaves
# out (tools/flac-1.5-grabbag/, from flac's 1.5.0 tag). Built once into
# ${CAPSTAN_TOOLS:-~/.cache/capstan-tools}/flac-1.5 (about 30 s on 2 cores); prints the
# program's path as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${CAPSTAN_TOOLS:-$HOME/.cache/capstan-tools}"
out="$TOOLS/flac-1.5/bin/flac"
if [ -x "$out" ]; then
    echo "$out"
    exit 0
fi
# Tests run in parallel may all ask at once on a fresh machine: one builds, the rest wait.
mkdir -p "$TOOLS"
exec 9>"$TOOLS/flac-1.5.lock"
flock 9
if [ -x "$out" ]; then
    echo "$out"
    exit 0
fi
if ! command -v cmake >/dev/null 2>&1; then
    echo "flac-1.5: installing cmake" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends cmake >/dev/null
fi
manifest=$(cargo metadata --format-version 1 --locked |
    /usr/bin/python3 -c 'import json, sys
print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "libflac-sys"))')
src="$(dirname "$manifest")/flac"
grep -q 'project(FLAC VERSION 1.5' "$src/CMakeLists.txt" || { echo "flac-1.5: $src is not flac 1.5" >&2; exit 1; }
build="$TOOLS/flac-1.5/build" tree="$TOOLS/flac-1.5/src"
rm -rf "$build" "$tree"
mkdir -p "$TOOLS/flac-1.5"
echo "flac-1.5: building flac from $src" >&2
cp -r "$src" "$tree"
cp -r tools/flac-1.5-grabbag/share/. "$tree/include/share/"
cmake -S "$tree" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_CXXLIBS=OFF -DBUILD_EXAMPLES=OFF \
    -DBUILD_TESTING=OFF -DBUILD_DOCS=OFF -DINSTALL_MANPAGES=OFF -DWITH_OGG=OFF >"$TOOLS/flac-1.5.log" 2>&1 ||
    { tail -20 "$TOOLS/flac-1.5.log" >&2; exit 1; }
cmake --build "$build" --target flacapp -j "$(nproc)" >>"$TOOLS/flac-1.5.log" 2>&1 ||
    { tail -20 "$TOOLS/flac-1.5.log" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$build/src/flac/flac" "$out.tmp" && mv "$out.tmp" "$out"
"$out" --version >&2
echo "$out"
