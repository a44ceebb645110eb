#!/usr/bin/env python3
"""Table and targets for benches/declick.sh (run with Debian's python3: numpy, soundfile).

    declick_table.py WORK CORPUS FILE...

Reads, per file in WORK/FILE: score.py's JSON for every tool, the detection lists, the
timings, and Capstan's run on the clean original. Besides score.py's figures it computes the
detection scores on *clicks* alone, the same way for every tool: truth = the click events'
regions; detections = every detection except those within 5 ms of a crackle burst (where
make_clicks.py places no clicks), a detection being a hit when it overlaps a click region of
its channel and a click found when a detection overlaps it (score.py's rules, first and last
100 ms excluded as there).
"""
import json
import os
import sys

import numpy as np
import soundfile as sf

work, corpus, files = sys.argv[1], sys.argv[2], sys.argv[3:]
TOOLS = [("capstan", "Capstan"), ("ffmpeg0", "adeclick"), ("ffmpeg1", "adeclick m=s"),
         ("ffmpeg2", "adeclick m=s:t=4")]


def load(path):
    with open(path) as fh:
        return json.load(fh)


def overlaps(regs, a, b):
    return any(s < b and s + n > a for s, n in regs)


def click_scores(truth, det):
    sr, n = truth["sample_rate"], truth["n_samples"]
    edge = int(round(0.1 * sr))
    pad = int(round(0.005 * sr))
    bursts = [(b["start"] - pad, b["start"] + b["length"] + pad) for b in truth["crackle_bursts"]]
    tp = ndet = found = ntrue = 0
    for c in range(truth["n_channels"]):
        clicks = sorted((e["start"], e["length"]) for e in truth["events"]
                        if e["kind"] == "click" and c in e["channels"])
        dl = [(s, L) for s, L in det[c] if L > 0 and s + L > edge and s < n - edge
              and not any(a < s + L and s < b for a, b in bursts)]
        ndet += len(dl)
        tp += sum(overlaps(clicks, s, s + L) for s, L in dl)
        ntrue += len(clicks)
        found += sum(overlaps(dl, s, s + L) for s, L in clicks)
    p = tp / ndet if ndet else float("nan")
    r = found / ntrue if ntrue else float("nan")
    f1 = 2 * p * r / (p + r) if ndet and ntrue and p + r > 0 else 0.0
    return dict(precision=p, recall=r, f1=f1, detections=ndet, hits=tp, found=found, clicks=ntrue)


rows = {}
for f in files:
    d = os.path.join(work, f)
    truth = load(os.path.join(corpus, f, "truth.json"))
    secs = truth["n_samples"] / truth["sample_rate"]
    for key, _ in TOOLS:
        sc = load(os.path.join(d, key + ".score.json"))
        det = load(os.path.join(d, key + ".det.json"))["channels"]
        row = dict(gain_all=sc["gain_all"], gain_clicks=sc["gain_clicks"],
                   snr_out=sc["outside_snr_db"], f1_all=sc["detection"]["f1"],
                   crackle_recall=sc["detection"]["recall_by"].get("crackle", {}).get("recall", float("nan")),
                   **{"click_" + k: v for k, v in click_scores(truth, det).items()})
        if key == "capstan":
            t2 = load(os.path.join(d, "capstan.time.json"))
            t1 = load(os.path.join(d, "capstan1.time.json"))
            row["xrt_core"] = secs / t1["kernel_cpu_s"]
            row["xrt_both"] = secs / t2["kernel_wall_s"]
            row["xrt_io"] = secs / (t1["kernel_wall_s"] + t1["read_s"] + t1["write_s"])
        else:
            # The fastest of the runs (the machine is shared; see declick.sh).
            ts = [load(os.path.join(d, n)) for n in sorted(os.listdir(d))
                  if n.startswith(key + ".time") and n.endswith(".json")]
            row["xrt_core"] = secs / min(t["user_s"] + t["sys_s"] for t in ts)
            row["xrt_both"] = secs / min(t["wall_s"] for t in ts)
        rows[(f, key)] = row
    # Capstan on the clean original: zero repairs, bit-identical samples.
    ct = load(os.path.join(d, "clean.time.json"))
    a = sf.read(os.path.join(d, "clean.wav"), dtype="int32")[0]
    b = sf.read(os.path.join(d, "clean.out.wav"), dtype="int32")[0]
    rows[(f, "clean")] = dict(repairs=ct["repairs"], identical=bool(a.shape == b.shape and np.array_equal(a, b)))


