import { test } from "node:test";
import assert from "node:assert/strict";
import {
  amplitude,
  correlationPosition,
  correlationWords,
  loudnessPosition,
  LOUDNESS_TARGET,
  PEAK_TICKS,
  peakPosition,
  peakZone,
} from "../src/meter.js";

test("the peak scale runs from the floor to full scale and clamps outside", () => {
  assert.equal(peakPosition(null), 0);
  assert.equal(peakPosition(-Infinity), 0);
  assert.equal(peakPosition(-90), 0);
  assert.equal(peakPosition(-60), 0);
  assert.equal(peakPosition(0), 1);
  assert.equal(peakPosition(3), 1);
  assert.ok(Math.abs(peakPosition(-20) - 0.33) < 1e-12);
  assert.ok(Math.abs(peakPosition(-9) - 0.64) < 1e-12);
});

test("the peak scale is monotonic and gives the top 20 dB two thirds of the bar", () => {
  let last = -1;
  for (let d = -70; d <= 5; d += 0.25) {
    const p = peakPosition(d);
    assert.ok(p >= last, `${d}`);
    last = p;
  }
  assert.ok(1 - peakPosition(-20) > 2 / 3);
  // Every tick is on the bar, distinct.
  const at = PEAK_TICKS.map(peakPosition);
  assert.equal(new Set(at).size, PEAK_TICKS.length);
});

test("peak zones warn before full scale", () => {
  assert.equal(peakZone(-20), "ok");
  assert.equal(peakZone(-9), "ok");
  assert.equal(peakZone(-8.9), "hot");
  assert.equal(peakZone(-1), "hot");
  assert.equal(peakZone(-0.5), "over");
  assert.equal(peakZone(null), "ok");
});

test("loudness is linear in LU with the target inside the bar", () => {
  assert.equal(loudnessPosition(null), 0);
  assert.equal(loudnessPosition(0), 1);
  assert.equal(loudnessPosition(-59), 0);
  const t = loudnessPosition(LOUDNESS_TARGET);
  assert.ok(t > 0.5 && t < 0.7);
  assert.ok(Math.abs(loudnessPosition(-29.5) - 0.5) < 1e-12);
});

test("correlation maps −1..+1 across the bar; no signal sits in the middle", () => {
  assert.equal(correlationPosition(-1), 0);
  assert.equal(correlationPosition(0), 0.5);
  assert.equal(correlationPosition(1), 1);
  assert.equal(correlationPosition(null), 0.5);
  assert.equal(correlationPosition(2), 1);
  assert.equal(correlationWords(0.99), "in phase (mono-like)");
  assert.equal(correlationWords(-0.8), "out of phase — check wiring or azimuth");
  assert.equal(correlationWords(null), "no signal");
});

test("amplitude converts dBFS to a fraction of full scale", () => {
  assert.equal(amplitude(0), 1);
  assert.equal(amplitude(null), 0);
  assert.ok(Math.abs(amplitude(-6.0206) - 0.5) < 1e-4);
  assert.equal(amplitude(6), 1);
});
