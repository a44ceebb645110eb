// The capture view: source and profile, the item's metadata, the transport, per-channel
// meters, loudness, phase correlation and warnings as they happen.

import { api, type CaptureMsg, type Failure, type Meter, type ProfileInfo, type StationInfo } from "./api.js";
import { background, byId, context, el, fill, setText } from "./dom.js";
import { fieldsFor, validate, type FieldSpec, type Validation } from "./form.js";
import { clock, db, level, position, timeLeft } from "./format.js";
import {
  correlationPosition,
  correlationWords,
  LOUDNESS_TARGET,
  LOUDNESS_TICKS,
  loudnessPosition,
  PEAK_TICKS,
  peakPosition,
} from "./meter.js";
import { LiveHistory } from "./overview.js";
import { formLocked, LOOKS, next, type TakeInput, type TakeState } from "./states.js";

/** A finished take, as the review view receives it. */
export type Done = Extract<CaptureMsg, { kind: "done" }>;

const ZONE = { ok: "#34c759", hot: "#ffcc00", over: "#ff3b30" };
const ZONE_DIM = { ok: "#12301b", hot: "#3a3310", over: "#3d1512" };
/** Seconds of correlation history drawn. */
const HISTORY_SECONDS = 10;

interface Row {
  canvas: HTMLCanvasElement;
  peak: HTMLElement;
  hold: HTMLElement;
  tp: HTMLElement;
  clip: HTMLElement;
}

export class CaptureView {
  state: TakeState = "setup";
  private station!: StationInfo;
  private specs: FieldSpec[] = [];
  private rows: Row[] = [];
  private latest: { meters: Meter[]; lufs: number | null; correlation: number | null } | null = null;
  /** Correlation over the last seconds, with when each arrived (ms, performance.now()). */
  private correlations: { t: number; v: number | null }[] = [];
  private dirty = true;
  private rate = 96000;
  private frames = 0;
  private allows: number | null = null;
  private levelsReceived = 0;
  private arrivals: number[] = [];
  private rateShownAt = 0;
  private lineupTick = false;
  private history: LiveHistory | null = null;
  private existing = new Set<string>();
  private touched = new Set<string>();
  private validation: Validation | null = null;
  private take: { item: string; profile: ProfileInfo } | null = null;

  constructor(
    private readonly onState: (s: TakeState) => void,
    private readonly onDone: (done: Done, history: LiveHistory) => void,
    private readonly onError: (where: string, f: Failure) => void,
  ) {}