def fmt(v, spec):
    return "n/a" if v != v else format(v, spec)


print()
print("| file | tool | gain whole file dB | gain click regions dB | SNR outside clicks dB "
      "| clicks P / R / F1 | F1 all events | crackle recall | × real time per core (both cores) |")
print("|---|---|---|---|---|---|---|---|---|")
for f in files:
    for key, name in TOOLS:
        r = rows[(f, key)]
        snr = "∞ (untouched)" if r["snr_out"] == float("inf") else fmt(r["snr_out"], ".1f")
        print(f"| {f} | {name} | {r['gain_all']:+.1f} | {r['gain_clicks']:+.1f} | {snr} | "
              f"{r['click_precision']:.3f} / {r['click_recall']:.3f} / {r['click_f1']:.3f} | "
              f"{r['f1_all']:.3f} | {fmt(r['crackle_recall'], '.2f')} | "
              f"{r['xrt_core']:.0f} ({r['xrt_both']:.0f}) |")
print()
print("| file | Capstan on clean.flac: repairs | output bit-identical |")
print("|---|---|---|")
for f in files:
    c = rows[(f, "clean")]
    print(f"| {f} | {c['repairs']} | {'yes' if c['identical'] else 'NO'} |")

mean = lambda vals: float(np.mean(vals))
ffm = [k for k, _ in TOOLS if k != "capstan"]
best_ff = {f: max(rows[(f, k)]["gain_clicks"] for k in ffm) for f in files}
cap = {f: rows[(f, "capstan")] for f in files}
m_click = mean([cap[f]["gain_clicks"] for f in files])
m_best = mean(list(best_ff.values()))
m_all = mean([cap[f]["gain_all"] for f in files])
m_f1 = mean([cap[f]["click_f1"] for f in files])
m_core = mean([cap[f]["xrt_core"] for f in files])
m_both = mean([cap[f]["xrt_both"] for f in files])
ff_core = {k: mean([rows[(f, k)]["xrt_core"] for f in files]) for k in ffm}
best_ff_speed = max(ff_core.values())
print()
print(f"Corpus means, Capstan: click-region gain {m_click:+.1f} dB, whole-file gain {m_all:+.1f} dB, "
      f"click F1 {m_f1:.3f}, {m_core:.0f}× real time per core ({m_both:.0f}× on both cores, "
      f"{mean([cap[f]['xrt_io'] for f in files]):.0f}× one thread with WAV I/O)")
print("ffmpeg per-core × real time: " + ", ".join(f"{n} {ff_core[k]:.1f}" for k, n in TOOLS if k in ff_core)
      + f"; mean of the best setting's click-region gain per file {m_best:+.1f} dB")
checks = []
for f in files:
    checks.append((f"{f}: click-region gain {cap[f]['gain_clicks']:+.1f} ≥ best adeclick {best_ff[f]:+.1f}",
                   cap[f]["gain_clicks"] >= best_ff[f]))
    checks.append((f"{f}: whole-file gain {cap[f]['gain_all']:+.1f} ≥ 0", cap[f]["gain_all"] >= 0))
checks.append((f"mean click-region gain {m_click:+.1f} ≥ best adeclick's mean + 5 = {m_best + 5:+.1f}",
               m_click >= m_best + 5))
checks.append((f"mean whole-file gain {m_all:+.1f} ≥ +12", m_all >= 12))
for f in files:
    checks.append((f"{f}: click F1 {cap[f]['click_f1']:.3f} ≥ 0.9", cap[f]["click_f1"] >= 0.9))
for f in files:
    c = rows[(f, "clean")]
    checks.append((f"{f} clean: {c['repairs']} repairs, bit-identical", c["repairs"] == 0 and c["identical"]))
checks.append((f"speed {m_core:.0f}× real time per core ≥ 100×", m_core >= 100))
checks.append((f"speed {m_core:.0f}× ≥ 20 × fastest adeclick setting ({20 * best_ff_speed:.0f}×)",
               m_core >= 20 * best_ff_speed))
print()
for text, ok in checks:
    print(f"{'PASS' if ok else 'FAIL'}  {text}")
sys.exit(0 if all(ok for _, ok in checks) else 1)
