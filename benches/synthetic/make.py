#!/usr/bin/python3
"""Click-free synthetic test material for the declicker (issue 15): the waveforms generators,
synthesisers and test-signal sources make, drawn at random from a seed.

    make.py OUT SEED COUNT [KIND,KIND,...]

Each file is 2 s of stereo FLAC (the second channel the same generator 1/7 s later) at 44.1,
48 or 96 kHz and 16 or 24 bits; OUT/meta.json describes each. The same seed gives the same
files. Kinds: square, pulse (duty 2-25 %), saw and tri (naive: full-band resets and corners),
blsquare and blsaw (band-limited, Gibbs ringing at each edge), square_steps (two squares
summed), dithered_square, gated_sine (tones switched on and off mid-cycle), chirp (log sweep
20 Hz to 0.45 of the rate), bursts (tone bursts), gated_noise, dtmf, hum (mains with 11
harmonics); fundamentals 20 Hz-5 kHz, levels -50 to -1 dBFS.
"""
import json
import os
import sys

import numpy as np
import soundfile as sf

KINDS = ["square", "pulse", "saw", "tri", "blsquare", "blsaw", "gated_sine", "chirp", "bursts",
         "gated_noise", "dtmf", "hum", "dithered_square", "square_steps"]


def main():
    out, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    kinds = sys.argv[4].split(",") if len(sys.argv) > 4 else KINDS
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)

    def naive(kind, f, t, duty=0.5):
        ph = (f * t + rng.random()) % 1.0
        if kind == "square":
            return np.where(ph < 0.5, 1.0, -1.0)
        if kind == "pulse":
            return np.where(ph < duty, 1.0, -1.0)
        if kind == "saw":
            return 2 * ph - 1
        return 1 - 4 * np.abs(ph - 0.5)  # tri

    def band_limited(kind, f, t, rate):
        x = np.zeros_like(t)
        k, ph = 1, rng.random() * 2 * np.pi
        while k * f < rate / 2 * 0.9:
            if kind == "square" and k % 2 == 1:
                x += np.sin(k * (2 * np.pi * f * t + ph)) / k
            if kind == "saw":
                x += (-1) ** k * np.sin(k * (2 * np.pi * f * t + ph)) / k
            k += 1
        return x / np.max(np.abs(x))

    meta = {}
    for n in range(count):
        rate = int(rng.choice([44100, 48000, 96000]))
        bits = int(rng.choice([16, 24]))
        dur = 2.0 + 1 / 7
        N = int(dur * rate)
        t = np.arange(N) / rate
        kind = str(rng.choice(kinds))
        f = float(np.exp(rng.uniform(np.log(20), np.log(5000))))
        amp = 10 ** (rng.uniform(-50, -1) / 20)
        desc = f"{kind} f={f:.0f} Hz"
        if kind in ("square", "saw", "tri", "dithered_square"):
            x = naive(kind.replace("dithered_", ""), f, t)
        elif kind == "pulse":
            d = float(rng.choice([0.02, 0.05, 0.1, 0.25]))
            x = naive("pulse", f, t, d)
            desc += f" duty={d}"
        elif kind == "blsquare":
            x = band_limited("square", f, t, rate)
        elif kind == "blsaw":
            x = band_limited("saw", f, t, rate)
        elif kind == "square_steps":
            x = naive("square", f, t) * 0.6 + naive("square", f * float(rng.uniform(1.2, 3)), t) * 0.4
        elif kind == "gated_sine":
            x = np.zeros(N)
            i = 0
            while i < N:
                on, off = int(rng.uniform(0.05, 0.4) * rate), int(rng.uniform(0.02, 0.3) * rate)
                ff = float(np.exp(rng.uniform(np.log(50), np.log(15000))))
                seg = x[i:i + on]
                seg[:] = np.sin(2 * np.pi * ff * t[:len(seg)] + rng.random() * 6.28) \
                    * 10 ** (rng.uniform(-30, 0) / 20)
                i += on + off
        elif kind == "chirp":
            f0, f1 = 20, min(20000, rate / 2 * 0.9)
            x = np.sin(2 * np.pi * f0 * dur / np.log(f1 / f0) * (np.exp(t / dur * np.log(f1 / f0)) - 1))
        elif kind == "bursts":
            x = np.where((t * 10) % 1 < 0.1, np.sin(2 * np.pi * f * t), 0.0)
        elif kind == "gated_noise":
            x = np.where((t * 4) % 1 < 0.5, rng.standard_normal(N) * 0.25, 0.0)
        elif kind == "dtmf":
            lo, hi = rng.choice([697, 770, 852, 941]), rng.choice([1209, 1336, 1477])
            x = np.where((t * 5) % 1 < 0.5, np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t), 0.0) / 2
        else:  # hum
            w = 2 * np.pi * float(rng.choice([50, 60])) * t
            x = sum(np.sin(k * w + rng.random() * 6) * rng.uniform(0.1, 1) / k for k in range(1, 12))
            x = x / np.max(np.abs(x))
        x = x * amp
        q = 2 ** (bits - 1)
        if kind == "dithered_square":
            x = x + (rng.random(N) - rng.random(N)) / q  # TPDF dither of one step
        y = np.clip(np.round(x * q), -q, q - 1).astype(np.int32)
        two = np.stack([y[:2 * rate], y[rate // 7:rate // 7 + 2 * rate]], axis=1)
        name = f"{n:03d}_{kind}_{rate // 1000}k{bits}"
        sf.write(f"{out}/{name}.flac", two << (32 - bits), rate, subtype=f"PCM_{bits}")
        meta[name] = f"{desc}, {20 * np.log10(amp):.0f} dBFS, {rate} Hz, {bits}-bit"
    with open(f"{out}/meta.json", "w") as fh:
        json.dump(meta, fh, indent=1)


if __name__ == "__main__":
    main()
