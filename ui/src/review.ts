// The review view: the finished take's overview per channel with the defect map drawn on it,
// its level and loudness figures, how it was captured, its master, the access copy when the
// profile made one; approve (commit) or discard.

import { api, type Defect, type Failure, type TakeReport } from "./api.js";
import type { Done } from "./capture.js";
import { byId, el, facts, fill, setText } from "./dom.js";
import { bytes, db, duration, extent, position } from "./format.js";
import { Lanes, swatch } from "./lanes.js";
import { Transport } from "./listen.js";
import { fromWaveforms, isCut, type LiveHistory } from "./overview.js";

/** Buckets asked of the library for the overview: a few per pixel of a wide screen. */
const BUCKETS = 4096;

export class ReviewView {
  private take: Done | null = null;
  private lanes: Lanes | null = null;
  /** Plays the take under review, from the staged bag. */
  transport: Transport | null = null;
  private confirming = false;

  constructor(
    private readonly onApproved: (item: string, warnings: string[]) => void,
    private readonly onDiscarded: () => void,
    private readonly onError: (where: string, f: Failure) => void,
  ) {}

  init(): void {
    byId("approve").addEventListener("click", () => void this.approve());
    byId("discard").addEventListener("click", () => void this.discard());
    this.lanes = new Lanes(byId("overview"), byId("defect-legend"));
    this.transport = new Transport(this.lanes, "review", this.onError);
    byId("defect-legend").after(this.transport.box);
  }

  get pending(): boolean {
    return this.take !== null;
  }

  show(done: Done, history: LiveHistory): void {
    this.take = done;
    this.confirming = false;
    // The live meters' peaks stand in until the master's own overview arrives.
    byId("overview").dataset["source"] = "live";
    void this.masterOverview(done.item);
    const report = done.report;
    const take = report.takes[0]!;
    const rate = take.source.sample_rate;
    setText("review-title", `${done.item} — ${duration(done.frames / rate)}`);
    const flagged = done.capture.flagged ? " · FLAGGED: needs a listen" : "";
    setText(
      "review-summary",
      `Ended: ${done.capture.ended} · ${take.source.duration} · ${rate / 1000} kHz, ${take.source.bits_per_sample}-bit, ${take.channel_names.join(" / ")} · profile ${report.profile}${flagged}`,
    );
    byId("review-actions").hidden = false;
    byId("review-body").hidden = false;
    byId<HTMLButtonElement>("approve").disabled = false;
    byId<HTMLButtonElement>("discard").disabled = false;
    setText("discard", "Discard");
    setText("overview-source", "from the live meters (reading the master…)");
    this.lanes?.show(take, history.overview());
    this.levels(take);
    this.defects(take);
    this.captureFacts(done, take);
    this.access(take);
    const copy = take.access_copy?.derived_from.length === 1;
    this.transport?.setSource(done.item, true, rate, copy);
  }

  /** Replaces the live overview with the master's, read by the library from the staged bag. */
  private async masterOverview(item: string): Promise<void> {
    try {
      const waves = await api.takeOverview(item, BUCKETS);
      if (this.take?.item !== item) return;
      this.lanes?.setOverview(fromWaveforms(waves));
      const per = waves[0]?.frames_per_bucket ?? 0;
      setText("overview-source", `the master, read back: ${waves[0]?.channels[0]?.length ?? 0} columns of ${per} frames`);
      byId("overview").dataset["source"] = "master";
    } catch (e) {
      setText("overview-source", `from the live meters (the master could not be read: ${(e as Failure).message})`);
    }
  }

