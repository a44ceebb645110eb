#!/usr/bin/env bash
# The archive's catalogue on its two engines (issue 17): the same archive with its catalogue in
# SQLite (`.capstan/catalogue.sqlite`, the default) and on PostgreSQL 15 (moved there by
# `capstan catalogue copy`), the commands users run timed as whole processes, in alternation.
#
#   benches/catalogue_engines.sh [BAGS] [RUNS]      (default 2000 bags, 3 runs; builds release)
#
# The archive: one item ingested (a 1 s stereo 48 kHz/16-bit take, profile dat: its master and QC report),
# copied to BAGS bags (a catalogue's cost is in its rows, not in the audio). PostgreSQL is
# started here (initdb and pg_ctl as the `postgres` user, in a temporary folder, on a free
# loopback port, fsync on: as a server would run) and stopped after.
# Timed: `capstan verify` (reads every bag and records a fixity check per bag and per file),
# `capstan report --json`, `capstan log --json` (every event), `capstan reindex`.
# Prints each pair, the medians and the median ratio PostgreSQL / SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
bags=${1:-2000}
runs=${2:-3}
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet --bin capstan
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/capstan"
source benches/pg.sh

work=$(mktemp -d /tmp/capstan-engines.XXXXXX)
chmod 755 "$work"
stop() {
    pg_stop
    rm -rf "$work"
}
trap stop EXIT
pg_start "$work/pg"
url=$pg_url

a="$work/sqlite/archive" b="$work/postgres/archive"
mkdir -p "$a"
"$bin" institution --country GB --organisation "Bench" --archive "$a" >/dev/null
ffmpeg -nostdin -v error -f lavfi -i "sine=f=440:sample_rate=48000:duration=1" -ac 2 \
    -c:a pcm_s16le "$work/take.wav"
"$bin" ingest --profile dat --id item-00000 --collection bench --archive "$a" \
    --meta TITLE=bench "$work/take.wav" >/dev/null
for i in $(seq 1 $((bags - 1))); do
    cp -r "$a/bench/item-00000" "$a/bench/$(printf 'item-%05d' "$i")"
done
"$bin" reindex --archive "$a" >/dev/null
mkdir -p "$(dirname "$b")"
cp -r "$a" "$b"
"$bin" catalogue copy --to "$url" --schema bench_archive --archive "$b"
sync

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
timed() { # prints the seconds a command took (its exit 0 or 1 both count: 1 is a finding)
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>&1 || [ $? -eq 1 ]
    t1=$(now)
    awk "BEGIN {print $t1 - $t0}"
}
pair() { # name, then the command with ARCHIVE where the archive goes
    local name=$1 lite=() post=() ratio=()
    shift
    for i in $(seq 0 "$runs"); do
        x=$(timed "${@/ARCHIVE/$a}")
        y=$(timed "${@/ARCHIVE/$b}")
        if [ "$i" -eq 0 ]; then echo "$name warm-up: SQLite $x s, PostgreSQL $y s"; continue; fi
        r=$(awk "BEGIN {print $y / $x}")
        printf '%s run %d: SQLite %.3f s  PostgreSQL %.3f s  PostgreSQL/SQLite %.2f\n' "$name" "$i" "$x" "$y" "$r"
        lite+=("$x") post+=("$y") ratio+=("$r")
    done
    printf '%s median: SQLite %.3f s  PostgreSQL %.3f s  PostgreSQL/SQLite %.2fx\n' "$name" \
        "$(median "${lite[@]}")" "$(median "${post[@]}")" "$(median "${ratio[@]}")"
}

events() { "$bin" log --json --archive "$1" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
echo "archive: $bags bags, $(find "$a/bench" -path '*/data/*' -type f | wc -l) payload files"
pair verify "$bin" verify ARCHIVE
pair report "$bin" report --json ARCHIVE
pair log "$bin" log --json --archive ARCHIVE
pair reindex "$bin" reindex --archive ARCHIVE
echo "events at the end: SQLite $(events "$a"), PostgreSQL $(events "$b")"
