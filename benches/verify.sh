#!/usr/bin/env bash
# Verification benchmarks (issue 3), on the benchmarks' archive of >= 2 GB of FLAC masters
# (benches/archive.sh, kept in $BENCH_DIR so later runs reuse it). All reads are from the page
# cache (one untimed pass first), for both sides.
#
#   benches/verify.sh [RUNS]      (default 3; needs ffmpeg, flac, sha256sum; builds release)
#
# 1. deep:  `capstan verify --deep ARCHIVE`  vs  `sha256sum -c` of every bag's manifest, then
#           `flac -t` of every master (the three-tool way to learn what --deep tells).
# 2. plain: `capstan verify ARCHIVE`  vs  `sha256sum -c` of every bag's manifest, with the rate
#           in GB/s over the bytes read.
# Runs alternate (A B A B ...) so drift on a shared machine hits both; prints each pair, the
# medians and the median of the per-pair ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/capstan"
archive=$(bash benches/archive.sh "$bin")
bytes=$(du -cb "$archive"/bench/*/data | tail -1 | cut -f1)
masters=("$archive"/bench/*/data/*_pm.flac)
cat "${masters[@]}" "$archive"/bench/*/data/* >/dev/null # into the page cache, for both
echo "archive: ${#masters[@]} masters, $bytes payload bytes"

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
sha_c() { for b in "$archive"/bench/*/; do (cd "$b" && sha256sum --quiet -c manifest-sha256.txt); done; }

pair() { # name, our command, peer function
    local name=$1 ours_cmd=$2 peer_fn=$3 ours=() peer=() ratio=()
    for i in $(seq 0 "$runs"); do
        t0=$(now)
        $ours_cmd >/dev/null
        t1=$(now)
        $peer_fn >/dev/null
        t2=$(now)
        a=$(awk "BEGIN {print $t1 - $t0}") b=$(awk "BEGIN {print $t2 - $t1}")
        if [ "$i" -eq 0 ]; then echo "$name warm-up: ours $a s, peer $b s"; continue; fi
        r=$(awk "BEGIN {print $b / $a}")
        printf '%s run %d: ours %.2f s  peer %.2f s  peer/ours %.2f\n' "$name" "$i" "$a" "$b" "$r"
        ours+=("$a") peer+=("$b") ratio+=("$r")
    done
    local m
    m=$(median "${ours[@]}")
    printf '%s median: ours %.2f s (%.2f GB/s)  peer %.2f s  speed-up %.2fx\n' "$name" "$m" \
        "$(awk "BEGIN {print $bytes / $m / 1e9}")" "$(median "${peer[@]}")" "$(median "${ratio[@]}")"
}

deep_peer() { sha_c && flac -t -s "${masters[@]}"; }
pair deep "$bin verify --no-record --deep $archive" deep_peer
echo "(target: deep >= 2.5x)"
pair plain "$bin verify --no-record $archive" sha_c
echo "(targets: plain >= 3x and >= 1.5 GB/s)"
