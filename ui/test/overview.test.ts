import { test } from "node:test";
import assert from "node:assert/strict";
import { defectCounts, fit, fromWaveforms, LiveHistory, spans } from "../src/overview.js";

test("fitting buckets to pixels keeps every extreme", () => {
  const min = [-0.1, -0.9, -0.2, -0.3, -0.1, -0.05];
  const max = [0.1, 0.2, 0.8, 0.3, 0.1, 0.95];
  const f = fit({ min, max }, 3);
  assert.deepEqual(f.min, [-0.9, -0.3, -0.1]);
  assert.deepEqual(f.max, [0.2, 0.8, 0.95]);
  // More pixels than buckets: each bucket spreads over several columns.
  const wide = fit({ min: [-1, -0.5], max: [1, 0.5] }, 4);
  assert.deepEqual(wide.max, [1, 1, 0.5, 0.5]);
  assert.deepEqual(fit({ min: [], max: [] }, 2).max, [0, 0]);
});

test("defects land at their position; a one-sample click is still 2 px wide", () => {
  const s = spans(
    [
      { kind: "click", channel: 2, start: 48000, length: 1 },
      { kind: "silence-head", channel: null, start: 0, length: 9600 },
      { kind: "clip", channel: 1, start: 95990, length: 100 },
    ],
    96000,
    1000,
  );
  assert.deepEqual(s[0], { kind: "click", channel: 1, x: 500, width: 2 });
  assert.deepEqual(s[1], { kind: "silence-head", channel: null, x: 0, width: 100 });
  assert.ok(s[2]!.x + s[2]!.width <= 1000, "clipped to the overview");
  assert.deepEqual(spans([], 0, 100), []);
});

test("samples lost in capture are a cut in the master, not a stretch of it", () => {
  const [cut] = spans([{ kind: "overrun", channel: null, start: 48000, length: 96000 }], 96000, 1000);
  assert.deepEqual(cut, { kind: "overrun", channel: null, x: 500, width: 2 });
});

test("defect counts follow the legend order", () => {
  const c = defectCounts([
    { kind: "silence-tail", channel: null, start: 0, length: 1 },
    { kind: "click", channel: 1, start: 0, length: 1 },
    { kind: "clip", channel: 1, start: 0, length: 1 },
    { kind: "click", channel: 2, start: 5, length: 1 },
    { kind: "weird", channel: 2, start: 5, length: 1 },
  ]);
  assert.deepEqual(c, [["clip", 1], ["click", 2], ["silence-tail", 1], ["weird", 1]]);
});

test("the live history turns meter peaks into a symmetric overview", () => {
  const h = new LiveHistory(2);
  h.push(4800, [0, null]);
  h.push(9600, [-6.0206, -20]);
  const o = h.overview();
  assert.equal(o.frames, 9600);
  assert.equal(h.length, 2);
  assert.equal(o.channels[0]!.max[0], 1);
  assert.ok(Math.abs(o.channels[0]!.max[1]! - 0.5) < 1e-4);
  assert.equal(o.channels[1]!.max[0], 0);
  assert.ok(Math.abs(o.channels[1]!.min[1]! + 0.1) < 1e-9);
});

test("the masters' waveforms make one overview, channels in master order", () => {
  const o = fromWaveforms([
    { frames: 10, channels: [[[-0.5, 0.5], [-0.1, 0.2]]] },
    { frames: 10, channels: [[[-1, 1], [0, 0]]] },
  ]);
  assert.equal(o.frames, 10);
  assert.equal(o.channels.length, 2);
  assert.deepEqual(o.channels[0], { min: [-0.5, -0.1], max: [0.5, 0.2] });
  assert.deepEqual(o.channels[1]!.max, [1, 0]);
  assert.deepEqual(fromWaveforms([]).channels, []);
});
