#!/usr/bin/env bash
# Declicker benchmark (issue 5): Capstan's declicker against ffmpeg's `adeclick` on the click
# corpus (/work/shared/corpus: four 96 kHz/24-bit stereo excerpts with clicks added at known
# positions), everything in the same run, every result scored by the corpus's own score.py.
#
#   benches/declick.sh [CORPUS_DIR]      (needs flac, ffmpeg, /usr/bin/time and Debian's
#                                          python3 with numpy and soundfile; builds release)
#
# Per file: Capstan at default sensitivity on degraded.flac (kernel timed on both cores and on
# one), ffmpeg adeclick with defaults, m=s and m=s:t=4 (its detections are the samples it
# changed), and Capstan on clean.flac, which must come out bit-identical with zero repairs.
# Speed: the machine is shared, so every timing is the fastest of $DECLICK_BENCH_RUNS runs
# (default 3), for both tools alike: Capstan's kernel CPU time on one thread (WAV reading and
# writing excluded; with them, the whole process, is reported too) and its wall time on
# rayon's default pool, ffmpeg's CPU time with one filter thread.
# Prints the table, the corpus means and PASS/FAIL for each target; writes the raw figures to
# $DECLICK_BENCH_OUT (default: a temporary directory, removed).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-/work/shared/corpus}
py=/usr/bin/python3
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet --example declick_corpus
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/declick_corpus"
if [ -n "${DECLICK_BENCH_OUT:-}" ]; then
    work=$DECLICK_BENCH_OUT
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/capstan-declick-bench.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
files=(guitar_solo speech_narration drumkit orchestra_loud)
runs=${DECLICK_BENCH_RUNS:-3}
ffmpeg_variants=("adeclick" "adeclick=m=s" "adeclick=m=s:t=4")
for f in "${files[@]}"; do
    d="$work/$f"
    mkdir -p "$d"
    flac -s -d -f -o "$d/clean.wav" "$corpus/$f/clean.flac"
    flac -s -d -f -o "$d/degraded.wav" "$corpus/$f/degraded.flac"
    truth="$corpus/$f/truth.json"
    echo "== $f" >&2
    # Capstan, both cores (rayon's default pool), then one.
    "$bin" "$d/degraded.wav" "$d/capstan.wav" "$d/capstan.det.json" --repeat "$runs" \
        >"$d/capstan.time.json"
    RAYON_NUM_THREADS=1 "$bin" "$d/degraded.wav" "$d/capstan1.wav" "$d/capstan1.det.json" \
        --repeat "$runs" >"$d/capstan1.time.json"
    cmp -s "$d/capstan.wav" "$d/capstan1.wav" || { echo "FAIL: 1 and 2 threads differ on $f" >&2; exit 1; }
    $py "$corpus/score.py" "$d/clean.wav" "$d/degraded.wav" "$d/capstan.wav" "$truth" \
        --detections "$d/capstan.det.json" --json "$d/capstan.score.json" --quiet
    # Capstan on the clean original.
    "$bin" "$d/clean.wav" "$d/clean.out.wav" "$d/clean.det.json" >"$d/clean.time.json"
    # ffmpeg, one filter thread; CPU time from /usr/bin/time.
    for i in "${!ffmpeg_variants[@]}"; do
        v=${ffmpeg_variants[$i]}
        for r in $(seq "$runs"); do
            /usr/bin/time -f '{"wall_s": %e, "user_s": %U, "sys_s": %S}' -o "$d/ffmpeg$i.time$r.json" \
                ffmpeg -nostdin -v error -y -filter_threads 1 -i "$d/degraded.wav" -af "$v" \
                -c:a pcm_s24le "$d/ffmpeg$i.wav"
        done
        $py "$corpus/score.py" "$d/clean.wav" "$d/degraded.wav" "$d/ffmpeg$i.wav" "$truth" \
            --det-from-diff --write-det "$d/ffmpeg$i.det.json" --json "$d/ffmpeg$i.score.json" --quiet
    done
done
$py benches/declick_table.py "$work" "$corpus" "${files[@]}"
