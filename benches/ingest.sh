#!/usr/bin/env bash
# Ingest benchmark (issue 2): `capstan ingest` of a 10-minute 96 kHz/24-bit stereo WAV against
# the three-tool peer on the same file in the same run: `flac -5` followed by `sha256sum` of
# the source and of the FLAC. Runs alternate (A B A B ...) so drift on a shared machine hits
# both; prints each pair's times, the medians and the median of the per-pair ratios.
#
#   benches/ingest.sh [RUNS]        (default 5; needs ffmpeg, flac, sha256sum; builds release)
#
# Ours does more than the peer: it also analyses the take (EBU R128 loudness, true peak,
# clipping, silence), decodes the master back to prove it bit-exact, writes the bag and fsyncs.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
bin="$PWD/target/release/capstan"
work=$(mktemp -d "${TMPDIR:-/tmp}/capstan-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
src="$work/src.wav"
# Programme-like material: pink noise over a low tone, the right channel a scaled copy.
ffmpeg -nostdin -v error -y \
    -f lavfi -i "anoisesrc=color=pink:amplitude=0.25:duration=600:sample_rate=96000:seed=42" \
    -f lavfi -i "sine=frequency=220:duration=600:sample_rate=96000" \
    -filter_complex "[0][1]amix=inputs=2:normalize=0,volume=0.8,pan=stereo|c0=c0|c1=0.9*c0" \
    -c:a pcm_s24le "$src"
cat "$src" >/dev/null # into the page cache, for both
now() { date +%s.%N; }
ours=() peer=() ratio=()
for i in $(seq 0 "$runs"); do
    rm -rf "$work/archive" "$work/peer.flac"
    t0=$(now)
    "$bin" ingest --profile quarter-inch-half-track-stereo --id bench --meta TITLE=bench \
        --meta TAPE_SPEED=7.5 --archive "$work/archive" "$src" >/dev/null
    t1=$(now)
    flac -5 -s -f -o "$work/peer.flac" "$src" 2>/dev/null
    sha256sum "$src" "$work/peer.flac" >/dev/null
    t2=$(now)
    a=$(awk "BEGIN {print $t1 - $t0}") b=$(awk "BEGIN {print $t2 - $t1}")
    if [ "$i" -eq 0 ]; then echo "warm-up: ours $a s, peer $b s"; continue; fi
    r=$(awk "BEGIN {print $b / $a}")
    printf 'run %d: ours %.2f s  peer %.2f s  peer/ours %.2f\n' "$i" "$a" "$b" "$r"
    ours+=("$a") peer+=("$b") ratio+=("$r")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
printf 'median: ours %.2f s  peer %.2f s  speed-up (median of peer/ours per pair) %.2fx  (target >= 1.5x)\n' \
    "$(median "${ours[@]}")" "$(median "${peer[@]}")" "$(median "${ratio[@]}")"