  private levels(take: TakeReport): void {
    const chans = take.channels;
    type Row = [string, (l: TakeReport["overall"]) => number | null | undefined, string];
    const rows: Row[] = [
      ["Sample peak", (l) => l.sample_peak_dbfs, "dBFS"],
      ["True peak", (l) => l.true_peak_dbtp, "dBTP"],
      ["Integrated", (l) => l.integrated_lufs, "LUFS"],
      ["Loudness range", (l) => l.loudness_range_lu, "LU"],
      ["Max momentary", (l) => l.max_momentary_lufs, "LUFS"],
      ["Max short-term", (l) => l.max_short_term_lufs, "LUFS"],
    ];
    const head = el(
      "tr",
      {},
      el("th", {}, ""),
      el("th", { class: "num" }, "Programme"),
      ...chans.map((c) => el("th", { class: "num" }, take.channel_names[c.channel - 1] ?? `ch ${c.channel}`)),
    );
    const body = rows.map(([name, get, unit]) =>
      el(
        "tr",
        {},
        el("th", {}, `${name} `, el("small", { class: "quiet" }, unit)),
        el("td", { class: "num" }, db(get(take.overall) ?? null, "").trim()),
        ...chans.map((c) => el("td", { class: "num" }, db(get(c) ?? null, "").trim())),
      ),
    );
    body.push(
      el("tr", {}, el("th", {}, "RMS ", el("small", { class: "quiet" }, "dBFS")), el("td", {}), ...chans.map((c) => el("td", { class: "num" }, db(c.rms_dbfs, "").trim()))),
      el(
        "tr",
        {},
        el("th", {}, "Bits used"),
        el("td", {}),
        ...chans.map((c) => el("td", { class: "num" }, c.effective_bits === undefined ? "–" : `${c.effective_bits} / ${take.source.bits_per_sample}`)),
      ),
      el(
        "tr",
        {},
        el("th", {}, "DC offset"),
        el("td", {}),
        ...chans.map((c) => el("td", { class: "num" }, `${(c.dc_offset * 100).toFixed(3)} %`)),
      ),
    );
    fill(byId("review-levels"), el("thead", {}, head), el("tbody", {}, ...body));
    const phase = take.phase ?? [];
    facts(
      byId("review-phase"),
      phase.length
        ? phase.map((p): [string, string] => [
            `Ch ${p.channels[0]}–${p.channels[1]}`,
            [
              `correlation ${signed(p.correlation)}`,
              p.min_correlation === null ? "" : `lowest ${signed(p.min_correlation)}${p.min_at_time ? ` at ${p.min_at_time}` : ""}`,
              p.offset_us === null ? "" : `offset ${p.offset_us.toFixed(1)} µs`,
            ]
              .filter(Boolean)
              .join(" · "),
          ])
        : [["Phase", "one channel: nothing to compare"]],
    );
  }

  private defects(take: TakeReport): void {
    const rate = take.source.sample_rate;
    const list = take.defects;
    if (list.length === 0) {
      fill(byId("review-defects"), el("p", { class: "quiet" }, "None found: no clips, clicks, gaps or silence at head or tail."));
      return;
    }
    // Sizes only where the library measured them (repairs by the declicker).
    const sized = list.some((d) => d.size_dbfs !== undefined && d.size_dbfs !== null);
    const detailed = list.some((d) => d.detail);
    fill(
      byId("review-defects"),
      el(
        "table",
        { class: "list" },
        el(
          "thead",
          {},
          el("tr", {}, el("th", {}, "Kind"), el("th", {}, "Ch"), el("th", {}, "At"), el("th", { class: "num" }, "Length"), sized ? el("th", { class: "num" }, "Size dBFS") : null, detailed ? el("th", {}, "Detail") : null),
        ),
        el(
          "tbody",
          {},
          ...list.slice(0, 500).map((d: Defect) =>
            el(
              "tr",
              {},
              el("td", {}, swatch(d.kind), d.kind),
              el("td", {}, d.channel === null ? "all" : String(d.channel)),
              el("td", { class: "mono" }, d.start_time || position(d.start, rate)),
              el("td", { class: "num", title: isCut(d.kind) ? `${d.length_time} lost here (cut out of the master)` : d.length_time }, extent(d.length, rate)),
              sized ? el("td", { class: "num" }, d.size_dbfs === undefined || d.size_dbfs === null ? "" : db(d.size_dbfs, "").trim()) : null,
              detailed ? el("td", {}, d.detail ?? "") : null,
            ),
          ),
        ),
      ),
      list.length > 500 ? el("p", { class: "note" }, `… and ${list.length - 500} more (in the QC report).`) : null,
    );
  }

