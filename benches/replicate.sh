#!/usr/bin/env bash
# Replica benchmarks (issue 16), on the benchmarks' archive (benches/archive.sh: >= 2 GB of
# FLAC masters) and one SeaweedFS S3 server (`weed mini`, scripts/setup.sh) on loopback, with
# Debian's rclone as the peer in the same run (installed if missing):
#
#   benches/replicate.sh [RUNS]      (default 3)
#
# 1. replicate: `capstan replicate` (every PUT proved by the server against the manifest's
#    SHA-256) vs `rclone copy ARCHIVE s3:bucket/prefix`, each into a fresh prefix per run.
# 2. audit:     `capstan verify --replica` (a listing and a HEAD per object, stored checksums
#    compared with the manifests) vs `rclone check --download` (reads every object back),
#    against the same copy; with the bytes the server sent for each (its own metric).
# 3. deep audit: `capstan verify --replica --deep` vs the same `rclone check --download`.
# (rclone 1.60's S3 client refuses to start when AWS_CA_BUNDLE is set, as it is on some
# machines; it is unset for rclone only: the server is plain HTTP on loopback.)
# Whole processes, wall time; runs alternate (A B A B ...); prints each pair, the medians and
# the median of the per-pair ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v rclone >/dev/null || ! command -v curl >/dev/null || ! [ -x /usr/bin/time ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone curl time >/dev/null
fi
tools_bin=$(scripts/setup.sh)
export PATH="$tools_bin:$PATH"
cargo build --release --quiet --bin capstan
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/capstan"
source_archive=$(bash benches/archive.sh "$bin")
work=$(mktemp -d)
ports=($(python3 -c 'import socket
ss=[socket.socket() for _ in range(11)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))'))
cleanup() {
    kill "$weed" 2>/dev/null || true
    wait "$weed" 2>/dev/null || true
    for p in "${ports[@]}"; do rm -f "${TMPDIR:-/tmp}"/seaweedfs-*-"$p".sock; done
    rm -rf "$work"
}
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
echo '{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"bench-secret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}' >"$work/s3.json"
mkdir -p "$work/data"
weed mini -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$work/data" -bucket=copies -s3.config="$work/s3.json" \
    -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -volume.port="${ports[2]}" \
    -volume.port.grpc="${ports[3]}" -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
    -s3.port="${ports[6]}" -s3.port.grpc="${ports[7]}" -admin.port="${ports[8]}" \
    -admin.port.grpc="${ports[9]}" -metricsPort="${ports[10]}" -admin.ui=false -webdav=false \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false >"$work/weed.log" 2>&1 &
weed=$!
endpoint="http://127.0.0.1:${ports[6]}"
until curl -s -o /dev/null "$endpoint/" && curl -s -o /dev/null "http://127.0.0.1:${ports[4]}/"; do sleep 0.2; done
export RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other RCLONE_CONFIG_S3_ENDPOINT="$endpoint" \
    RCLONE_CONFIG_S3_ACCESS_KEY_ID=bench RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=bench-secret \
    RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true
# A copy of the archive's bags (not its .capstan) for each run's fresh replica settings.
archive="$work/archive"
cp -a "$source_archive" "$archive"
bags_bytes=$(du -cb "$archive"/bench | tail -1 | cut -f1)
objects=$(find "$archive/bench" -type f | wc -l)
cat "$archive"/bench/*/data/* >/dev/null # into the page cache, for both
echo "archive: $objects files, $bags_bytes bytes; SeaweedFS $(weed version 2>/dev/null | head -1 | awk '{print $3}') at $endpoint; $(rclone version | head -1)"

sent() { curl -s "http://127.0.0.1:${ports[10]}/metrics" | awk '/^SeaweedFS_s3_bucket_traffic_sent_bytes_total/ {s += $2} END {printf "%.0f\n", s}'; }
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
settings() { # a fresh replica named r$1 at prefix capstan-$1
    printf '[[replica]]\nname = "r%s"\nurl = "s3://copies/capstan-%s"\nendpoint = "%s"\npath_style = true\n' \
        "$1" "$1" "$endpoint" >"$archive/.capstan/archive.toml"
}
rep_ours=() rep_peer=() rep_ratio=()
for i in $(seq 1 "$runs"); do
    settings "$i"
    t0=$(now)
    "$bin" replicate --archive "$archive" >"$work/replicate.txt"
    t1=$(now)
    env -u AWS_CA_BUNDLE rclone copy "$archive/bench" "s3:copies/rclone-$i/bench"
    t2=$(now)
    a=$(awk "BEGIN {print $t1 - $t0}") b=$(awk "BEGIN {print $t2 - $t1}") r=$(awk "BEGIN {print $b / $a}")
    printf 'replicate run %d: capstan %.2f s  rclone copy %.2f s  rclone/capstan %.2f\n' "$i" "$a" "$b" "$r"
    rep_ours+=("$a") rep_peer+=("$b") rep_ratio+=("$r")
done
tail -1 "$work/replicate.txt"
printf 'replicate median: capstan %.2f s (%.0f MB/s)  rclone copy %.2f s  ratio %.2fx\n' "$(median "${rep_ours[@]}")" \
    "$(awk "BEGIN {print $bags_bytes / $(median "${rep_ours[@]}") / 1e6}")" "$(median "${rep_peer[@]}")" "$(median "${rep_ratio[@]}")"

aud_ours=() aud_peer=() aud_ratio=()
settings 1
for i in $(seq 1 "$runs"); do
    s0=$(sent); t0=$(now)
    "$bin" verify --replica r1 --no-record --archive "$archive" >"$work/audit.txt"
    t1=$(now); s1=$(sent)
    env -u AWS_CA_BUNDLE rclone check --download "$archive/bench" "s3:copies/rclone-1/bench" 2>"$work/check.txt"
    t2=$(now); s2=$(sent)
    a=$(awk "BEGIN {print $t1 - $t0}") b=$(awk "BEGIN {print $t2 - $t1}") r=$(awk "BEGIN {print $b / $a}")
    printf 'audit run %d: capstan %.3f s, %d bytes sent by the server  rclone check --download %.2f s, %d bytes  ratio %.1fx\n' \
        "$i" "$a" "$((s1 - s0))" "$b" "$((s2 - s1))" "$r"
    aud_ours+=("$a") aud_peer+=("$b") aud_ratio+=("$r") ours_bytes=$((s1 - s0)) peer_bytes=$((s2 - s1))
done
tail -1 "$work/audit.txt"
printf 'audit median: capstan %.3f s  rclone check --download %.2f s  speed-up %.1fx; bytes moved: %d vs %d (%.4f %%)\n' \
    "$(median "${aud_ours[@]}")" "$(median "${aud_peer[@]}")" "$(median "${aud_ratio[@]}")" "$ours_bytes" "$peer_bytes" \
    "$(awk "BEGIN {print 100 * $ours_bytes / ($peer_bytes > 0 ? $peer_bytes : 1)}")"
echo "(targets: audit >= 20x faster and < 0.1 % of the bytes moved)"

# 3. deep audit: `capstan verify --replica --deep` (every object read back in ranged GETs, its
#    SHA-256 and, for FLAC, every frame's CRC and the audio MD5 checked) vs the same
#    `rclone check --download` (reads every object back and compares it with the local file);
#    with the peak memory of each (GNU time's maximum resident set size).
#    For reference, the same checks on the archive's own files: `capstan verify --deep`.
deep_ours=() deep_peer=() deep_ratio=() deep_local=()
for i in $(seq 1 "$runs"); do
    l0=$(now)
    "$bin" verify --deep --no-record "$archive" >/dev/null
    l1=$(now)
    deep_local+=("$(awk "BEGIN {print $l1 - $l0}")")
    s0=$(sent); t0=$(now)
    /usr/bin/time -f %M -o "$work/deep.rss" "$bin" verify --replica r1 --deep --no-record --archive "$archive" >"$work/deep.txt"
    t1=$(now); s1=$(sent)
    env -u AWS_CA_BUNDLE /usr/bin/time -f %M -o "$work/check.rss" rclone check --download "$archive/bench" "s3:copies/rclone-1/bench" 2>"$work/check.txt"
    t2=$(now); s2=$(sent)
    a=$(awk "BEGIN {print $t1 - $t0}") b=$(awk "BEGIN {print $t2 - $t1}") r=$(awk "BEGIN {print $b / $a}")
    printf 'deep run %d: capstan %.2f s, %d bytes, %d MiB peak  rclone check --download %.2f s, %d bytes, %d MiB peak  ratio %.2fx\n' \
        "$i" "$a" "$((s1 - s0))" "$(($(tail -1 "$work/deep.rss") / 1024))" "$b" "$((s2 - s1))" \
        "$(($(tail -1 "$work/check.rss") / 1024))" "$r"
    deep_ours+=("$a") deep_peer+=("$b") deep_ratio+=("$r") deep_bytes=$((s1 - s0))
done
tail -1 "$work/deep.txt"
printf 'deep median: capstan %.2f s (%.0f MB/s, %d bytes read back of %d)  rclone check --download %.2f s  ratio %.2fx; capstan verify --deep of the local archive %.2f s\n' \
    "$(median "${deep_ours[@]}")" "$(awk "BEGIN {print $bags_bytes / $(median "${deep_ours[@]}") / 1e6}")" \
    "$deep_bytes" "$bags_bytes" "$(median "${deep_peer[@]}")" "$(median "${deep_ratio[@]}")" "$(median "${deep_local[@]}")"
