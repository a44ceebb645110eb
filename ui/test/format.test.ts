import { test } from "node:test";
import assert from "node:assert/strict";
import { bytes, clock, dateTime, db, duration, extent, level, position, rate, timeLeft } from "../src/format.js";

test("the recording clock shows tenths, truncated, and never runs negative", () => {
  assert.equal(clock(0), "0:00:00.0");
  assert.equal(clock(5.19), "0:00:05.1");
  assert.equal(clock(59.99), "0:00:59.9");
  assert.equal(clock(3600 + 62.5), "1:01:02.5");
  assert.equal(clock(-3), "0:00:00.0");
  assert.equal(clock(Number.NaN), "0:00:00.0");
  // 0.3 s of frames at 96 kHz is 28800 / 96000 in floating point: still 0.3.
  assert.equal(clock(28800 / 96000), "0:00:00.3");
});

test("durations are whole seconds; missing ones are a dash", () => {
  assert.equal(duration(20.4), "0:00:20");
  assert.equal(duration(3599.6), "1:00:00");
  assert.equal(duration(null), "–");
  assert.equal(duration(undefined), "–");
});

test("time left on disk is coarse and never negative", () => {
  assert.equal(timeLeft(null), "unknown");
  assert.equal(timeLeft(-5), "0 s");
  assert.equal(timeLeft(45.9), "45 s");
  assert.equal(timeLeft(119), "119 s");
  assert.equal(timeLeft(120), "2 min");
  assert.equal(timeLeft(3599), "59 min");
  assert.equal(timeLeft(3 * 3600 + 5 * 60 + 59), "3 h 05 min");
  assert.equal(timeLeft(1e9), "more than 99 h");
});

test("levels read with one decimal, a real minus sign, and −∞ for silence", () => {
  assert.equal(db(-12.345, "dBFS"), "−12.3 dBFS");
  assert.equal(db(0, "dBTP"), "0.0 dBTP");
  assert.equal(db(-0.04, "dBFS"), "0.0 dBFS");
  assert.equal(db(1.26, "dBTP"), "1.3 dBTP");
  assert.equal(db(null, "LUFS"), "−∞ LUFS");
  assert.equal(db(-Infinity), "−∞ dB");
  assert.equal(level(null), -Infinity);
  assert.equal(level(Number.NaN), -Infinity);
  assert.equal(level(-3), -3);
});

test("sizes use decimal units", () => {
  assert.equal(bytes(512), "512 B");
  assert.equal(bytes(1500), "1.50 kB");
  assert.equal(bytes(12_345_678), "12.3 MB");
  assert.equal(bytes(2_310_000_000), "2.31 GB");
  assert.equal(bytes(null), "–");
});

test("dates are shown in UTC as the archive records them", () => {
  assert.equal(dateTime("2026-11-21T22:05:12Z"), "2026-11-21 22:05:12 UTC");
  assert.equal(dateTime("2026-11-21T23:05:12+01:00"), "2026-11-21 22:05:12 UTC");
  assert.equal(dateTime(null), "never");
  assert.equal(dateTime("garbage"), "garbage");
});

test("positions in frames read as the QC report writes them", () => {
  assert.equal(position(0, 96000), "00:00:00.000");
  assert.equal(position(96000 * 61 + 48, 96000), "00:01:01.000");
  assert.equal(position(96000 * 3661 + 95999, 96000), "01:01:01.999");
});

test("event rates", () => {
  assert.equal(rate(100, 5), "20.0/s");
  assert.equal(rate(3, 0), "–");
});

test("defect lengths read in samples, milliseconds or seconds, whichever fits", () => {
  assert.equal(extent(3, 96000), "3 smp");
  assert.equal(extent(95, 96000), "95 smp");
  assert.equal(extent(96, 96000), "1.00 ms");
  assert.equal(extent(4800, 96000), "50.0 ms");
  assert.equal(extent(96000 * 1.5, 96000), "1.50 s");
  assert.equal(extent(96000 * 42, 96000), "42.0 s");
  assert.equal(extent(96000 * 125, 96000), "0:02:05");
  assert.equal(extent(null, 96000), "–");
  assert.equal(extent(10, 0), "–");
});
