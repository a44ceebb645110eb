#!/usr/bin/env python3
"""Tables and targets for benches/declick.sh (run with Debian's python3: numpy, soundfile).

    declick_table.py WORK SPLIT:NAME:SOURCE...

Reads, per file in WORK/SPLIT/NAME: score.py's JSON and detections (the samples each tool
changed) for Capstan and the three adeclick settings, Capstan's reports, its run on the clean
original and the whole-process CPU times. Besides score.py's figures it computes, the same way
for every tool:
  - click detection on isolated *clicks* (not crackle): a detection is a hit when it overlaps a
    click region of its channel, a click found when a detection overlaps it; detections within
    5 ms of a crackle burst are left out (make_clicks.py puts no clicks there); the first and
    last 100 ms excluded, as in score.py;
  - sample-level precision / recall: changed samples inside the true regions over all changed
    samples, and true samples changed over all true samples (crackle included);
  - for hiss files, the recall of clicks whose peak lies more than 10 dB above the local level
    of the clean recording (its RMS within 10 ms, hiss and music together: truth.json's
    `local_rms_dbfs`), and the recall of all clicks (every click lies 20 dB or more above a
    -60 dBFS hiss).
"""
import json
import os
import sys

import numpy as np
import soundfile as sf

work, entries = sys.argv[1], [e.split(":", 2) for e in sys.argv[2:]]
TOOLS = [("capstan", "Capstan"), ("ffmpeg0", "adeclick"), ("ffmpeg1", "adeclick m=s"),
         ("ffmpeg2", "adeclick m=s:t=4")]
PEERS = [k for k, _ in TOOLS if k != "capstan"]


def load(path):
    with open(path) as fh:
        return json.load(fh)


def overlaps(regs, a, b):
    return any(s < b and s + n > a for s, n in regs)


def click_scores(truth, det, margin_db=None):
    """Click detection scores; with margin_db, recall of the clicks at least that far above
    their local level only."""
    sr, n = truth["sample_rate"], truth["n_samples"]
    edge = int(round(0.1 * sr))
    pad = int(round(0.005 * sr))
    bursts = [(b["start"] - pad, b["start"] + b["length"] + pad) for b in truth["crackle_bursts"]]
    tp = ndet = found = ntrue = 0
    for c in range(truth["n_channels"]):
        clicks = []
        for e in truth["events"]:
            if e["kind"] != "click" or c not in e["channels"]:
                continue
            if e["start"] + e["length"] <= edge or e["start"] >= n - edge:
                continue
            pc = e["per_channel"][str(c)]
            if margin_db is not None and pc["peak_dbfs"] - pc["local_rms_dbfs"] <= margin_db:
                continue
            clicks.append((e["start"], e["length"]))
        dl = [(s, L) for s, L in det[c] if L > 0 and s + L > edge and s < n - edge
              and not any(a < s + L and s < b for a, b in bursts)]
        ndet += len(dl)
        tp += sum(overlaps(clicks, s, s + L) for s, L in dl)
        ntrue += len(clicks)
        found += sum(overlaps(dl, s, s + L) for s, L in clicks)
    p = tp / ndet if ndet else float("nan")
    r = found / ntrue if ntrue else float("nan")
    f1 = 2 * p * r / (p + r) if ndet and ntrue and p + r > 0 else 0.0
    return dict(precision=p, recall=r, f1=f1, detections=ndet, clicks=ntrue)


def sample_scores(truth, det):
    n = truth["n_samples"]
    hit = changed = covered = true = 0
    for c in range(truth["n_channels"]):
        t = np.zeros(n, bool)
        for s, L in truth["channels"][c]:
            t[s:s + L] = True
        m = np.zeros(n, bool)
        for s, L in det[c]:
            m[s:s + L] = True
        hit += int(np.sum(m & t))
        changed += int(np.sum(m))
        covered += int(np.sum(m & t))
        true += int(np.sum(t))
    return (hit / changed if changed else float("nan"), covered / true if true else float("nan"))


rows, meta = {}, {}
for split, name, _src in entries:
    d = os.path.join(work, split, name)
    truth = load(os.path.join(d, "truth.json"))
    meta[name] = dict(split=split, rate=truth["sample_rate"], hiss=name.split(".")[-1] if "." in name else "")
    for key, _ in TOOLS:
        sc = load(os.path.join(d, key + ".score.json"))
        det = load(os.path.join(d, key + ".det.json"))["channels"]
        sp, sr_ = sample_scores(truth, det)
        row = dict(gain_all=sc["gain_all"], gain_clicks=sc["gain_clicks"], snr_out=sc["outside_snr_db"],
                   sample_p=sp, sample_r=sr_,
                   **{"click_" + k: v for k, v in click_scores(truth, det).items()})
        row["loud_recall"] = click_scores(truth, det, 10.0)["recall"]
        row["loud_clicks"] = click_scores(truth, det, 10.0)["clicks"]
        rows[(name, key)] = row
    a = sf.read(os.path.join(d, "clean.wav"), dtype="int32")[0]
    b = sf.read(os.path.join(d, "clean.out.wav"), dtype="int32")[0]
    rep = load(os.path.join(d, "clean.report.json"))
    altered = int(np.sum(a != b)) if a.shape == b.shape else a.size
    rows[(name, "clean")] = dict(repairs=len(rep["repairs"]), altered=altered / a.size,
                                 identical=bool(a.shape == b.shape and np.array_equal(a, b)))
    sp = os.path.join(d, "speed.json")
    if os.path.exists(sp):
        rows[(name, "speed")] = load(sp)