  init(station: StationInfo): void {
    this.station = station;
    const device = byId<HTMLSelectElement>("device");
    fill(device, ...station.devices.map((d) => el("option", { value: d.name }, `${d.name} — ${d.description}`)));
    device.value = station.devices.some((d) => d.name === station.default_device) ? station.default_device : "demo";
    const profile = byId<HTMLSelectElement>("profile");
    fill(
      profile,
      ...station.profiles.map((p) =>
        el("option", { value: p.name }, `${p.name} — ${p.sample_rate / 1000} kHz, ${p.bit_depth}-bit, ${p.channels.length} ch`),
      ),
    );
    const preferred = station.profiles.find((p) => p.name === "quarter-inch-half-track-stereo") ?? station.profiles[0];
    if (preferred) profile.value = preferred.name;
    profile.addEventListener("change", () => this.profileChanged());
    byId("take-form").addEventListener("input", (e) => {
      const t = e.target as HTMLElement;
      if (t.dataset["key"]) this.touched.add(t.dataset["key"]);
      this.check();
    });
    byId("take-form").addEventListener("change", () => this.check());
    byId("take-form").addEventListener("submit", (e) => e.preventDefault());
    byId("record").addEventListener("click", () => void this.record());
    byId("stop").addEventListener("click", () => void this.stop());
    if (station.device_error) {
      this.warn("warn", `Audio interfaces could not be listed (${station.device_error}); the demo tape is available.`);
    }
    this.profileChanged();
    // Before a take: the room on disk, re-read now and then (other writers fill disks too).
    window.setInterval(() => void this.showRoom(), 10_000);
    new ResizeObserver(() => {
      this.dirty = true;
    }).observe(byId("view-capture"));
    const frame = () => {
      this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  /** Items already in the archive (an id may not be used twice). */
  setExisting(items: Iterable<string>): void {
    this.existing = new Set(items);
    this.check();
  }

  private profile(): ProfileInfo | undefined {
    const name = byId<HTMLSelectElement>("profile").value;
    return this.station.profiles.find((p) => p.name === name);
  }

  /** The recording time the free disk allows at the chosen profile's rate, while no take runs. */
  private async showRoom(): Promise<void> {
    const p = this.profile();
    const taking = () => this.state === "recording" || this.state === "finishing";
    if (!p || taking()) return;
    try {
      const room = await api.recordingRoom(p.name);
      // A take may have started, or the profile changed, while the disk was asked.
      if (taking() || this.profile() !== p) return;
      setText("time-left", room === null ? "unknown" : timeLeft(room));
    } catch {
      setText("time-left", "unknown");
    }
  }

  private profileChanged(): void {
    const p = this.profile();
    if (!p) return;
    void this.showRoom();
    // What the operator typed carries over to the new profile; the old profile's defaults
    // give way to the new one's.
    const typed = this.fieldValues();
    for (const old of this.specs) if (typed[old.key] === old.value) delete typed[old.key];
    this.specs = fieldsFor(p, this.station.field_order);
    const box = byId("meta-fields");
    fill(
      box,
      ...this.specs.map((s) =>
        el(
          "label",
          { class: "field" },
          el("span", {}, s.label, s.required ? el("b", {}, " *") : null, s.hint ? el("span", { class: "hint" }, ` — ${s.hint}`) : null),
          el("input", {
            id: `meta-${s.key}`,
            "data-key": s.key,
            value: typed[s.key] ?? s.value,
            spellcheck: "false",
          }),
          el("em", { class: "problem", "data-for": s.key }),
        ),
      ),
    );
    const layout = p.per_channel ? "one master per channel" : "interleaved";
    const copy = p.access_copy ? `; access copy${p.declick ? " (declicked)" : ""}` : "";
    setText(
      "profile-note",
      `${p.carrier}. ${p.sample_rate} Hz, ${p.bit_depth}-bit, ${p.channels.join(" / ")}; ${layout}${copy}.`,
    );
    this.buildMeters(p.channels);
    this.check();
  }

  private fieldValues(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const input of byId("meta-fields").querySelectorAll<HTMLInputElement>("input[data-key]")) {
      out[input.dataset["key"]!] = input.value;
    }
    return out;
  }

  /** Validates the form, shows the problems of fields already touched, arms or disarms. */
  private check(showAll = false): void {
    if (!this.station || formLocked(this.state)) return;
    const v = validate(
      {
        device: byId<HTMLSelectElement>("device").value,
        profile: byId<HTMLSelectElement>("profile").value,
        collection: byId<HTMLInputElement>("collection").value,
        id: byId<HTMLInputElement>("item-id").value,
        fields: this.fieldValues(),
      },
      this.specs,
      this.existing,
    );
    this.validation = v;
    const inputFor: Record<string, string> = { device: "device", profile: "profile", collection: "collection", id: "item-id" };
    for (const em of byId("take-form").querySelectorAll<HTMLElement>(".problem")) {
      const key = em.dataset["for"]!;
      const problem = v.problems[key];
      const shown = problem && (showAll || this.touched.has(key)) ? problem : "";
      em.textContent = shown;
      const input = document.getElementById(inputFor[key] ?? `meta-${key}`);
      if (input) input.setAttribute("aria-invalid", shown ? "true" : "false");
    }
    for (const id of ["collection", "item-id"]) {
      const input = byId(id);
      if (!input.dataset["listening"]) {
        input.dataset["listening"] = "1";
        input.addEventListener("input", () => this.touched.add(id === "item-id" ? "id" : id));
      }
    }
    if (this.state === "setup" || this.state === "armed") this.go({ kind: "form", valid: v.ok });
    else this.render();
  }

  private go(input: TakeInput): void {
    const before = this.state;
    this.state = next(this.state, input);
    if (this.state !== before) this.onState(this.state);
    this.render();
  }

  private render(): void {
    const s = this.state;
    byId<HTMLButtonElement>("record").disabled = s !== "armed";
    byId<HTMLButtonElement>("stop").disabled = s !== "recording";
    for (const c of byId("take-form").querySelectorAll<HTMLInputElement | HTMLSelectElement>("input, select")) {
      c.disabled = formLocked(s);
    }
    let advice = LOOKS[s].advice;
    if (s === "setup" && this.validation) {
      const missing = Object.keys(this.validation.problems).map((k) => (k === "id" ? "Item id" : (this.specs.find((x) => x.key === k)?.label ?? k)));
      if (missing.length) advice = `To arm: ${missing.join(", ")}.`;
    }
    setText("advice", advice);
  }

  /** Record (R / F9): only when armed. */
  async record(): Promise<void> {
    if (this.state !== "armed") {
      if (this.state === "setup") this.check(true);
      return;
    }
    const p = this.profile()!;
    const v = this.validation!;
    const collection = byId<HTMLInputElement>("collection").value.trim();
    const id = byId<HTMLInputElement>("item-id").value.trim();
    this.take = { item: `${collection}/${id}`, profile: p };
    this.rate = p.sample_rate;
    this.frames = 0;
    this.allows = null;
    this.latest = null;
    this.correlations = [];
    this.levelsReceived = 0;
    this.arrivals = [];
    this.history = new LiveHistory(p.channels.length);
    fill(byId("warnings"), el("li", { class: "quiet" }, "None."));
    // What is being recorded, in view while it is.
    byId("take-form").scrollTop = 0;
    byId("meters").dataset["levels"] = "0";
    this.go({ kind: "record" });
    try {
      await api.startCapture(
        { device: byId<HTMLSelectElement>("device").value, profile: p.name, collection, id, meta: v.meta, seconds: null },
        (m) => this.message(m),
      );
    } catch (e) {
      this.fail(e as Failure);
    }
  }

  /** Stop (S / F10): only while recording. */
  async stop(): Promise<void> {
    if (this.state !== "recording") return;
    this.go({ kind: "stop" });
    try {
      await api.stopCapture();
    } catch (e) {
      this.onError("capture", e as Failure);
    }
  }

  private message(m: CaptureMsg): void {
    switch (m.kind) {
      case "ready":
        this.allows = m.allows_seconds;
        this.rate = m.sample_rate;
        this.go({ kind: "ready" });
        break;
      case "levels": {
        this.levelsReceived++;
        const now = performance.now();
        this.arrivals.push(now);
        while (this.arrivals.length && now - this.arrivals[0]! > 2000) this.arrivals.shift();
        byId("meters").dataset["levels"] = String(this.levelsReceived);
        this.frames = m.frames;
        this.latest = { meters: m.channels, lufs: m.momentary_lufs, correlation: m.correlation };
        this.correlations.push({ t: now, v: m.correlation });
        while (now - this.correlations[0]!.t > HISTORY_SECONDS * 1000) this.correlations.shift();
        this.history?.push(m.frames, m.channels.map((c) => c.peak_dbfs));
        this.dirty = true;
        break;
      }
      case "gap":
        this.warn(
          "bad",
          `${position(m.at, this.rate)} — ${m.gap === "xrun" ? "the device dropped" : "overrun: the writer fell behind and lost"} ${m.frames} frames (${((m.frames / this.rate) * 1000).toFixed(0)} ms). The take will be flagged.`,
        );
        break;
      case "device_silent":
        this.warn("warn", `${position(this.frames, this.rate)} — the device has delivered nothing for ${m.seconds} s (is it still connected?).`);
        break;
      case "ended":
        this.go({ kind: "ended" });
        if (m.reason !== "stopped" && m.reason !== "duration reached") this.warn("bad", `The take ended: ${m.reason}.`);
        setText("advice", `Take ended (${m.reason}). ${LOOKS.finishing.advice}`);
        break;
      case "done":
        this.go({ kind: "done" });
        this.onDone(m, this.history ?? new LiveHistory(0));
        break;
      case "failed":
        this.fail(m.failure);
        break;
    }
  }

  private fail(f: Failure): void {
    this.go({ kind: "failed" });
    this.warn("bad", f.message);
    this.onError("capture", f);
  }

  /** After review (or a failure): ready for the next take, with a fresh item id. */
  reset(clearId: boolean): void {
    if (clearId) {
      byId<HTMLInputElement>("item-id").value = "";
      this.touched.delete("id");
    }
    this.state = "setup";
    this.go({ kind: "reset", valid: false });
    this.check();
    this.onState(this.state);
  }

  private warn(kind: "warn" | "bad", text: string): void {
    const list = byId("warnings");
    list.querySelector(".quiet")?.remove();
    list.prepend(el("li", { class: kind }, text));
  }

  /** Meter rows for the profile's channels, and the scale beneath them. */
  private buildMeters(names: string[]): void {
    const box = byId("meters");
    // Many channels (a multitrack): the readouts' captions once, on the first row.
    box.classList.toggle("dense", names.length > 4);
    this.rows = names.map((n) => ({
      canvas: el("canvas", { "aria-label": `${n} level` }),
      peak: el("span", {}, "−∞"),
      hold: el("span", {}, "−∞"),
      tp: el("span", {}, "−∞"),
      clip: el("div", { class: "clip", title: "a full-scale sample in the last 2 s" }, "CLIP"),
    }));
    const scale = el("div", { class: "scale" });
    for (const t of PEAK_TICKS) {
      const s = el("span", {}, t === 0 ? "0" : String(t).replace("-", "−"));
      s.style.left = `${peakPosition(t) * 100}%`;
      scale.append(s);
    }
    fill(
      box,
      ...this.rows.map((r, i) =>
        el(
          "div",
          { class: "meter-row", "data-channel": String(i + 1) },
          el("div", { class: "name" }, `${i + 1} ${names[i]}`),
          r.canvas,
          el("div", { class: "readout" }, el("small", {}, "peak dBFS"), r.peak),
          el("div", { class: "readout" }, el("small", {}, "hold dBFS"), r.hold),
          el("div", { class: "readout" }, el("small", {}, "true pk dBTP"), r.tp),
          r.clip,
        ),
      ),
      el("div", { class: "meter-row scale-row" }, el("div"), scale),
    );
    this.dirty = true;
  }

  /** Once a frame: the clocks always, the meters when new levels came. */
  private draw(): void {
    if (this.state === "recording" || this.state === "finishing") {
      const elapsed = this.frames / this.rate;
      setText("elapsed", clock(elapsed));
      setText("time-left", this.allows === null ? "unknown" : timeLeft(this.allows - elapsed));
      // Once a second: a figure changing every frame would repaint the panel every frame.
      const now = performance.now();
      if (now - this.rateShownAt >= 1000) {
        this.rateShownAt = now;
        const secs = this.arrivals.length > 1 ? (this.arrivals.at(-1)! - this.arrivals[0]!) / 1000 : 0;
        setText("meter-rate", secs > 0 ? `meters ${((this.arrivals.length - 1) / secs).toFixed(1)}/s` : "meters –");
      }
    }
    if (!this.dirty || byId("view-capture").hidden) return;
    this.dirty = false;
    const meters = this.latest?.meters ?? [];
    this.rows.forEach((r, i) => {
      const m = meters[i];
      drawMeter(r.canvas, m);
      r.peak.textContent = db(m?.peak_dbfs ?? null, "").trim();
      r.hold.textContent = db(m?.hold_dbfs ?? null, "").trim();
      r.tp.textContent = db(m?.true_peak_dbtp ?? null, "").trim();
      r.clip.classList.toggle("on", Boolean(m?.clip));
    });
    // The line-up displays (a 400 ms loudness, a phase trend) need no more than half the
    // meters' rate; every other update halves what they cost.
    this.lineupTick = !this.lineupTick;
    if (!this.lineupTick && this.state === "recording") return;
    const lufs = this.latest?.lufs ?? null;
    setText("lufs", db(lufs, "LUFS"));
    drawLoudness(byId<HTMLCanvasElement>("loudness-bar"), lufs);
    const corr = this.latest?.correlation ?? null;
    const channels = this.take?.profile.channels.length ?? this.profile()?.channels.length ?? 2;
    setText("correlation", channels < 2 ? "mono" : corr === null ? "–" : (corr >= 0 ? "+" : "−") + Math.abs(corr).toFixed(2));
    setText("correlation-words", channels < 2 ? "One channel: no phase to compare." : correlationWords(corr));
    drawCorrelation(byId<HTMLCanvasElement>("correlation-bar"), corr);
    drawCorrelationHistory(byId<HTMLCanvasElement>("correlation-history"), this.correlations, performance.now());
  }
}

const ZONES: [number, number, keyof typeof ZONE][] = [
  [-Infinity, -9, "ok"],
  [-9, -1, "hot"],
  [-1, 0, "over"],
];

function drawMeter(canvas: HTMLCanvasElement, m: Meter | undefined): void {
  const { g, w, h } = context(canvas);
  if (w === 0) return;
  // The unlit scale, zone by zone.
  background(canvas, g, w, h, (g, w, h) => {
    for (const [from, to, z] of ZONES) {
      const x0 = peakPosition(from) * w;
      const x1 = peakPosition(to) * w;
      g.fillStyle = ZONE_DIM[z];
      g.fillRect(x0, 2, x1 - x0, h - 4);
    }
  });
  const zones = ZONES;
  const peak = level(m?.peak_dbfs);
  for (const [from, to, z] of zones) {
    if (peak <= from) break;
    const x0 = peakPosition(from) * w;
    const x1 = peakPosition(Math.min(peak, to)) * w;
    g.fillStyle = ZONE[z];
    g.fillRect(x0, 2, x1 - x0, h - 4);
  }
  g.fillStyle = "rgba(255,255,255,0.18)";
  for (const t of PEAK_TICKS) g.fillRect(Math.round(peakPosition(t) * w), 0, 1, h);
  const hold = level(m?.hold_dbfs);
  if (hold > -Infinity) {
    g.fillStyle = "#ffffff";
    g.fillRect(Math.min(w - 3, peakPosition(hold) * w - 1), 0, 3, h);
  }
  const tp = level(m?.true_peak_dbtp);
  if (tp > -Infinity) {
    const x = Math.min(w - 1, peakPosition(tp) * w);
    g.fillStyle = tp > -1 ? ZONE.over : "#e9edf1";
    g.beginPath();
    g.moveTo(x - 6, h);
    g.lineTo(x + 6, h);
    g.lineTo(x, h - 9);
    g.closePath();
    g.fill();
  }
}

function drawLoudness(canvas: HTMLCanvasElement, lufs: number | null): void {
  const { g, w, h } = context(canvas);
  if (w === 0) return;
  const x = loudnessPosition(lufs) * w;
  g.fillStyle = "#3ec6a8";
  g.fillRect(0, 4, x, h - 8);
  g.font = "11px DejaVu Sans Mono, monospace";
  for (const t of LOUDNESS_TICKS) {
    const tx = Math.round(loudnessPosition(t) * w);
    g.fillStyle = "rgba(255,255,255,0.25)";
    g.fillRect(tx, 0, 1, h);
    g.fillStyle = "rgba(233,237,241,0.7)";
    g.fillText(String(t).replace("-", "−"), Math.min(tx + 3, w - 24), h - 6);
  }
  const target = loudnessPosition(LOUDNESS_TARGET) * w;
  g.fillStyle = "#ffcc00";
  g.fillRect(target - 1, 0, 3, h);
}

function correlationScale(g: CanvasRenderingContext2D, w: number, h: number): void {
  const grad = g.createLinearGradient(0, 0, w, 0);
  grad.addColorStop(0, "#3d1512");
  grad.addColorStop(0.5, "#33290d");
  grad.addColorStop(1, "#12301b");
  g.fillStyle = grad;
  g.fillRect(0, 4, w, h - 8);
  g.fillStyle = "rgba(233,237,241,0.7)";
  g.font = "11px DejaVu Sans Mono, monospace";
  g.fillText("−1", 4, h - 7);
  g.fillText("0", w / 2 + 3, h - 7);
  g.fillText("+1", w - 20, h - 7);
  g.fillStyle = "rgba(255,255,255,0.3)";
  g.fillRect(Math.round(w / 2), 0, 1, h);
}

function drawCorrelation(canvas: HTMLCanvasElement, c: number | null): void {
  const { g, w, h } = context(canvas);
  if (w === 0) return;
  background(canvas, g, w, h, correlationScale);
  if (c === null || !Number.isFinite(c)) return;
  const x = correlationPosition(c) * w;
  g.fillStyle = c < -0.3 ? ZONE.over : c < 0.3 ? ZONE.hot : ZONE.ok;
  g.fillRect(Math.max(0, x - 4), 0, 8, h);
}

function drawCorrelationHistory(canvas: HTMLCanvasElement, values: { t: number; v: number | null }[], now: number): void {
  const { g, w, h } = context(canvas);
  if (w === 0) return;
  g.fillStyle = "rgba(255,255,255,0.15)";
  g.fillRect(0, Math.round(h / 2), w, 1);
  g.strokeStyle = "#3ec6a8";
  g.lineWidth = 1.5;
  g.beginPath();
  let drawing = false;
  for (const { t, v } of values) {
    const x = (1 - (now - t) / (HISTORY_SECONDS * 1000)) * w;
    if (v === null || !Number.isFinite(v)) {
      drawing = false;
      continue;
    }
    const y = (1 - correlationPosition(v)) * h;
    if (drawing) g.lineTo(x, y);
    else g.moveTo(x, y);
    drawing = true;
  }
  g.stroke();
}
