#!/usr/bin/env bash
# Bulk-migration benchmark (issue 14): `capstan ingest-batch` of an inventory of ITEMS items
# (one take each: SECONDS s of 96 kHz/24-bit stereo) against what a user would write without
# it, a shell loop of single `capstan ingest` calls over the same inventory, each into a fresh
# archive, in turns (A B A B ...) so drift on a shared machine hits both. Prints each pair's
# wall times and peak RSS (GNU time), the medians and the median of the per-pair ratios.
# Then the memory check: ingest-batch's peak RSS for 200 and for 2,000 one-second items.
#
#   benches/batch.sh [RUNS] [ITEMS] [SECONDS]    (defaults 3 200 30; builds release; needs
#                                                  ffmpeg and GNU time; MEMORY_ITEMS="200 2000"
#                                                  sets the memory check's sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3} items=${2:-200} seconds=${3:-30}
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/capstan"
work=$(mktemp -d "${TMPDIR:-/tmp}/capstan-batch-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# One source per length, hard-linked once per item: every item reads and encodes its own file
# (the same bytes, from the page cache for both contenders).
source_of() { # SECONDS -> path
    local src="$work/src-$1.wav"
    [ -f "$src" ] || ffmpeg -nostdin -v error -y \
        -f lavfi -i "anoisesrc=color=pink:amplitude=0.25:duration=$1:sample_rate=96000:seed=42" \
        -f lavfi -i "sine=frequency=220:duration=$1:sample_rate=96000" \
        -filter_complex "[0][1]amix=inputs=2:normalize=0,volume=0.8,pan=stereo|c0=c0|c1=0.9*c0" \
        -c:a pcm_s24le "$src"
    echo "$src"
}
inventory() { # NAME ITEMS SECONDS -> folder holding inventory.csv and the sources
    local dir="$work/$1" src
    src=$(source_of "$3")
    mkdir -p "$dir"
    echo "id,collection,profile,file,TITLE,TAPE_SPEED" >"$dir/inventory.csv"
    for i in $(seq -w 1 "$2"); do
        ln "$src" "$dir/reel-$i.wav"
        echo "reel-$i,migrated,quarter-inch-half-track-stereo,reel-$i.wav,Reel $i,7.5" >>"$dir/inventory.csv"
    done
    cat "$src" >/dev/null
    echo "$dir"
}
fresh_archive() {
    rm -rf "$work/archive"
    "$bin" institution --archive "$work/archive" --country GB --organisation "Bench Archive" >/dev/null
}
batch() { "$bin" ingest-batch "$1/inventory.csv" --archive "$work/archive" >/dev/null 2>&1; }
loop() { # the peer: one `capstan ingest` per row, as a shell loop over the same inventory
    tail -n +2 "$1/inventory.csv" | while IFS=, read -r id collection profile file title speed; do
        "$bin" ingest --profile "$profile" --id "$id" --collection "$collection" \
            --meta "TITLE=$title" --meta "TAPE_SPEED=$speed" --archive "$work/archive" \
            "$1/$file" >/dev/null
    done
}
timed() { # LABEL FUNCTION ARGS... -> "wall_s peak_kib" (the peak of the largest process)
    local out="$work/time.$1"
    export -f batch loop
    export bin work
    /usr/bin/time -f "%e %M" -o "$out" bash -c "$2 \"\$@\"" _ "${@:3}"
    cat "$out"
}

inv=$(inventory main "$items" "$seconds")
echo "$items items of $seconds s 96 kHz/24-bit stereo; $(nproc) cores"
ours=() peer=() ratio=()
for i in $(seq 0 "$runs"); do
    fresh_archive; read -r a am < <(timed batch batch "$inv")
    n=$(find "$work/archive/migrated" -mindepth 1 -maxdepth 1 -type d | wc -l)
    [ "$n" -eq "$items" ] || { echo "ingest-batch archived $n of $items" >&2; exit 1; }
    fresh_archive; read -r b bm < <(timed loop loop "$inv")
    n=$(find "$work/archive/migrated" -mindepth 1 -maxdepth 1 -type d | wc -l)
    [ "$n" -eq "$items" ] || { echo "the loop archived $n of $items" >&2; exit 1; }
    if [ "$i" -eq 0 ]; then echo "warm-up: ingest-batch $a s, loop $b s"; continue; fi
    r=$(awk "BEGIN {printf \"%.3f\", $b / $a}")
    echo "pair $i: ingest-batch $a s ($am KiB peak), loop $b s ($bm KiB peak), speed-up $r"
    ours+=("$a") peer+=("$b") ratio+=("$r")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "median: ingest-batch $(median "${ours[@]}") s, loop $(median "${peer[@]}") s, speed-up $(median "${ratio[@]}")x (target >= 1.3x)"

echo "peak memory of ingest-batch against the number of items (1-second items):"
for n in ${MEMORY_ITEMS:-200 2000}; do
    small=$(inventory "mem-$n" "$n" 1)
    fresh_archive; read -r t m < <(timed "mem$n" batch "$small")
    echo "  $n items: $m KiB peak RSS, $t s"
done
