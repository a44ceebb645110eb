// Formatting for people at a deck: clocks, durations, levels, sizes, dates. Pure functions
// (unit-tested in test/format.test.ts).

/** A level that may be missing: the library sends `null` for silence (−∞). */
export type Level = number | null | undefined;

/** `null`/`undefined`/NaN as −∞, so comparisons and scales need no special cases. */
export function level(v: Level): number {
  return v === null || v === undefined || Number.isNaN(v) ? -Infinity : v;
}

/**
 * The recording clock: `h:mm:ss.t` (tenths, truncated, so the clock never runs ahead of the
 * tape). Negative or missing time reads 0.
 */
export function clock(seconds: number): string {
  const tenths = Math.max(0, Math.floor((Number.isFinite(seconds) ? seconds : 0) * 10 + 1e-6));
  const t = Math.floor(tenths / 10);
  const h = Math.floor(t / 3600);
  const m = Math.floor(t / 60) % 60;
  const s = t % 60;
  return `${h}:${pad2(m)}:${pad2(s)}.${tenths % 10}`;
}

/** A duration as `h:mm:ss` (whole seconds, rounded), for lists. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const t = Math.round(Math.max(0, seconds));
  return `${Math.floor(t / 3600)}:${pad2(Math.floor(t / 60) % 60)}:${pad2(t % 60)}`;
}

/**
 * Recording time left, coarse as a person wants it: `12 s`, `45 min`, `3 h 05 min`,
 * `more than 99 h`; `unknown` when the disk could not say.
 */
export function timeLeft(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "unknown";
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 100 * 3600) return "more than 99 h";
  if (s < 120) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${pad2(minutes % 60)} min`;
}

/** A level with one decimal and its unit, `−∞` for silence; a real minus sign. */
export function db(v: Level, unit = "dB"): string {
  const x = level(v);
  if (x === -Infinity) return `−∞ ${unit}`;
  if (!Number.isFinite(x)) return `– ${unit}`;
  const text = x.toFixed(1);
  return `${text === "-0.0" ? "0.0" : text.replace("-", "−")} ${unit}`;
}

/** Bytes in decimal units (as disks are sold): `512 B`, `1.5 MB`, `2.31 GB`. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  if (i === 0) return `${v} B`;
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/** An RFC 3339 date-time as `YYYY-MM-DD hh:mm:ss` in UTC (what the archive records). */
export function dateTime(rfc3339: string | null | undefined): string {
  if (!rfc3339) return "never";
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** A position in frames as `h:mm:ss.fff` at `rate` (truncated, as the QC report does). */
export function position(frames: number, rate: number): string {
  const ms = Math.floor((Math.max(0, frames) * 1000) / Math.max(1, rate));
  const t = Math.floor(ms / 1000);
  return `${pad2(Math.floor(t / 3600))}:${pad2(Math.floor(t / 60) % 60)}:${pad2(t % 60)}.${String(
    ms % 1000,
  ).padStart(3, "0")}`;
}

/**
 * A defect's length, compact and in the unit that reads best: samples below a millisecond (a
 * click is `3 smp`), then `ms`, then seconds; `–` when unknown.
 */
export function extent(frames: number | null | undefined, rate: number): string {
  if (frames === null || frames === undefined || !Number.isFinite(frames) || !(rate > 0)) return "–";
  const n = Math.max(0, Math.round(frames));
  const seconds = n / rate;
  if (seconds < 0.001) return `${n} smp`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return duration(seconds);
}

/** A rate of events a second with one decimal: `20.0/s`. */
export function rate(count: number, seconds: number): string {
  if (!(seconds > 0)) return "–";
  return `${(count / seconds).toFixed(1)}/s`;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}
