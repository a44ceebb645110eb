// Meter scales: where a level sits on a bar. Presentation only (the levels themselves come
// from the library). Unit-tested in test/meter.test.ts.

import { level, type Level } from "./format.js";

/** The bottom of the peak meters, dBFS. */
export const PEAK_FLOOR = -60;

/**
 * Peak scale breakpoints (dBFS → fraction of the bar): the top 20 dB, where line-up and
 * programme peaks live, get two thirds of the bar, as on broadcast peak meters; below, the
 * scale compresses down to the floor.
 */
const PEAK_SCALE: ReadonlyArray<readonly [number, number]> = [
  [PEAK_FLOOR, 0],
  [-40, 0.12],
  [-20, 0.33],
  [-9, 0.64],
  [0, 1],
];

/** Tick marks for the peak scale, dBFS. */
export const PEAK_TICKS = [0, -3, -6, -9, -12, -18, -24, -30, -40, -60];

/** Where `db` (dBFS, null = −∞) sits on a peak bar: 0 at the floor and below, 1 at 0 dBFS and above. */
export function peakPosition(db: Level): number {
  return piecewise(PEAK_SCALE, level(db));
}

/** The colour zone of a peak level: `ok` below −9 dBFS, `hot` up to −1, `over` above. */
export function peakZone(db: Level): "ok" | "hot" | "over" {
  const x = level(db);
  if (x > -1) return "over";
  if (x > -9) return "hot";
  return "ok";
}

/** The loudness bar's range, LUFS, and the marks drawn on it (EBU R 128 target −23 LUFS). */
export const LOUDNESS_FLOOR = -59;
export const LOUDNESS_TOP = 0;
export const LOUDNESS_TICKS = [0, -9, -14, -18, -23, -30, -40, -50];
export const LOUDNESS_TARGET = -23;

/** Where a loudness (LUFS, null = −∞) sits on the loudness bar: linear in LU. */
export function loudnessPosition(lufs: Level): number {
  const x = level(lufs);
  return clamp01((x - LOUDNESS_FLOOR) / (LOUDNESS_TOP - LOUDNESS_FLOOR));
}

/** Where a correlation (−1..+1, null = none) sits: 0 at −1, ½ at 0, 1 at +1; none is the middle. */
export function correlationPosition(c: number | null | undefined): number {
  if (c === null || c === undefined || !Number.isFinite(c)) return 0.5;
  return clamp01((c + 1) / 2);
}

/** A correlation in words, for the line-up display. */
export function correlationWords(c: number | null | undefined): string {
  if (c === null || c === undefined || !Number.isFinite(c)) return "no signal";
  if (c >= 0.9) return "in phase (mono-like)";
  if (c >= 0.3) return "stereo";
  if (c > -0.3) return "wide / unrelated";
  return "out of phase — check wiring or azimuth";
}

/** A linear amplitude (0..1 of full scale) for a level in dBFS, for waveform drawing. */
export function amplitude(db: Level): number {
  const x = level(db);
  if (x === -Infinity) return 0;
  return clamp01(10 ** (x / 20));
}

function piecewise(points: ReadonlyArray<readonly [number, number]>, x: number): number {
  const first = points[0]!;
  const last = points[points.length - 1]!;
  if (!(x > first[0])) return first[1];
  if (x >= last[0]) return last[1];
  for (let i = 1; i < points.length; i++) {
    const [x1, y1] = points[i]!;
    const [x0, y0] = points[i - 1]!;
    if (x <= x1) return y0 + ((x - x0) / (x1 - x0)) * (y1 - y0);
  }
  return last[1];
}

function clamp01(v: number): number {
  return Number.isNaN(v) ? 0 : Math.min(1, Math.max(0, v));
}