def fmt(v, spec):
    return "n/a" if v != v else format(v, spec)


names = [n for _, n, _ in entries]
splits = [s for s in ("shared", "dev", "heldout") if any(meta[n]["split"] == s for n in names)]
for split in splits:
    files = [n for n in names if meta[n]["split"] == split]
    print(f"\n### {split} ({len(files)} files)\n")
    print("| file | rate | tool | gain whole file dB | gain click regions dB | SNR outside clicks dB "
          "| clicks P / R / F1 | samples P / R |")
    print("|---|---|---|---|---|---|---|---|")
    for f in files:
        for key, tname in TOOLS:
            r = rows[(f, key)]
            snr = "∞" if r["snr_out"] == float("inf") else fmt(r["snr_out"], ".1f")
            print(f"| {f} | {meta[f]['rate'] // 1000} k | {tname} | {r['gain_all']:+.1f} | {r['gain_clicks']:+.1f} "
                  f"| {snr} | {fmt(r['click_precision'], '.2f')} / {fmt(r['click_recall'], '.2f')} / "
                  f"{r['click_f1']:.2f} | {fmt(r['sample_p'], '.2f')} / {fmt(r['sample_r'], '.2f')} |")
    cap = [rows[(f, "capstan")] for f in files]
    best = [max(rows[(f, k)]["gain_clicks"] for k in PEERS) for f in files]
    best_all = [max(rows[(f, k)]["gain_all"] for k in PEERS) for f in files]
    print(f"\n{split} means: Capstan click-region gain {np.mean([c['gain_clicks'] for c in cap]):+.1f} dB "
          f"(best adeclick per file {np.mean(best):+.1f}), whole-file gain "
          f"{np.mean([c['gain_all'] for c in cap]):+.1f} dB (best adeclick {np.mean(best_all):+.1f}), "
          f"click F1 {np.mean([c['click_f1'] for c in cap]):.2f}, sample precision "
          f"{np.nanmean([c['sample_p'] for c in cap]):.2f} / recall {np.nanmean([c['sample_r'] for c in cap]):.2f}")

print("\n| file | Capstan on the click-free original: repairs | samples altered | bit-identical |")
print("|---|---|---|---|")
for f in names:
    c = rows[(f, "clean")]
    print(f"| {meta[f]['split']}/{f} | {c['repairs']} | {c['altered']:.2e} | {'yes' if c['identical'] else 'NO'} |")

hiss60 = [f for f in names if meta[f]["hiss"] == "hiss-60"]
if hiss60:
    print("\n| file (hiss at -60 dBFS) | clicks > 10 dB above local level: found | all clicks: found |")
    print("|---|---|---|")
    for f in hiss60:
        r = rows[(f, "capstan")]
        print(f"| {meta[f]['split']}/{f} | {fmt(r['loud_recall'], '.2f')} of {r['loud_clicks']} "
              f"| {r['click_recall']:.2f} of {r['click_clicks']} |")

speed = [(f, rows[(f, "speed")]) for f in names if (f, "speed") in rows]
if speed:
    print("\n| 96 kHz/24-bit file | capstan declick CPU s | ffmpeg adeclick=m=s CPU s | ratio |")
    print("|---|---|---|---|")
    for f, s in speed:
        print(f"| {meta[f]['split']}/{f} | {s['capstan_cpu_s']:.3f} | {s['ffmpeg_cpu_s']:.2f} "
              f"| {s['ffmpeg_cpu_s'] / s['capstan_cpu_s']:.1f}× |")

checks = []
# Held-out files first (their lines are the targets that count), then the rest.
for f in sorted(names, key=lambda n: meta[n]["split"] != "heldout"):
    r = rows[(f, "capstan")]
    b = max(rows[(f, k)]["gain_clicks"] for k in PEERS)
    where = f"{meta[f]['split']}/{f}"
    checks.append((f"{where}: click-region gain {r['gain_clicks']:+.1f} ≥ best adeclick {b:+.1f}",
                   r["gain_clicks"] >= b))
    checks.append((f"{where}: whole-file gain {r['gain_all']:+.1f} ≥ 0", r["gain_all"] >= 0))
for f in names:
    c = rows[(f, "clean")]
    checks.append((f"{meta[f]['split']}/{f} click-free original: {c['repairs']} repairs, bit-identical",
                   c["repairs"] == 0 and c["identical"]))
for split in splits:
    fs = [f for f in hiss60 if meta[f]["split"] == split and rows[(f, "capstan")]["loud_clicks"]]
    if fs:
        found = sum(rows[(f, "capstan")]["loud_recall"] * rows[(f, "capstan")]["loud_clicks"] for f in fs)
        total = sum(rows[(f, "capstan")]["loud_clicks"] for f in fs)
        checks.append((f"{split}, hiss at -60 dBFS: recall of clicks > 10 dB above the local level "
                       f"{found / total:.2f} ≥ 0.9 ({int(round(found))} of {total})", found / total >= 0.9))
for f, s in speed:
    ratio = s["ffmpeg_cpu_s"] / s["capstan_cpu_s"]
    checks.append((f"{meta[f]['split']}/{f}: whole-process CPU {ratio:.1f}× less than adeclick=m=s ≥ 20×",
                   ratio >= 20))
print()
for text, ok in checks:
    print(f"{'PASS' if ok else 'FAIL'}  {text}")
print(f"\n{sum(ok for _, ok in checks)} of {len(checks)} targets met")
sys.exit(0 if all(ok for _, ok in checks) else 1)