  private captureFacts(done: Done, take: TakeReport): void {
    const c = done.capture;
    facts(byId("review-capture"), [
      ["Device", c.device],
      ["Ended", c.ended],
      ["Samples lost", c.gaps.length ? `${c.gaps.length} gap(s)` : "none"],
      ["Verdict", c.flagged ? "flagged: needs a listen" : "clean"],
      ["Capture", `${done.capture_seconds.toFixed(1)} s, ${((100 * done.capture_cpu_seconds) / Math.max(1e-9, done.capture_seconds)).toFixed(1)} % of a core`],
    ]);
    const m = take.masters[0];
    facts(
      byId("review-master"),
      m
        ? [
            ["File", el("span", { class: "mono" }, m.file)],
            ["Size", bytes(m.bytes)],
            ["SHA-256", el("span", { class: "mono" }, m.sha256)],
            ["Audio MD5", el("span", { class: "mono" }, m.audio_md5)],
            ["Proved", "bit-exact: read back, every frame CRC and the audio MD5 checked"],
          ]
        : [["Master", "none"]],
    );
  }

  private access(take: TakeReport): void {
    const a = take.access_copy;
    byId("access-panel").hidden = !a;
    if (!a) return;
    const rows: [string, string | HTMLElement][] = [
      ["File", el("span", { class: "mono" }, a.file)],
      ["Processing", a.processing],
    ];
    if (a.declick) {
      rows.push(
        ["Clicks repaired", String(a.declick.clicks)],
        ["Crackle repairs", String(a.declick.crackle)],
        ["Samples changed", String(a.declick.samples_repaired)],
      );
    }
    rows.push(
      ["Gain", `${a.gain_db >= 0 ? "+" : "−"}${Math.abs(a.gain_db).toFixed(1)} dB${a.gain_limited_by_true_peak ? " (held to −1 dBTP)" : ""}`],
      ["Loudness", db(a.integrated_lufs, "LUFS")],
      ["True peak", db(a.true_peak_dbtp, "dBTP")],
    );
    facts(byId("review-access"), rows);
  }

  private async approve(): Promise<void> {
    if (!this.take) return;
    byId<HTMLButtonElement>("approve").disabled = true;
    // The staged files move into the archive: the playback from them stops first.
    await this.transport?.stop();
    try {
      const approved = await api.approveTake(this.take.item);
      this.clear();
      this.onApproved(approved.item, approved.warnings);
    } catch (e) {
      byId<HTMLButtonElement>("approve").disabled = false;
      this.onError("review", e as Failure);
    }
  }

  private async discard(): Promise<void> {
    if (!this.take) return;
    if (!this.confirming) {
      this.confirming = true;
      setText("discard", "Really discard? Click again");
      return;
    }
    try {
      await this.transport?.stop();
      await api.discardTake(this.take.item);
      this.clear();
      this.onDiscarded();
    } catch (e) {
      this.confirming = false;
      setText("discard", "Discard");
      this.onError("review", e as Failure);
    }
  }

  /** Approve with the keyboard (A). */
  approveKey(): void {
    void this.approve();
  }

  private clear(): void {
    this.take = null;
    this.lanes?.clear();
    this.transport?.setSource(null, true, 1, false);
    setText("review-title", "No take to review");
    setText("review-summary", "Record a take in Capture; it comes here when it is finished.");
    byId("review-actions").hidden = true;
    byId("review-body").hidden = true;
  }
}

function signed(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "–";
  return `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(2)}`;
}
