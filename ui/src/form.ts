// The capture form: which fields a profile asks for, and whether what was typed may start a
// take. The library checks everything again when the take starts; this only lets the operator
// see at once what is missing (unit-tested in test/form.test.ts).

/** What the form needs of a profile (as the app's `station` command gives it). */
export interface ProfileFields {
  required: string[];
  defaults: Record<string, string>;
}

export interface FieldSpec {
  key: string;
  label: string;
  required: boolean;
  /** Prefilled from the profile's defaults. */
  value: string;
  hint: string;
}

/** Fields the library derives from the item itself; never typed. */
const DERIVED = new Set(["CARRIER_ID", "COLLECTION"]);

const HINTS: Record<string, string> = {
  TITLE: "as written on the box or label",
  DATE: "of the recording, e.g. 1974-05-12",
  TAPE_SPEED: "inches per second, e.g. 7.5",
  NOISE_REDUCTION: "none, Dolby B, dbx …",
  PLAYBACK_EQ: "NAB, IEC (CCIR) …",
  DECK: "make, model, serial",
  ADC: "converter make and model",
  OPERATOR: "who is doing this transfer",
};

/** `TAPE_SPEED` → `Tape speed`. */
export function label(key: string): string {
  const words = key.toLowerCase().split("_").filter(Boolean).join(" ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The metadata fields for a profile: the required ones first (so that they are in view at
 * once), then the rest; each group in the library's field order (what the masters carry
 * first), then the profile's other fields alphabetically.
 */
export function fieldsFor(profile: ProfileFields, fieldOrder: readonly string[]): FieldSpec[] {
  const all: string[] = fieldOrder.filter((k) => !DERIVED.has(k));
  const extra = [...profile.required, ...Object.keys(profile.defaults)]
    .filter((k) => !all.includes(k) && !DERIVED.has(k))
    .sort();
  for (const k of extra) if (!all.includes(k)) all.push(k);
  const keys = [...all.filter((k) => profile.required.includes(k)), ...all.filter((k) => !profile.required.includes(k))];
  return keys.map((key) => ({
    key,
    label: label(key),
    required: profile.required.includes(key),
    value: profile.defaults[key] ?? "",
    hint: HINTS[key] ?? "",
  }));
}

/**
 * Collection and item ids become folder and file names: ASCII letters, digits, `.`, `_`,
 * `-`, not starting with `.` or `-`, at most 100 characters (the library's rule). Returns
 * what is wrong, or null.
 */
export function identifierProblem(value: string): string | null {
  if (value.length === 0) return "required";
  if (value.length > 100) return "at most 100 characters";
  if (value.startsWith(".") || value.startsWith("-")) return "may not start with . or -";
  const bad = [...value].find((c) => !/^[A-Za-z0-9._-]$/.test(c));
  if (bad !== undefined) return `${JSON.stringify(bad)} is not allowed: use letters, digits, . _ -`;
  return null;
}

/** A field's value: no control characters (they would corrupt bag-info.txt), at most 8192 bytes. */
export function valueProblem(value: string, required: boolean): string | null {
  if (required && value.trim().length === 0) return "required by this profile";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return "no line breaks, tabs or control characters";
  if (new TextEncoder().encode(value).length > 8192) return "at most 8192 bytes";
  return null;
}

export interface TakeForm {
  device: string;
  profile: string;
  collection: string;
  id: string;
  /** Every field's text as typed. */
  fields: Record<string, string>;
}

export interface Validation {
  ok: boolean;
  /** Problems by form key (`device`, `profile`, `collection`, `id`, or a field's key). */
  problems: Record<string, string>;
  /** The fields to send: trimmed, empty ones left out. */
  meta: Record<string, string>;
}

/** Whether the form may start a take, and what to send if so. */
export function validate(form: TakeForm, specs: readonly FieldSpec[], existing: ReadonlySet<string> = new Set()): Validation {
  const problems: Record<string, string> = {};
  if (!form.device) problems["device"] = "choose a source";
  if (!form.profile) problems["profile"] = "choose a profile";
  const c = identifierProblem(form.collection.trim());
  if (c) problems["collection"] = c;
  const i = identifierProblem(form.id.trim());
  if (i) problems["id"] = i;
  if (!c && !i && existing.has(`${form.collection.trim()}/${form.id.trim()}`)) {
    problems["id"] = "this item is already in the archive";
  }
  const meta: Record<string, string> = {};
  for (const spec of specs) {
    const value = form.fields[spec.key] ?? "";
    const p = valueProblem(value, spec.required);
    if (p) problems[spec.key] = p;
    else if (value.trim()) meta[spec.key] = value.trim();
  }
  return { ok: Object.keys(problems).length === 0, problems, meta };
}
