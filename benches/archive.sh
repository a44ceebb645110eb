#!/usr/bin/env bash
# The benchmarks' archive: >= 2 GB of FLAC masters made by `capstan ingest` (8 items of 10
# minutes, 96 kHz/24-bit stereo, each from its own noise), kept in $BENCH_DIR (default
# /tmp/capstan-verify-bench) so later runs reuse it. Prints the archive's path.
#
#   benches/archive.sh CAPSTAN_BINARY
set -euo pipefail
bin=$1
dir=${BENCH_DIR:-/tmp/capstan-verify-bench}
archive="$dir/archive"
if [ ! -f "$dir/ready" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    "$bin" institution --archive "$archive" --country GB --organisation "Bench Archive" >/dev/null
    for i in 1 2 3 4 5 6 7 8; do
        ffmpeg -nostdin -v error -y \
            -f lavfi -i "anoisesrc=color=pink:amplitude=0.2:duration=600:sample_rate=96000:seed=$i" \
            -f lavfi -i "sine=frequency=$((110 * i)):duration=600:sample_rate=96000" \
            -filter_complex "[0][1]amix=inputs=2:normalize=0,volume=0.8,pan=stereo|c0=c0|c1=0.9*c0" \
            -c:a pcm_s24le "$dir/src.wav"
        "$bin" ingest --profile quarter-inch-half-track-stereo --id "reel-$i" --collection bench \
            --meta TITLE="bench $i" --meta TAPE_SPEED=7.5 --archive "$archive" "$dir/src.wav" >/dev/null
    done
    rm -f "$dir/src.wav"
    touch "$dir/ready"
fi
echo "$archive"
