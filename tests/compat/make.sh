#!/usr/bin/env bash
# Writes the compatibility archive that tests/compat.rs reads: an archive made by a released
# Capstan (the binary given as $1), kept in the repository so every later version is tested
# against what an earlier one really wrote. Run once per release whose formats we promise to
# read; never regenerate over an existing one.
#   bash tests/compat/make.sh PATH/TO/capstan OUT_DIR
# Needs Debian's python3 with numpy and soundfile (scripts/setup.sh installs them).
set -euo pipefail
capstan=$1
out=$2
[ ! -e "$out" ] || { echo "$out exists: a compatibility archive is never regenerated" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np, soundfile as sf
work = sys.argv[1]
rng = np.random.default_rng(13)
def tone(rate, secs, ch, f=440.0, amp=0.3):
    t = np.arange(int(rate * secs)) / rate
    x = np.stack([amp * np.sin(2 * np.pi * (f * (1 + 0.01 * c)) * t) for c in range(ch)], axis=1)
    return x + 1e-4 * rng.standard_normal(x.shape)
# DAT: a clipped passage on the left channel, a click on the right.
x = tone(48000, 1.0, 2)
x[12000:12400, 0] *= 4.0
x[30000, 1] = 0.95
sf.write(f"{work}/dat.wav", np.clip(x, -1.0, 32767 / 32768), 48000, subtype="PCM_16")
# A lacquer disc with clicks, for a declicked access copy.
x = tone(96000, 0.8, 2, f=330.0)
for p in (9000, 31000, 52000):
    x[p:p + 3, :] += 0.6
sf.write(f"{work}/disc.wav", np.clip(x, -1.0, 1.0 - 2**-23), 96000, subtype="PCM_24")
# Eight tracks, one master per channel.
x = tone(96000, 0.25, 8, f=220.0, amp=0.2)
sf.write(f"{work}/eight.wav", x, 96000, subtype="PCM_24")
PY
a="$out"
"$capstan" ingest --archive "$a" --profile dat --collection tapes --id dat-1 \
    --meta TITLE="A DAT with a clip" --meta ORGANIZATION="Compat Archive" "$work/dat.wav"
"$capstan" ingest --archive "$a" --profile lacquer-disc --collection discs --id disc-1 \
    --meta TITLE="A lacquer disc" "$work/disc.wav"
"$capstan" ingest --archive "$a" --profile half-inch-8-track --collection tapes --id eight-1 \
    --meta TITLE="Eight tracks" --meta TAPE_SPEED=15 "$work/eight.wav"
"$capstan" capture --archive "$a" --profile quarter-inch-half-track-stereo --collection tapes \
    --id cap-1 --device demo --duration 1s --meta TITLE="A captured reel" --meta TAPE_SPEED=7.5
"$capstan" verify --deep "$a" >/dev/null
# An open problem, recorded: a file no manifest lists.
echo "not in the manifest" > "$a/tapes/dat-1/data/stray.txt"
"$capstan" verify --deep "$a" >/dev/null || true
"$capstan" --version > "$a/../made-by.txt"
