// Listening to a take: the transport under its overview. Click a lane to play from there,
// space to play or stop, the play head moving over the lanes; with an access copy, A/B
// between master and copy at the same place, and "what was removed" (the difference, gained
// up). The app plays one thing at a time: starting here stops whatever played elsewhere. The
// output device is chosen once for every view.

import { api, type Failure, type Listen, type PlayMsg, type Playing } from "./api.js";
import { el, fill } from "./dom.js";
import { position } from "./format.js";
import type { Lanes } from "./lanes.js";

/** Output devices (name, description; "" is the system's default) and the one chosen. */
let outputs: { name: string; description: string }[] = [];
let device = "";
const pickers: HTMLSelectElement[] = [];

export function setOutputs(list: { name: string; description: string }[]): void {
  outputs = list;
  for (const p of pickers) fillPicker(p);
}

function fillPicker(p: HTMLSelectElement): void {
  fill(p, ...outputs.map((o) => el("option", { value: o.name, selected: o.name === device }, o.description)));
}

/** The transport playing now, if any: a new one stops it. */
let current: Transport | null = null;

const WORDS: Record<Listen, string> = { master: "Master", copy: "Access copy", difference: "What was removed" };

export class Transport {
  /** The controls, to be placed under the lanes. */
  readonly box: HTMLElement;
  private source: { item: string; pending: boolean; rate: number } | null = null;
  private hasCopy = false;
  private cursor = 0;
  private lane = 0;
  private listen: Listen = "master";
  private playing: Playing | null = null;
  /** Counts the playbacks started, so that a late message of an old one is ignored. */
  private session = 0;
  private readonly button: HTMLButtonElement;
  private readonly clock: HTMLElement;
  private readonly note: HTMLElement;
  private readonly choices: Map<Listen, HTMLButtonElement>;

  constructor(
    private readonly lanes: Lanes,
    prefix: string,
    private readonly onError: (where: string, f: Failure) => void,
  ) {
    this.button = el("button", { type: "button", id: `${prefix}-play`, class: "play", disabled: true }, "▶ Play ", el("kbd", {}, "Space"));
    this.button.addEventListener("click", () => void this.toggle());
    this.clock = el("span", { id: `${prefix}-position`, class: "play-clock" }, position(0, 1));
    this.choices = new Map(
      (["master", "copy", "difference"] as Listen[]).map((l) => {
        const b = el("button", { type: "button", id: `${prefix}-listen-${l}`, class: "choice", "aria-pressed": l === "master" ? "true" : "false" }, WORDS[l]);
        b.addEventListener("click", () => void this.choose(l));
        return [l, b];
      }),
    );
    const picker = el("select", { id: `${prefix}-output`, title: "Output device" });
    pickers.push(picker);
    fillPicker(picker);
    picker.addEventListener("change", () => {
      device = picker.value;
      for (const p of pickers) if (p !== picker) p.value = device;
      // Heard on the new device from where it is now.
      if (this.playing) void this.start(this.cursor);
    });
    this.note = el("span", { class: "note", id: `${prefix}-play-note` });
    this.box = el(
      "div",
      { class: "player", id: `${prefix}-player`, "data-state": "stopped", "data-listen": "master" },
      this.button,
      this.clock,
      el("label", { class: "output" }, "Output ", picker),
      el("span", { class: "ab", id: `${prefix}-ab` }, ...this.choices.values()),
      this.note,
    );
    lanes.onSeek((lane, frame) => void this.seek(lane, frame));
  }

  /** What the transport plays: an item (or the take waiting for review, `pending`). */
  setSource(item: string | null, pending: boolean, rate: number, hasCopy: boolean): void {
    const same = item !== null && this.source?.item === item && this.source.pending === pending;
    if (!same) {
      if (this.playing) void this.stop();
      this.cursor = 0;
      this.lane = 0;
      this.lanes.setHead(null);
      this.note.textContent = "";
    }
    this.source = item === null ? null : { item, pending, rate };
    this.hasCopy = hasCopy;
    if (!hasCopy) this.listen = "master";
    this.button.disabled = item === null;
    this.box.querySelector<HTMLElement>(".ab")!.hidden = !hasCopy;
    this.showListen();
    this.showClock();
  }

  /** Space: play from the cursor, or stop. */
  async toggle(): Promise<void> {
    if (this.playing) await this.stop();
    else await this.start(this.cursor);
  }

  private async seek(lane: number, frame: number): Promise<void> {
    if (!this.source) return;
    this.lane = lane;
    this.cursor = frame;
    if (this.playing) {
      await this.start(frame);
    } else {
      this.lanes.setHead(frame);
      this.showClock();
    }
  }

  private async start(from: number): Promise<void> {
    const src = this.source;
    if (!src) return;
    if (current && current !== this) current.ended();
    current = this;
    const session = ++this.session;
    this.box.dataset["state"] = "starting";
    try {
      const p = await api.play({ item: src.item, pending: src.pending, lane: this.lane, from, listen: this.listen, device }, (m) => this.message(session, m));
      if (session !== this.session) return;
      this.playing = p;
      this.box.dataset["state"] = "playing";
      this.box.dataset["from"] = String(p.from);
      this.box.dataset["gain"] = String(p.difference_gain_db);
      this.button.firstChild!.textContent = "■ Stop ";
      this.note.textContent = `${p.sample_rate / 1000} kHz, ${p.bits}-bit, ${p.channels} ch${p.has_copy ? ` · the difference is heard ${p.difference_gain_db} dB up` : ""}`;
      this.lanes.setHead(from, true);
    } catch (e) {
      if (session !== this.session) return;
      this.ended();
      this.onError("playback", e as Failure);
    }
  }

  async stop(): Promise<void> {
    this.session++;
    this.ended();
    try {
      await api.stopPlayback();
    } catch (e) {
      this.onError("playback", e as Failure);
    }
  }

  private message(session: number, m: PlayMsg): void {
    if (session !== this.session) return;
    if (m.kind === "position") {
      this.cursor = m.frame;
      this.box.dataset["frame"] = String(m.frame);
      this.lanes.setHead(m.frame, true);
      this.showClock();
    } else if (m.kind === "ended") {
      // Played to the end: back to where it started, as a tape machine's return to cue.
      this.cursor = m.stopped ? m.frame : (this.playing?.from ?? 0);
      this.ended();
      if (m.starved > 0) this.note.textContent = `${m.starved} period(s) could not be filled in time (a slow disk?)`;
    } else {
      this.ended();
      this.onError("playback", m.failure);
    }
  }

  /** Back to stopped, the head as the cursor. */
  private ended(): void {
    this.playing = null;
    if (current === this) current = null;
    this.box.dataset["state"] = "stopped";
    this.button.firstChild!.textContent = "▶ Play ";
    this.lanes.setHead(this.source ? this.cursor : null);
    this.showClock();
  }

  private async choose(l: Listen): Promise<void> {
    if (l !== "master" && !this.hasCopy) return;
    this.listen = l;
    this.showListen();
    if (!this.playing) return;
    try {
      await api.playListen(l);
    } catch (e) {
      this.onError("playback", e as Failure);
    }
  }

  private showListen(): void {
    this.box.dataset["listen"] = this.listen;
    for (const [l, b] of this.choices) b.setAttribute("aria-pressed", String(l === this.listen));
  }

  private showClock(): void {
    this.clock.textContent = position(this.cursor, this.source?.rate ?? 1);
    this.box.dataset["cursor"] = String(this.cursor);
  }
}
