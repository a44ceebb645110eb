#!/usr/bin/env bash
# Builds the wider declick corpus (issue 15) from recordings shipped in Debian packages.
#
#   benches/corpus/build.sh [OUT]     (default ${CAPSTAN_CORPUS:-$HOME/.cache/capstan-corpus})
#
# Installs what is missing (ffmpeg, flac, fluidsynth, unzip, Debian's python3 with numpy and
# soundfile), fetches the source packages with `apt-get download` (nothing of theirs is
# installed: they are unpacked into OUT/sources) and runs build.py. What each file is, where
# it comes from and its licence: benches/corpus/README.md. Reruns are bit-identical; a built
# corpus (OUT/manifest.json present and matching this recipe) is left as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${CAPSTAN_CORPUS:-$HOME/.cache/capstan-corpus}}
shared=${CAPSTAN_SHARED:-$here/../../../shared}
recipe=$(cat "$here/build.py" "$shared/corpus/make_clicks.py" | sha256sum | cut -c1-16)
if [ -f "$out/manifest.json" ] && [ "$(cat "$out/recipe" 2>/dev/null)" = "$recipe" ]; then
    exit 0
fi
need=()
for t in ffmpeg:ffmpeg flac:flac fluidsynth:fluidsynth unzip:unzip; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
/usr/bin/python3 -c 'import numpy, soundfile' 2>/dev/null || need+=(python3-numpy python3-soundfile)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
packages=(nexuiz-music hedgewars-data csoundqt-examples fluid-soundfont-gm wesnoth-1.16-music
    timgm6mb-soundfont)
rm -rf "$out.partial"
mkdir -p "$out.partial/debs" "$out.partial/sources"
(cd "$out.partial/debs" && apt-get download "${packages[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for p in "${packages[@]}"; do
    deb=$(ls "$out.partial/debs/${p}"_*.deb)
    mkdir -p "$out.partial/sources/$p"
    dpkg-deb -x "$deb" "$out.partial/sources/$p"
done
/usr/bin/python3 "$here/build.py" "$out.partial/sources" "$out.partial" "$shared/corpus"
rm -rf "$out.partial/debs" "$out.partial/sources" "$out.partial/.pk3"
echo "$recipe" >"$out.partial/recipe"
rm -rf "$out"
mv "$out.partial" "$out"
