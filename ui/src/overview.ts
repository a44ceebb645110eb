// The review view's waveform overview and defect map: fitting per-channel min/max buckets and
// defect positions to the pixels available. Presentation only: the levels and the defects
// come from the library (unit-tested in test/overview.test.ts).

import { amplitude } from "./meter.js";
import { level, type Level } from "./format.js";

/** Per channel, the lowest and highest sample of each bucket, as fractions of full scale. */
export interface Overview {
  /** Frames the overview covers. */
  frames: number;
  channels: { min: number[]; max: number[] }[];
}

/** A defect as the QC report lists it (positions in frames; channel 1-based or null = all). */
export interface DefectLike {
  kind: string;
  channel: number | null;
  start: number;
  length: number;
  size_dbfs?: number | null;
}

export interface Span {
  kind: string;
  /** 0-based, or null for every channel. */
  channel: number | null;
  x: number;
  width: number;
}

/** Columns of `width` pixels: each the lowest min and highest max of the buckets it covers. */
export function fit(minmax: { min: number[]; max: number[] }, width: number): { min: number[]; max: number[] } {
  const n = Math.min(minmax.min.length, minmax.max.length);
  const w = Math.max(0, Math.floor(width));
  const min = new Array<number>(w).fill(0);
  const max = new Array<number>(w).fill(0);
  if (n === 0) return { min, max };
  for (let x = 0; x < w; x++) {
    const from = Math.floor((x * n) / w);
    const to = Math.max(from + 1, Math.floor(((x + 1) * n) / w));
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = from; i < to && i < n; i++) {
      lo = Math.min(lo, minmax.min[i]!);
      hi = Math.max(hi, minmax.max[i]!);
    }
    min[x] = lo === Infinity ? 0 : lo;
    max[x] = hi === -Infinity ? 0 : hi;
  }
  return { min, max };
}

/**
 * Samples lost in capture (`overrun`, `xrun`) are cut out of the master, so in its timeline
 * they are a point, the cut, and their length is what is missing, not a stretch of audio.
 */
export function isCut(kind: string): boolean {
  return kind === "overrun" || kind === "xrun";
}

/**
 * Where each defect goes on an overview `width` pixels wide covering `frames` frames: at least
 * 2 pixels wide, so that a one-sample click is still seen; a cut ([`isCut`]) is a 2-pixel mark.
 */
export function spans(defects: readonly DefectLike[], frames: number, width: number): Span[] {
  if (!(frames > 0) || !(width > 0)) return [];
  return defects.map((d) => {
    const x = Math.min(width - 1, Math.max(0, (d.start / frames) * width));
    const w = isCut(d.kind) ? 2 : Math.max(2, (Math.max(0, d.length) / frames) * width);
    return {
      kind: d.kind,
      channel: d.channel === null || d.channel === undefined ? null : d.channel - 1,
      x,
      width: Math.min(w, width - x),
    };
  });
}

/** Defect kinds in the order of the legend, with their colours. */
export const DEFECT_COLOURS: Record<string, string> = {
  clip: "#ff3b30",
  click: "#ffcc00",
  crackle: "#ff9f0a",
  dropout: "#bf5af2",
  phase: "#5e5ce6",
  overrun: "#ff2d95",
  xrun: "#ff2d95",
  "silence-head": "#64d2ff",
  "silence-tail": "#64d2ff",
  "bit-depth": "#8e8e93",
};

export function defectColour(kind: string): string {
  return DEFECT_COLOURS[kind] ?? "#ffffff";
}

/** How many of each kind, in legend order then alphabetically. */
export function defectCounts(defects: readonly DefectLike[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const d of defects) counts.set(d.kind, (counts.get(d.kind) ?? 0) + 1);
  const order = Object.keys(DEFECT_COLOURS);
  return [...counts.entries()].sort((a, b) => {
    const ia = order.indexOf(a[0]);
    const ib = order.indexOf(b[0]);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a[0].localeCompare(b[0]);
  });
}

/** The library's waveforms of a take's masters (one per master) as one overview. */
export function fromWaveforms(waves: readonly { frames: number; channels: [number, number][][] }[]): Overview {
  return {
    frames: Math.max(0, ...waves.map((w) => w.frames)),
    channels: waves.flatMap((w) => w.channels.map((c) => ({ min: c.map((b) => b[0]), max: c.map((b) => b[1]) }))),
  };
}

/**
 * An overview built from the live meters while recording (each meter interval's sample peak
 * per channel), shown until the library's overview of the master is available.
 */
export class LiveHistory {
  private peaks: number[][] = [];
  private frames = 0;

  constructor(channels: number) {
    this.peaks = Array.from({ length: channels }, () => []);
  }

  /** One meter interval: the take's frames so far, and each channel's peak (dBFS). */
  push(frames: number, peaksDb: readonly Level[]): void {
    this.frames = Math.max(this.frames, frames);
    this.peaks.forEach((p, c) => p.push(amplitude(level(peaksDb[c]))));
  }

  get length(): number {
    return this.peaks[0]?.length ?? 0;
  }

  overview(): Overview {
    return {
      frames: this.frames,
      channels: this.peaks.map((p) => ({ min: p.map((v) => -v), max: p.slice() })),
    };
  }
}
