#!/usr/bin/env bash
# Fixity across machines (issue 17): the shared catalogue on a real PostgreSQL 15 (Debian's,
# started here as the `postgres` user in a temporary folder on a free loopback port, default
# settings, fsync on), and the queue's cost against plain verification.
#
#   benches/fixity_cluster.sh [RUNS] [FILES]      (defaults 3 and 10000000)
#
# 1. Registry: FILES synthetic file rows (one archive, 7 files a bag, last proofs spread over
#    120 days, a tenth never proved): its size per million files.
# 2. Scheduling a day's work (FILES / 90 files at a 90-day period): `capstan schedule` as a
#    whole process.
# 3. Claiming: one `capstan worker --until-idle --batch 1000` over that day's work (the
#    synthetic files are not on disk, so each check is quick and every claim and record is
#    the database's): the median and longest claim of 1,000 files.
# 4. Throughput on the benchmarks' archive (benches/archive.sh, 2 GB of masters, page cache
#    warm): 1 and 2 `capstan worker --until-idle` processes against `capstan verify --jobs 1`
#    and `--jobs 2` over the same files, runs alternating. Target: the queue costs at most 10 %.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
files=${2:-10000000}
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh >/dev/null
cargo build --release --quiet --bin capstan
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/capstan"
source benches/pg.sh
[ -w /dev/null ] && [ "$(stat -c %a /dev/null)" = 666 ] || { echo "fixity_cluster: /dev/null must be writable by everyone" >&2; exit 2; }
pg=$(mktemp -d /tmp/capstan-pg-bench.XXXXXX)
cleanup() {
    pg_stop
    rm -rf "$pg"
}
trap cleanup EXIT
pg_start "$pg" -c shared_buffers=1GB -c max_wal_size=4GB
psql() { "$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U capstan "$@"; }
export CAPSTAN_CATALOGUE=$pg_url
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port; $(nproc) cores"

# 1. The registry: the schema made by capstan itself, then the synthetic rows.
"$bin" report --catalogue "$CAPSTAN_CATALOGUE" >/dev/null || true
t0=$(now)
psql -d bench -c "INSERT INTO archives (root) VALUES ('/nonexistent/synthetic-archive');
INSERT INTO files (archive_id, item, bag_path, path, bytes, sha256, status, changed, last_checked, last_outcome, last_detail)
SELECT 1, 'c/' || (i / 7), 'c/' || (i / 7), 'data/f' || i || '.flac', 100000000,
  md5(i::text) || md5((i + 1)::text), 'present', now() - interval '200 days',
  CASE WHEN i % 10 = 0 THEN NULL ELSE now() - (i % 120) * interval '1 day' - (i % 86400) * interval '1 second' END,
  CASE WHEN i % 10 = 0 THEN NULL ELSE 'pass' END, NULL
FROM generate_series(1, $files) i;
ANALYZE;"
t1=$(now)
size=$(psql -d bench -At -c "SELECT pg_total_relation_size('files')")
printf 'registry: %d file rows inserted in %.1f s; files table with its indexes %.0f MB, %.0f MB per million files\n' \
    "$files" "$(awk "BEGIN {print $t1 - $t0}")" "$(awk "BEGIN {print $size / 1e6}")" "$(awk "BEGIN {print $size / 1e6 / ($files / 1e6)}")"

# 2. A day's work.
day=$(( files / 90 + 1 ))
t0=$(now)
"$bin" schedule --period 90days --limit "$day" --json >"$pg/schedule.json"
t1=$(now)
printf 'schedule a day'"'"'s work (%d files of %d): %.2f s  %s\n' "$day" "$files" "$(awk "BEGIN {print $t1 - $t0}")" "$(cat "$pg/schedule.json")"

# 3. Claims of 1,000.
t0=$(now)
"$bin" worker --until-idle --batch 1000 --json >"$pg/worker.json" 2>/dev/null || true
t1=$(now)
python3 - "$pg/worker.json" "$(awk "BEGIN {print $t1 - $t0}")" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))
print(f"claim 1,000 of {w['files']} due files: {w['claims']} claims, median {w['claim_ms_median']:.1f} ms, longest {w['claim_ms_max']:.1f} ms "
      f"(target: median < 50 ms); the whole day's work recorded in {float(sys.argv[2]):.1f} s")
PY

# 4. Throughput against plain verification on the benchmarks' archive.
archive=$(bash benches/archive.sh "$bin")
cat "$archive"/bench/*/data/* >/dev/null
psql -d bench -c "TRUNCATE work, events, files, archives RESTART IDENTITY CASCADE; TRUNCATE workers;"
"$bin" reindex --catalogue "$CAPSTAN_CATALOGUE" --archive "$archive" >/dev/null
payload=$(psql -d bench -At -c "SELECT count(*) || ' files, ' || sum(bytes) || ' bytes' FROM files")
echo "archive: $payload in the registry"
requeue() { psql -d bench -c "TRUNCATE work; UPDATE files SET last_checked = NULL;" && "$bin" schedule >/dev/null; }
for n in 1 2; do
    ours=() peer=() ratio=()
    for i in $(seq 1 "$runs"); do
        requeue
        t0=$(now)
        pids=()
        for _ in $(seq 1 "$n"); do "$bin" worker --until-idle --batch 4 >/dev/null 2>&1 & pids+=($!); done
        for p in "${pids[@]}"; do wait "$p"; done
        t1=$(now)
        "$bin" verify --jobs "$n" --no-record "$archive" >/dev/null
        t2=$(now)
        a=$(awk "BEGIN {print $t1 - $t0}") b=$(awk "BEGIN {print $t2 - $t1}") r=$(awk "BEGIN {print $a / $b}")
        left=$(psql -d bench -At -c "SELECT count(*) FROM work")
        [ "$left" = 0 ] || { echo "fixity_cluster: $left checks left queued" >&2; exit 1; }
        printf '%d worker(s) run %d: workers %.2f s  verify --jobs %d %.2f s  workers/verify %.3f\n' "$n" "$i" "$a" "$n" "$b" "$r"
        ours+=("$a") peer+=("$b") ratio+=("$r")
    done
    printf '%d worker(s) median: %.2f s  verify --jobs %d %.2f s  ratio %.3f (target <= 1.10)\n' \
        "$n" "$(median "${ours[@]}")" "$n" "$(median "${peer[@]}")" "$(median "${ratio[@]}")"
done
