#!/usr/bin/env bash
# Capture benchmarks (issue 4), through the real ALSA `file`-plugin device (see
# ../shared/alsa/README.md), with analysis, meters and journal running:
# 1. stress: the file device delivers as fast as alsa-lib reads (far faster than real time);
#    for each channel count x rate, 10 s of 24-bit audio; prints the speed (x real time) and the
#    overruns the take recorded. Zero overruns at a speed >= 1x means the pipeline sustains it.
# 2. real time: 8 ch x 96 kHz x 24-bit fed through a named pipe at real-time pace for 20 s;
#    prints the CPU the capture used while capturing (not the finishing after), in % of a core.
#
#   benches/capture.sh        (builds release; needs python3 and libasound2)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/capstan"
work=$(mktemp -d "${TMPDIR:-/tmp}/capstan-capture-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/xdg/alsa"
cat >"$work/xdg/alsa/asoundrc" <<'EOF'
pcm.capstan_tape {
    type file
    slave.pcm "null"
    file "/dev/null"
    infile { @func getenv vars [ CAPSTAN_TEST_INFILE ] default "/dev/zero" }
    format "raw"
}
EOF
export XDG_CONFIG_HOME="$work/xdg"

profile() { # channels rate -> path (one master per channel above 8: FLAC's limit)
    local names layout=interleaved
    names=$(seq -s, -f '"T%g"' 1 "$1")
    [ "$1" -le 8 ] || layout=per-channel
    printf '[carrier]\ndescription = "bench"\n[signal]\nsample_rate = %d\nbit_depth = 24\nchannels = [%s]\nlayout = "%s"\n[metadata]\nrequired = []\n' \
        "$2" "$names" "$layout" >"$work/p$1-$2.toml"
    echo "$work/p$1-$2.toml"
}

noise() { # channels rate seconds -> raw S24_LE in 4 bytes
    /usr/bin/python3 - "$@" <<'EOF'
import random, struct, sys
ch, rate, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rng = random.Random(1)
block = b"".join(struct.pack("<i", rng.randint(-(1 << 22), 1 << 22)) for _ in range(ch * 4800))
n = int(rate * secs) * ch * 4
out = sys.stdout.buffer
while n > 0:
    out.write(block[: min(n, len(block))])
    n -= len(block)
EOF
}

echo "stress (file device, as fast as it delivers; 10 s of audio each):"
for spec in "2 48000" "8 96000" "16 96000" "32 96000" "32 192000"; do
    set -- $spec
    noise "$1" "$2" 10 >"$work/in.raw"
    rm -rf "$work/archive"
    out=$(CAPSTAN_TEST_INFILE="$work/in.raw" "$bin" capture --device capstan_tape \
        --profile "$(profile "$1" "$2")" --id b --duration 10s --archive "$work/archive" 2>&1 >/dev/null || true)
    gaps=$(/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['takes'][0]['capture']['gaps']))" \
        "$work/archive/default/b/data/b.qc.json" 2>/dev/null || echo "?")
    line=$(echo "$out" | grep "take ended" | sed 's/.*; //' || echo "$out" | tail -1)
    printf '  %2d ch x %6d Hz: overruns %s; %s\n' "$1" "$2" "$gaps" "$line"
done

echo "real time (8 ch x 96 kHz x 24-bit through a pipe at real-time pace, 20 s):"
noise 8 96000 20 >"$work/rt.raw"
mkfifo "$work/rt.fifo"
rm -rf "$work/archive"
# One period = 128 frames x 8 ch x 4 bytes = 4096 bytes = one atomic pipe write.
/usr/bin/python3 - "$work/rt.raw" "$work/rt.fifo" <<'EOF' &
import sys, time
data = open(sys.argv[1], "rb").read()
rate = 96000 * 8 * 4
with open(sys.argv[2], "wb", buffering=0) as f:
    t0 = time.monotonic()
    for i in range(0, len(data), 4096):
        due = t0 + i / rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        f.write(data[i:i + 4096])
EOF
CAPSTAN_TEST_INFILE="$work/rt.fifo" "$bin" capture --device capstan_tape --buffer 128 \
    --profile "$(profile 8 96000)" --id rt --duration 20s --archive "$work/archive" 2>&1 >/dev/null |
    grep "take ended" | sed 's/.*; /  /'
wait
