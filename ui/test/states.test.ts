import { test } from "node:test";
import assert from "node:assert/strict";
import { formLocked, LOOKS, next, shortcut, type TakeState } from "../src/states.js";

test("a take goes armed → recording → finishing → done", () => {
  let s: TakeState = "setup";
  s = next(s, { kind: "form", valid: true });
  assert.equal(s, "armed");
  s = next(s, { kind: "record" });
  assert.equal(s, "recording");
  s = next(s, { kind: "ready" });
  assert.equal(s, "recording");
  s = next(s, { kind: "stop" });
  assert.equal(s, "finishing");
  s = next(s, { kind: "ended" });
  assert.equal(s, "finishing");
  s = next(s, { kind: "done" });
  assert.equal(s, "done");
  s = next(s, { kind: "reset", valid: false });
  assert.equal(s, "setup");
});

test("recording cannot start from an invalid form, and the form cannot change a take under way", () => {
  assert.equal(next("setup", { kind: "record" }), "setup");
  assert.equal(next("recording", { kind: "form", valid: false }), "recording");
  assert.equal(next("finishing", { kind: "record" }), "finishing");
  assert.equal(next("done", { kind: "stop" }), "done");
  assert.ok(formLocked("recording") && formLocked("finishing"));
  assert.ok(!formLocked("armed") && !formLocked("done"));
});

test("a take that ends by itself (duration, device, disk) goes to finishing", () => {
  assert.equal(next("recording", { kind: "ended" }), "finishing");
  assert.equal(next("recording", { kind: "done" }), "done");
  assert.equal(next("recording", { kind: "failed" }), "failed");
  assert.equal(next("armed", { kind: "failed" }), "failed");
});

test("every state has its own word", () => {
  const words = Object.values(LOOKS).map((l) => l.word);
  assert.equal(new Set(words).size, words.length);
});

test("letter shortcuts work outside text fields only; function keys everywhere", () => {
  assert.equal(shortcut("r", false), "record");
  assert.equal(shortcut("R", false), "record");
  assert.equal(shortcut("s", false), "stop");
  assert.equal(shortcut("r", true), null);
  assert.equal(shortcut("F9", true), "record");
  assert.equal(shortcut("F10", true), "stop");
  assert.equal(shortcut("x", false), null);
});
