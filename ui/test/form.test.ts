import { test } from "node:test";
import assert from "node:assert/strict";
import { fieldsFor, identifierProblem, label, validate, valueProblem, type TakeForm } from "../src/form.js";

const ORDER = ["TITLE", "DATE", "ORGANIZATION", "DESCRIPTION", "CARRIER_ID", "COLLECTION", "CARRIER_FORMAT", "TAPE_SPEED", "OPERATOR"];
const STEREO = {
  required: ["TITLE", "TAPE_SPEED"],
  defaults: { CARRIER_FORMAT: "1/4 inch open reel", TRACK_FORMAT: "half-track stereo" },
};

test("the form has the profile's fields: required first, in library order, derived ones left out", () => {
  const specs = fieldsFor(STEREO, ORDER);
  const keys = specs.map((s) => s.key);
  assert.deepEqual(keys, ["TITLE", "TAPE_SPEED", "DATE", "ORGANIZATION", "DESCRIPTION", "CARRIER_FORMAT", "OPERATOR", "TRACK_FORMAT"]);
  const title = specs.find((s) => s.key === "TITLE")!;
  assert.equal(title.required, true);
  const fmt = specs.find((s) => s.key === "CARRIER_FORMAT")!;
  assert.equal(fmt.value, "1/4 inch open reel");
  assert.equal(fmt.required, false);
  assert.equal(specs.find((s) => s.key === "TAPE_SPEED")!.label, "Tape speed");
});

test("a required field missing from the field order is still asked for", () => {
  const specs = fieldsFor({ required: ["SHELF_MARK"], defaults: {} }, ORDER);
  assert.equal(specs[0]!.key, "SHELF_MARK");
  assert.equal(specs[0]!.required, true);
  assert.equal(label("SHELF_MARK"), "Shelf mark");
});

test("identifiers follow the library's rule", () => {
  assert.equal(identifierProblem("reel-001.a_b"), null);
  assert.equal(identifierProblem(""), "required");
  assert.equal(identifierProblem(".hidden"), "may not start with . or -");
  assert.equal(identifierProblem("-x"), "may not start with . or -");
  assert.match(identifierProblem("a/b")!, /"\/" is not allowed/);
  assert.match(identifierProblem("../x")!, /may not start/);
  assert.match(identifierProblem("é")!, /not allowed/);
  assert.equal(identifierProblem("x".repeat(100)), null);
  assert.equal(identifierProblem("x".repeat(101)), "at most 100 characters");
});

test("values refuse control characters and over-long text", () => {
  assert.equal(valueProblem("Reel 1 — side A", true), null);
  assert.equal(valueProblem("   ", true), "required by this profile");
  assert.equal(valueProblem("", false), null);
  assert.equal(valueProblem("two\nlines", false), "no line breaks, tabs or control characters");
  assert.equal(valueProblem("tab\there", false), "no line breaks, tabs or control characters");
  assert.equal(valueProblem("é".repeat(4097), false), "at most 8192 bytes");
});

function form(over: Partial<TakeForm> = {}): TakeForm {
  return {
    device: "demo",
    profile: "quarter-inch-half-track-stereo",
    collection: "default",
    id: "reel-1",
    fields: { TITLE: " Reel one ", TAPE_SPEED: "7.5", CARRIER_FORMAT: "1/4 inch open reel", DATE: "" },
    ...over,
  };
}

test("a complete form may record; fields are trimmed and empty ones left out", () => {
  const v = validate(form(), fieldsFor(STEREO, ORDER));
  assert.equal(v.ok, true, JSON.stringify(v.problems));
  assert.deepEqual(v.meta, { TITLE: "Reel one", TAPE_SPEED: "7.5", CARRIER_FORMAT: "1/4 inch open reel" });
});

test("every problem is reported at its field", () => {
  const v = validate(
    form({ device: "", id: "a b", collection: "", fields: { TITLE: "", TAPE_SPEED: "7.5\n" } }),
    fieldsFor(STEREO, ORDER),
  );
  assert.equal(v.ok, false);
  assert.deepEqual(Object.keys(v.problems).sort(), ["TAPE_SPEED", "TITLE", "collection", "device", "id"]);
});

test("an item already in the archive is refused before recording", () => {
  const v = validate(form(), fieldsFor(STEREO, ORDER), new Set(["default/reel-1"]));
  assert.equal(v.ok, false);
  assert.equal(v.problems["id"], "this item is already in the archive");
  assert.equal(validate(form({ collection: "other" }), fieldsFor(STEREO, ORDER), new Set(["default/reel-1"])).ok, true);
});
