#!/usr/bin/env bash
# Repairs made to click-free music (issue 15): 18 excerpts of game music from the same Debian
# packages as the wider corpus (other tracks than the corpus's), 10 s from 30 s in, at 44.1, 48
# and 96 kHz in turn, 24-bit FLAC; each run through `capstan declick` at the default
# sensitivity. A declicker should leave every one of them bit-identical; the script prints the
# repairs per file and the total.
#
#   benches/declick_clean.sh [CAPSTAN_BINARY...]   (default: this checkout's release build)
#
# With several binaries (say the build before a change and after), each is run on every file.
# The excerpts are kept in ${CAPSTAN_CLEAN_SET:-~/.cache/capstan-clean-set} (about 40 MB; the
# packages, 430 MB, are downloaded once, unpacked there and removed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CAPSTAN_CLEAN_SET:-$HOME/.cache/capstan-clean-set}
tracks=(
    "nexuiz-music:sound/cdtracks/brainsukker.ogg" "nexuiz-music:sound/cdtracks/chaos-fog.ogg"
    "nexuiz-music:sound/cdtracks/digital-pursuit.ogg" "nexuiz-music:sound/cdtracks/infight.ogg"
    "nexuiz-music:sound/cdtracks/neuronal-diving.ogg" "nexuiz-music:sound/cdtracks/thunder.ogg"
    "hedgewars-data:City.ogg" "hedgewars-data:Jungle.ogg" "hedgewars-data:pirate.ogg"
    "hedgewars-data:oriental.ogg" "hedgewars-data:Golf.ogg" "hedgewars-data:hell.ogg"
    "wesnoth-1.16-music:battle-epic.ogg" "wesnoth-1.16-music:elvish-theme.ogg"
    "wesnoth-1.16-music:frantic.ogg" "wesnoth-1.16-music:nunc_dimittis.ogg"
    "wesnoth-1.16-music:sad.ogg" "wesnoth-1.16-music:traveling_minstrels.ogg"
)
if [ "$(ls "$out"/*.flac 2>/dev/null | wc -l)" -ne ${#tracks[@]} ]; then
    for t in ffmpeg:ffmpeg unzip:unzip; do
        command -v "${t%%:*}" >/dev/null || {
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${t#*:}" >/dev/null
        }
    done
    rm -rf "$out" && mkdir -p "$out/src"
    (cd "$out/src" && apt-get download nexuiz-music hedgewars-data wesnoth-1.16-music 2>&1 |
        grep -v '^W: Download is performed unsandboxed' || true)
    for deb in "$out"/src/*.deb; do
        p=$(basename "$deb"); p=${p%%_*}
        dpkg-deb -x "$deb" "$out/src/$p"
    done
    unzip -qo "$out/src/nexuiz-music/usr/share/games/nexuiz/data/music.pk3" 'sound/cdtracks/*' \
        -d "$out/src/nexuiz-music"
    rates=(44100 48000 96000)
    i=0
    for t in "${tracks[@]}"; do
        p=${t%%:*} f=${t#*:}
        case $p in
            hedgewars-data) src=$out/src/$p/usr/share/games/hedgewars/Data/Music/$f ;;
            wesnoth-1.16-music) src=$out/src/$p/usr/share/games/wesnoth/1.16/data/core/music/$f ;;
            *) src=$out/src/$p/$f ;;
        esac
        r=${rates[$((i % 3))]}
        ffmpeg -nostdin -v error -y -ss 30 -t 10 -i "$src" -af "aresample=$r:resampler=soxr" \
            -c:a flac -sample_fmt s32 -bits_per_raw_sample 24 "$out/$(basename "$f" .ogg).$r.flac"
        i=$((i + 1))
    done
    rm -rf "$out/src"
fi
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
    cargo build --release --quiet --bin capstan
    bins=("${CARGO_TARGET_DIR:-$PWD/target}/release/capstan")
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for bin in "${bins[@]}"; do
    total=0 touched=0
    echo "== $bin"
    for f in "$out"/*.flac; do
        rm -f "$tmp/out.wav"
        "$bin" declick "$f" "$tmp/out.wav" --report "$tmp/report.json" >/dev/null
        n=$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["clicks"] + r["crackle"])' "$tmp/report.json")
        printf '%-28s %3d repairs\n' "$(basename "$f" .flac)" "$n"
        total=$((total + n))
        [ "$n" -eq 0 ] || touched=$((touched + 1))
    done
    echo "total: $total repairs in $touched of ${#tracks[@]} click-free excerpts"
done
