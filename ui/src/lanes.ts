// A take drawn for people: one lane per channel with its waveform (min/max columns) and the
// defect map over it, and a legend counting the defects. Used by the review (a take before it
// is committed) and by the archive's item detail (an item read back from the archive). The
// fitting is in overview.ts (unit-tested); this is the canvas work.

import type { TakeReport } from "./api.js";
import { context, el, fill } from "./dom.js";
import { position } from "./format.js";
import { DEFECT_COLOURS, defectColour, defectCounts, fit, spans, type Overview } from "./overview.js";

export class Lanes {
  private take: TakeReport | null = null;
  private overview: Overview | null = null;
  private head: number | null = null;
  private seek: ((lane: number, frame: number) => void) | null = null;

  /** `lanes` receives a lane per channel, `legend` the defect counts. */
  constructor(
    private readonly lanes: HTMLElement,
    private readonly legend: HTMLElement,
  ) {
    new ResizeObserver(() => this.draw()).observe(lanes);
  }

  /** Lays out the take's lanes and legend; the waveform follows with [`setOverview`]. */
  show(take: TakeReport, overview: Overview | null): void {
    this.take = take;
    this.overview = overview;
    fill(
      this.lanes,
      ...take.channel_names.map((n, i) =>
        el(
          "div",
          { class: "lane" },
          el("span", { class: "lane-name" }, `${i + 1} ${n}`),
          el("div", { class: "wave" }, el("canvas", { "data-channel": String(i), title: "Click to play from here" }), el("div", { class: "head", hidden: true })),
        ),
      ),
    );
    for (const canvas of this.lanes.querySelectorAll<HTMLCanvasElement>("canvas")) {
      canvas.addEventListener("click", (e) => {
        const w = canvas.clientWidth;
        if (!this.seek || w === 0) return;
        const x = Math.min(Math.max(0, e.offsetX), w);
        this.seek(Number(canvas.dataset["channel"]), Math.floor((x / w) * this.frames()));
      });
    }
    this.placeHead();
    const counts = defectCounts(take.defects);
    fill(
      this.legend,
      ...(counts.length
        ? counts.map(([kind, n]) => el("span", {}, swatch(kind), `${kind} × ${n}`))
        : [el("span", { class: "quiet" }, "No defects found.")]),
      el("span", { class: "quiet" }, take.clip_runs_total > 0 ? `clip runs in all: ${take.clip_runs_total}` : ""),
    );
    this.draw();
  }

  /** What a click on a lane asks for: that lane, from that frame. */
  onSeek(seek: (lane: number, frame: number) => void): void {
    this.seek = seek;
  }

  /** The take's length as drawn, frames. */
  frames(): number {
    return Math.max(this.overview?.frames ?? 0, this.take?.source.frames ?? 0);
  }

  /** Draws the play head (or the cursor, `playing` false) at `frame`; `null` hides it. */
  setHead(frame: number | null, playing = false): void {
    this.head = frame;
    this.lanes.dataset["playing"] = String(playing);
    this.placeHead();
  }

  private placeHead(): void {
    const frames = this.frames();
    for (const head of this.lanes.querySelectorAll<HTMLElement>(".head")) {
      head.hidden = this.head === null || frames === 0;
      if (this.head !== null && frames > 0) head.style.left = `${Math.min(100, (100 * this.head) / frames)}%`;
    }
  }

  setOverview(overview: Overview | null): void {
    this.overview = overview;
    this.placeHead();
    this.draw();
  }

  clear(): void {
    this.take = null;
    this.overview = null;
    this.head = null;
    fill(this.lanes);
    fill(this.legend);
  }

  draw(): void {
    const take = this.take;
    const o = this.overview;
    if (!take) return;
    const frames = Math.max(o?.frames ?? 0, take.source.frames);
    for (const canvas of this.lanes.querySelectorAll<HTMLCanvasElement>("canvas")) {
      const c = Number(canvas.dataset["channel"]);
      const { g, w, h } = context(canvas);
      if (w === 0) continue;
      const mid = h / 2;
      g.fillStyle = "rgba(255,255,255,0.12)";
      g.fillRect(0, Math.round(mid), w, 1);
      const lane = o?.channels[c];
      if (o && lane) {
        // The overview covers o.frames; the report may know a few more (the last interval).
        const cols = fit(lane, Math.max(1, Math.round((w * o.frames) / frames)));
        g.fillStyle = "#3ec6a8";
        for (let x = 0; x < cols.max.length; x++) {
          const top = mid - cols.max[x]! * (mid - 2);
          const bottom = mid - cols.min[x]! * (mid - 2);
          g.fillRect(x, top, 1, Math.max(1, bottom - top));
        }
      }
      // The defect map over the waveform: a translucent band over each defect's extent and a
      // solid mark above where it starts, so a one-sample click is as visible as a dropout.
      // One that spans most of the take (bits unused throughout) is a strip along the top
      // instead: a band would hide the waveform it describes.
      for (const s of spans(take.defects, frames, w)) {
        if (s.channel !== null && s.channel !== c) continue;
        g.fillStyle = defectColour(s.kind) + "66";
        if (s.width > w / 2) {
          g.fillRect(s.x, 0, s.width, 4);
          continue;
        }
        g.fillRect(s.x, 0, s.width, h);
        g.fillStyle = defectColour(s.kind);
        g.fillRect(s.x, 0, Math.max(2, Math.min(s.width, 3)), 10);
      }
      g.fillStyle = "rgba(233,237,241,0.6)";
      g.font = "10px DejaVu Sans Mono, monospace";
      const rate = take.source.sample_rate;
      for (let i = 1; i < 5; i++) {
        const x = (w * i) / 5;
        g.fillRect(Math.round(x), h - 4, 1, 4);
        g.fillText(position((frames * i) / 5, rate).slice(3, 8), x + 2, h - 2);
      }
    }
  }
}

/** A defect kind's colour, as in the lanes. */
export function swatch(kind: string): HTMLElement {
  const s = el("span", { class: "swatch" });
  s.style.background = DEFECT_COLOURS[kind] ?? "#fff";
  return s;
}
