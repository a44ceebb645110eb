#!/usr/bin/env bash
# Capture benchmarks (issue 4), through the real ALSA `file`-plugin device (see
# ../shared/alsa/README.md), with analysis, meters and journal running:
# 1. stress: the file device delivers as fast as alsa-lib reads (far faster than real time);
#    for each channel count x rate, 10 s of 24-bit audio; prints the speed (x real time) and the
#    overruns the take recorded (this device outruns any writer: once it is more than the ring's
#    4 s ahead periods are dropped, so this measures the writer's throughput, not real time);
# 2. sustained: each channel count x rate fed through a named pipe at real-time pace (and one at
#    2x), a 4096-byte period per write: zero overruns there means the pipeline sustains it;
# 3. real time: 8 ch x 96 kHz x 24-bit fed through a named pipe at real-time pace for 20 s;
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

# Writes CH x RATE 24-bit noise (S24_LE in 4 bytes) into a named pipe, one 4096-byte period per
# write (the plugin reads one period per read() and does not retry a short read), at FACTOR
# times real time, for SECS seconds of audio.
pace() { # channels rate seconds factor fifo
    /usr/bin/python3 - "$@" <<'EOF'
import os, random, struct, sys, time
ch, rate, secs, factor, fifo = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rng = random.Random(1)
block = b"".join(struct.pack("<i", rng.randint(-(1 << 22), 1 << 22)) for _ in range(ch * rate // 10))
total = int(rate * secs) * ch * 4
speed = rate * ch * 4 * factor
fd = os.open(fifo, os.O_WRONLY)
t0 = time.monotonic()
sent = i = 0
try:
    while sent < total:
        d = t0 + sent / speed - time.monotonic()
        if d > 0.002:
            time.sleep(d)
        os.write(fd, block[i:i + 4096])
        sent += 4096
        i = (i + 4096) % len(block)
except BrokenPipeError:
    pass
EOF
}

# One paced capture; prints its overruns and the CPU it used while capturing.
paced() { # channels rate seconds factor
    local fifo="$work/paced.fifo" period=$((4096 / ($1 * 4)))
    rm -rf "$work/archive" "$fifo"
    mkfifo "$fifo"
    pace "$1" "$2" "$3" "$4" "$fifo" &
    local out gaps
    out=$(CAPSTAN_TEST_INFILE="$fifo" "$bin" capture --device capstan_tape --buffer "$period" \
        --profile "$(profile "$1" "$2")" --id p --duration "$3"s --archive "$work/archive" 2>&1 >/dev/null || true)
    wait
    gaps=$(/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['takes'][0]['capture']['gaps']))" \
        "$work/archive/default/p/data/p.qc.json" 2>/dev/null || echo "?")
    printf '  %2d ch x %6d Hz at %sx real time (%d-frame periods): overrun gaps %s; %s\n' \
        "$1" "$2" "$4" "$period" "$gaps" "$(echo "$out" | grep "take ended" | sed 's/.*; //')"
}

echo "sustained (paced through a pipe, one 4096-byte period per write; 10 s of audio each):"
for spec in "8 96000 1" "16 96000 1" "32 96000 1" "32 192000 1" "32 192000 2" "32 192000 4" "64 192000 1" "64 192000 2"; do
    set -- $spec
    paced "$1" "$2" 10 "$3"
done

echo "real time (8 ch x 96 kHz x 24-bit, 128-frame periods, 20 s):"
paced 8 96000 20 1
