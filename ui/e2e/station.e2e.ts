// The station end to end, as an operator uses it: the app under Xvfb, driven over WebDriver
// (tauri-driver and WebKitWebDriver, started with TAURI_WEBVIEW_AUTOMATION=true by scripts/e2e.sh).
// Choose the demo tape and a profile, fill in the metadata, record 5 s, stop, review, approve;
// the item is in the archive view and on disk a bag that bagit.py and flac accept; verify from
// the app passes. Meter messages are measured at 20 a second or more while recording. Then a
// second, longer take on a profile that makes a declicked access copy (the demo tape's clicks
// and clipped passage on the defect map), discarded: nothing of it stays. Each view is saved
// as a screenshot (docs/screenshots/, the capture and review views from the second take), and
// a view that is blank or shows an error fails the test. Listening: the archived take is played
// from a point clicked on its waveform (Space plays and stops) through a real ALSA playback
// device, and what the device received is the master's samples from that point, bit for bit;
// the second take is played in review and switched from master to access copy to "what was
// removed", and what was received is the master, then the copy, then the difference, each at
// its own place in the take. Also: a take whose capture was
// killed is offered for recovery at start-up and recovered from the app; the page cannot run
// inline script, reach the network, call a command it was not granted, or make the app read
// outside the archive.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import fs from "node:fs";
import path from "node:path";
import { Session, sleep, waitForDriver } from "./webdriver.js";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set (scripts/e2e.sh sets it)`);
  return v;
}

const DRIVER = process.env["WEBDRIVER_URL"] ?? "http://127.0.0.1:4444";
const APP = env("CAPSTAN_STATION");
const ARCHIVE = env("CAPSTAN_ARCHIVE");
const SHOTS = env("CAPSTAN_SCREENSHOTS");
const CLI = env("CAPSTAN_CLI");
const BAGIT = process.env["BAGIT_PY"] ?? "bagit.py";
const ITEM_ID = "e2e-reel-1";
const ITEM = `default/${ITEM_ID}`;
const CRASHED_ID = "e2e-cut-short";
const SPACE = "\uE00D";
const F9 = "\uE039";
const F10 = "\uE03A";

let s: Session;

/**
 * The far end of the app's playback device (scripts/e2e.sh): reads the FIFO alsa-lib's `file`
 * plugin writes to at `bytesPerSecond`, so the device plays in real time. Opened read-write,
 * so it never sees an end between playbacks (and the device's open never waits for it).
 */
class Monitor {
  private chunks: Buffer[] = [];
  private closing = false;
  lastData = 0;
  private done: Promise<void> | null = null;

  constructor(
    private readonly fifo: string,
    private readonly bytesPerSecond: number,
  ) {}

  start(): void {
    this.done = (async () => {
      const fh = await fs.promises.open(this.fifo, fs.constants.O_RDWR);
      const buf = Buffer.alloc(16384);
      while (!this.closing) {
        const began = Date.now();
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (this.closing) break;
        this.chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
        this.lastData = Date.now();
        await sleep(began + (bytesRead * 1000) / this.bytesPerSecond - Date.now());
      }
      await fh.close();
    })();
  }

  /** Forgets what was received so far, once the device has been quiet for half a second. */
  async clear(): Promise<void> {
    while (Date.now() - this.lastData < 500) await sleep(100);
    this.chunks = [];
  }

  /** What was received since `clear`, once quiet, as S24_LE samples (4 bytes each). */
  async samples(): Promise<Int32Array> {
    while (Date.now() - this.lastData < 500) await sleep(100);
    const all = Buffer.concat(this.chunks);
    const out = new Int32Array(Math.floor(all.length / 4));
    for (let i = 0; i < out.length; i++) out[i] = (all.readInt32LE(4 * i) << 8) >> 8;
    return out;
  }

  async close(): Promise<void> {
    this.closing = true;
    // Wakes the read it waits in.
    const w = fs.openSync(this.fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.writeSync(w, Buffer.alloc(4));
    fs.closeSync(w);
    await this.done;
  }
}

/** A SeaweedFS S3 server on free loopback ports, as the archive's replica `offsite`. */
class Weed {
  child: ChildProcess | null = null;
  ports: number[] = [];
  readonly dir = fs.mkdtempSync(path.join(process.env["E2E_WORK"] ?? "/tmp", "weed-"));

  async start(): Promise<void> {
    for (let i = 0; i < 11; i++) {
      this.ports.push(
        await new Promise<number>((done) => {
          const srv = net.createServer();
          srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => done(port));
          });
        }),
      );
    }
    const p = this.ports;
    fs.writeFileSync(
      path.join(this.dir, "s3.json"),
      JSON.stringify({ identities: [{ name: "e2e", credentials: [{ accessKey: env("AWS_ACCESS_KEY_ID"), secretKey: env("AWS_SECRET_ACCESS_KEY") }], actions: ["Admin", "Read", "List", "Tagging", "Write"] }] }),
    );
    fs.mkdirSync(path.join(this.dir, "d"));
    const flags = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "metricsPort"];
    this.child = spawn(
      env("E2E_WEED"),
      ["mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", `-dir=${path.join(this.dir, "d")}`, "-bucket=copies", `-s3.config=${path.join(this.dir, "s3.json")}`]
        .concat(flags.map((f, i) => `-${f}=${p[i]}`))
        .concat(["-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]),
      { stdio: "ignore" },
    );
    const until = Date.now() + 60_000;
    for (;;) {
      const up = await Promise.all([this.s3(), this.filer() + "/buckets/"].map((u) => fetch(u).then(() => true, () => false)));
      if (up.every(Boolean)) return;
      if (Date.now() > until) throw new Error("weed mini did not start");
      await sleep(200);
    }
  }

  s3(): string {
    return `http://127.0.0.1:${this.ports[6]}`;
  }

  filer(): string {
    return `http://127.0.0.1:${this.ports[4]}`;
  }

  stop(): void {
    this.child?.kill("SIGKILL");
    const tmp = process.env["TMPDIR"] ?? "/tmp";
    for (const f of fs.readdirSync(tmp)) {
      if (f.startsWith("seaweedfs-") && this.ports.some((p) => f.endsWith(`-${p}.sock`))) fs.rmSync(path.join(tmp, f), { force: true });
    }
  }
}

const weed = new Weed();

/** 96 kHz stereo, S24_LE in 4 bytes: the demo tape's profiles. */
const monitor = new Monitor(env("E2E_MONITOR"), 96_000 * 2 * 4);

/** A master's (or copy's) samples, interleaved, decoded by the reference decoder. */
function decoded(flac: string): Int32Array {
  const raw = execFileSync("flac", ["-d", "-s", "-c", "--force-raw-format", "--endian=little", "--sign=signed", flac], { maxBuffer: 1 << 28 });
  const out = new Int32Array(raw.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = raw.readIntLE(3 * i, 3);
  return out;
}

/** Clicks lane `lane` of the overview in `box` at `fraction` of its width. */
async function clickLane(box: string, lane: number, fraction: number): Promise<void> {
  const canvas = await s.find(`${box} canvas[data-channel="${lane}"]`);
  const w = await s.execute<number>(`return document.querySelector(arguments[0]).clientWidth`, `${box} canvas[data-channel="${lane}"]`);
  await s.clickAt(canvas, (fraction - 0.5) * w);
}

async function player(prefix: string, key: string): Promise<string | null> {
  return (await s.find(`#${prefix}-player`)).attribute(`data-${key}`);
}

/**
 * A capture killed mid-take (as by a power cut): `capstan capture` from the demo tape, killed
 * with SIGKILL once its journal holds a second and a half of audio.
 */
async function interruptedTake(id: string): Promise<void> {
  const child = spawn(
    CLI,
    ["capture", "--profile", "quarter-inch-half-track-stereo", "--id", id, "--device", "demo", "--duration", "60s"]
      .concat(["--meta", "TITLE=A take cut short", "--meta", "TAPE_SPEED=15", "--archive", ARCHIVE]),
    { stdio: "ignore" },
  );
  const exited = new Promise((r) => child.once("exit", r));
  const journal = path.join(ARCHIVE, ".capstan", "journal");
  const bytes = () =>
    fs.existsSync(journal)
      ? fs.readdirSync(journal).filter((f) => f.endsWith(".wav")).reduce((n, f) => n + fs.statSync(path.join(journal, f)).size, 0)
      : 0;
  const until = Date.now() + 30_000;
  while (bytes() < 1.5 * 96_000 * 2 * 3) {
    if (Date.now() > until) throw new Error("the capture to interrupt never wrote its journal");
    await sleep(100);
  }
  child.kill("SIGKILL");
  await exited;
}

before(async () => {
  monitor.start();
  await weed.start();
  execFileSync(CLI, ["replica", "add", "offsite", "s3://copies/e2e", "--endpoint", weed.s3(), "--path-style", "--archive", ARCHIVE], { stdio: "pipe" });
  await interruptedTake(CRASHED_ID);
  await waitForDriver(DRIVER);
  // tauri-driver starts the app through WebKitWebDriver.
  s = await Session.create(DRIVER, { "tauri:options": { application: APP, args: [] } });
  await s.until("the station to start", () => s.execute<string | undefined>("return document.body.dataset.ready"), 60_000);
});

after(async () => {
  await s?.delete();
  await monitor.close();
  weed.stop();
});

/** Fails if the page shows an error anywhere (footer, body flag, any visible .error). */
async function assertNoError(where: string): Promise<void> {
  const e = await s.execute<{ flag: string | null; footer: string; shown: string[] }>(`
    return {
      flag: document.body.dataset.error || null,
      footer: document.getElementById("errors").textContent,
      shown: [...document.querySelectorAll(".error, .banner.bad")].filter(e => e.offsetParent !== null).map(e => e.textContent),
    };`);
  assert.equal(e.flag, null, `${where}: the page reports an error: ${e.footer}`);
  assert.equal(e.footer, "", `${where}: ${e.footer}`);
  assert.deepEqual(e.shown, [], `${where}: an error is shown`);
}

/**
 * Saves the screen (Xvfb's, the app's window filling it) as docs/screenshots/<name>.png, and
 * fails if the view is blank: a page showing something has hundreds of colours (text,
 * meters, badges), a blank one a handful. (The X server's picture, not WebDriver's: WebKit's
 * automation snapshot never returned for some views under Xvfb.)
 */
async function screenshot(name: string, minColours = 200): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  // Two animation frames, so that what the page last drew is on the screen.
  await s.executeAsync(`const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done()));`);
  execFileSync("import", ["-window", "root", file]);
  const colours = Number(execFileSync("identify", ["-format", "%k", file]).toString().trim());
  assert.ok(colours >= minColours, `${name}.png looks blank: ${colours} colours`);
  const text = await s.execute<string>(`return document.querySelector("section.view:not([hidden])").innerText`);
  assert.ok(text.trim().length > 100, `${name}: the view holds no text`);
}

async function bodyData(key: string): Promise<string | undefined> {
  return s.execute<string | undefined>(`return document.body.dataset[arguments[0]]`, key);
}

async function typeInto(css: string, text: string): Promise<void> {
  const e = await s.find(css);
  await e.clear();
  await e.type(text);
}

/** Seconds on the recording clock. */
async function elapsed(): Promise<number> {
  const t = await (await s.find("#elapsed")).text();
  const [h, m, sec] = t.split(":").map(Number);
  return h! * 3600 + m! * 60 + sec!;
}

async function waitForTake(state: string, timeoutMs: number): Promise<void> {
  await s.until(`the take to be ${state}`, async () => (await bodyData("take")) === state, timeoutMs);
}

test("the station starts on the capture view, without errors", async () => {
  assert.equal(await bodyData("view"), "capture");
  await assertNoError("start");
  const profiles = await s.execute<string[]>(`return [...document.querySelectorAll("#profile option")].map(o => o.value)`);
  assert.ok(profiles.includes("quarter-inch-half-track-stereo"), profiles.join(", "));
  assert.equal(await bodyData("take"), "setup", "nothing may be recorded before the form is complete");
  assert.equal(await (await s.find("#record")).enabled(), false);
});

test("the interrupted take is offered for recovery at start-up, and recovered", async () => {
  const banner = await s.until("the recovery offer", async () => {
    const b = await s.findAll("#banners .banner");
    return b.length ? b[0] : null;
  });
  assert.match(await banner.text(), new RegExp(`default/${CRASHED_ID}`));
  const recover = await s.until("its button", async () => {
    for (const b of await s.findAll("#banners .banner button")) if ((await b.text()) === "Recover now") return b;
    return null;
  });
  await recover.click();
  await s.until("the take recovered", async () => /Recovered: default\/e2e-cut-short/.test(await (await s.find("#banners .banner")).text()), 60_000);
  await (await s.find("#banners .banner button")).click(); // OK
  await assertNoError("recovery");
  const bag = path.join(ARCHIVE, "default", CRASHED_ID);
  execFileSync(BAGIT, ["--validate", bag], { stdio: "pipe" });
  const qc = JSON.parse(fs.readFileSync(path.join(bag, "data", `${CRASHED_ID}.qc.json`), "utf8"));
  assert.equal(qc.takes[0].capture.recovered, true);
  assert.ok(qc.takes[0].source.frames >= 96_000, "at least a second recovered");
});

test("the page is locked down", async () => {
  // No inline script (CSP script-src 'self').
  const inline = await s.execute<unknown>(`
    const el = document.createElement("script");
    el.textContent = "window.__inlineRan = true";
    document.head.append(el);
    return window.__inlineRan === true;`);
  assert.equal(inline, false, "an inline script ran");
  // No network: the content security policy refuses it (connect-src), whatever the network.
  const fetched = await s.executeAsync<string>(`
    const done = arguments[arguments.length - 1];
    let violated = null;
    document.addEventListener("securitypolicyviolation", (e) => { violated = e.effectiveDirective || e.violatedDirective; });
    fetch("https://example.com/").then(
      () => done("fetched"),
      () => setTimeout(() => done("refused by " + violated), 100));`);
  assert.equal(fetched, "refused by connect-src");
  // Only the app's own commands: a core plugin command the capability does not grant is refused.
  const denied = await s.executeAsync<string>(`
    const done = arguments[arguments.length - 1];
    window.__TAURI__.core.invoke("plugin:window|close", { label: "main" })
      .then(() => done("allowed"), (e) => done("denied: " + String(e)));`);
  assert.match(denied, /^denied/);
  // Names from the page are checked by the core: none reaches outside the archive.
  for (const name of ["../../etc", "/etc/passwd", "default/../../x"]) {
    const answer = await s.executeAsync<{ code?: string } | string>(
      `const done = arguments[arguments.length - 1];
       window.__TAURI__.core.invoke("item_detail", { item: arguments[0] }).then(() => done("answered"), (e) => done(e));`,
      name,
    );
    assert.equal(typeof answer, "object", `${name}: ${JSON.stringify(answer)}`);
    assert.match((answer as { code: string }).code, /^(unknown_item|bad_name)$/, JSON.stringify(answer));
  }
  // A take named to land outside the archive is refused by the core before anything is made.
  const take = await s.executeAsync<{ kind: string; failure?: { code: string; message: string } }>(
    `const done = arguments[arguments.length - 1];
     const events = new window.__TAURI__.core.Channel();
     events.onmessage = (m) => { if (m.kind === "failed" || m.kind === "done") done(m); };
     window.__TAURI__.core.invoke("start_capture", {
       take: { device: "demo", profile: "quarter-inch-half-track-stereo", collection: "default", id: "../../escaped",
               meta: { TITLE: "x", TAPE_SPEED: "7.5" }, seconds: 1 },
       events,
     }).catch((e) => done({ kind: "failed", failure: e }));`,
  );
  assert.equal(take.kind, "failed", JSON.stringify(take));
  assert.equal(take.failure?.code, "bad_metadata", JSON.stringify(take));
  assert.equal(fs.existsSync(path.join(ARCHIVE, "..", "escaped")), false);
  assert.equal(fs.existsSync(path.join(ARCHIVE, "escaped")), false);
  await assertNoError("lock-down checks");
});

let levelsAtStop = 0;

test("choose the demo tape and a profile, fill the metadata, record 5 s with live meters", async () => {
  await (await s.find(`#device option[value="demo"]`)).click();
  await (await s.find(`#profile option[value="quarter-inch-half-track-stereo"]`)).click();
  await typeInto("#item-id", ITEM_ID);
  await typeInto("#meta-TITLE", "Interview with the founder, reel 1");
  await typeInto("#meta-TAPE_SPEED", "7.5");
  await typeInto("#meta-OPERATOR", "e2e");
  await s.until("the take to be armed", async () => (await bodyData("take")) === "armed", 5000);
  assert.equal(await (await s.find("#state-badge")).text(), "ARMED");
  // The room on disk is shown before recording, so a reel that will not fit is known in time.
  const room = await s.until("the room on disk", async () => {
    const t = await (await s.find("#time-left")).text();
    return /\d/.test(t) ? t : null;
  }, 10_000);
  assert.match(room, /^(\d+ (s|min)|\d+ h \d\d min|more than 99 h)$/, `time left before recording: ${room}`);

  // Record from the keyboard (F9 works with the focus in a field).
  await s.press(F9);
  await s.until("recording", async () => (await bodyData("take")) === "recording", 10_000);
  assert.equal(await (await s.find("#state-badge")).text(), "RECORDING");
  await s.until("the first meters", async () => Number(await (await s.find("#meters")).attribute("data-levels")) > 0, 10_000);

  // Meter messages: counted by the page as they arrive, over 3 s of recording.
  const count = async () => Number(await (await s.find("#meters")).attribute("data-levels"));
  const n0 = await count();
  const t0 = Date.now();
  await sleep(3000);
  const n1 = await count();
  const t1 = Date.now();
  const rate = ((n1 - n0) * 1000) / (t1 - t0);
  console.log(`meter messages: ${rate.toFixed(1)} a second (${n1 - n0} in ${t1 - t0} ms)`);
  assert.ok(rate >= 20, `meters arrive ${rate.toFixed(1)} times a second; at least 20 wanted`);

  // The meters show the demo tape's signal.
  const readouts = await s.execute<string[]>(`return [...document.querySelectorAll("#meters .readout span")].map(e => e.textContent)`);
  assert.ok(readouts.some((r) => r !== "−∞"), `meters show no level: ${readouts.join(" ")}`);
  const left = await (await s.find("#time-left")).text();
  assert.ok(left && left !== "–" && left !== "unknown", `time left on disk: ${left}`);
  await assertNoError("recording");

  // 5 s of tape, then stop from the keyboard.
  await s.until("5 s recorded", async () => (await elapsed()) >= 5.0, 20_000);
  levelsAtStop = await count();
  await s.press(F10);
  await s.until("finishing or done", async () => ["finishing", "done"].includes((await bodyData("take")) ?? ""), 5000);
});

test("the finished take is reviewed: overview, defect map, figures", async () => {
  await waitForTake("done", 60_000);
  assert.equal(await bodyData("view"), "review");
  await assertNoError("review");
  const title = await (await s.find("#review-title")).text();
  assert.ok(title.startsWith(ITEM), title);
  const lanes = await s.findAll("#overview canvas");
  assert.equal(lanes.length, 2, "one overview lane per channel");
  const figures = await (await s.find("#review-levels")).text();
  assert.match(figures, /integrated/i);
  assert.match(figures, /\d+\.\d/, "level figures");
  const capture = await (await s.find("#review-capture")).text();
  assert.match(capture, /demo/);
  assert.match(capture, /stopped/);
  assert.ok(levelsAtStop > 100, `${levelsAtStop} meter messages in 5 s`);
  await s.until("the master's overview", async () => (await (await s.find("#overview")).attribute("data-source")) === "master", 20_000);
  assert.equal(await (await s.find("#access-panel")).displayed(), false, "this profile makes no access copy");
});

test("approving puts the item in the archive view; on disk it is a valid bag", async () => {
  await (await s.find("#approve")).click();
  await s.until("the archive view", async () => (await bodyData("view")) === "archive", 10_000);
  await s.until("the item in the list", async () => (await s.findAll(`button[data-open="${ITEM}"]`)).length === 1, 15_000);
  await s.until("the item's detail", async () => (await (await s.find("#item-detail h3")).text()) === ITEM, 15_000);
  await assertNoError("archive");
  // The item's waveform and defect map, read back from the archive.
  await s.until("the item's overview", async () => (await (await s.find("#item-overview")).attribute("data-source")) === "master", 20_000);
  assert.equal((await s.findAll("#item-overview canvas")).length, 2, "a lane per channel");
  // The recovered take is marked for a listen, with its reason; the clean one is not.
  const listen = await s.execute<(string | null)[]>(
    `return ["default/${CRASHED_ID}", "${ITEM}"].map(i => document.querySelector(\`tr[data-item="\${i}"] .listen\`)?.getAttribute("title") ?? null)`,
  );
  assert.match(listen[0] ?? "", /recovered/, `the recovered take's listen mark: ${listen[0]}`);
  assert.equal(listen[1], null, "the clean take needs no listen");

  const bag = path.join(ARCHIVE, "default", ITEM_ID);
  const validate = execFileSync(BAGIT, ["--validate", bag], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  void validate;
  const flacs = fs.readdirSync(path.join(bag, "data")).filter((f) => f.endsWith(".flac"));
  assert.deepEqual(flacs, [`${ITEM_ID}_pm.flac`]);
  execFileSync("flac", ["-t", "-s", path.join(bag, "data", flacs[0]!)], { stdio: "pipe" });
  const tags = execFileSync("metaflac", ["--export-tags-to=-", path.join(bag, "data", flacs[0]!)], { encoding: "utf8" });
  assert.match(tags, /^TITLE=Interview with the founder, reel 1$/m);
  assert.match(tags, /^TAPE_SPEED=7\.5$/m);
  const frames = Number(execFileSync("metaflac", ["--show-total-samples", path.join(bag, "data", flacs[0]!)], { encoding: "utf8" }));
  assert.ok(frames >= 5 * 96000 && frames < 8 * 96000, `${frames} frames: about 5 s at 96 kHz`);
});

test("the archived take plays from a point clicked on its waveform, bit-exact, Space to play and stop", async () => {
  // The output device, chosen in the app.
  const outputs = await s.execute<string[]>(`return [...document.querySelectorAll("#item-output option")].map(o => o.value)`);
  assert.ok(outputs.includes("capstan_monitor"), `output devices: ${outputs.join(", ")}`);
  assert.equal(await (await s.find("#item-ab")).displayed(), false, "no A/B without an access copy");
  await s.execute(`document.getElementById("item-player").scrollIntoView({ block: "center" })`);
  await (await s.find(`#item-output option[value="capstan_monitor"]`)).click();
  await monitor.clear();
  // Click at 40 % of the first lane: the cursor moves there, nothing plays yet.
  await clickLane("#item-overview", 0, 0.4);
  const cursor = Number(await s.until("the cursor", async () => {
    const c = await player("item", "cursor");
    return c && c !== "0" ? c : null;
  }, 5000));
  const frames = Number(execFileSync("metaflac", ["--show-total-samples", path.join(ARCHIVE, "default", ITEM_ID, "data", `${ITEM_ID}_pm.flac`)], { encoding: "utf8" }));
  assert.ok(Math.abs(cursor / frames - 0.4) < 0.02, `cursor at ${cursor} of ${frames} frames`);
  assert.equal(await player("item", "state"), "stopped");
  assert.match(await (await s.find("#item-position")).text(), /^00:00:0[12]\.\d{3}$/);
  // Space plays from there; the play head moves.
  await s.press(SPACE);
  await s.until("playing", async () => (await player("item", "state")) === "playing", 10_000);
  assert.equal(Number(await player("item", "from")), cursor);
  await s.until("the play head past half a second", async () => Number(await player("item", "frame")) > cursor + 48_000, 10_000);
  const head = await s.execute<{ shown: boolean; left: number }>(
    `const h = document.querySelector("#item-overview .head"); return { shown: !h.hidden, left: parseFloat(h.style.left) };`,
  );
  assert.ok(head.shown && head.left > 40 && head.left < 100, `the play head: ${JSON.stringify(head)}`);
  await sleep(500);
  // Space stops it.
  await s.press(SPACE);
  await s.until("stopped", async () => (await player("item", "state")) === "stopped", 10_000);
  const stoppedAt = Number(await player("item", "frame"));
  assert.ok(stoppedAt < frames, "stopped before the end");
  await assertNoError("playback");
  // What the device received: the master from the point clicked, bit for bit.
  const played = await monitor.samples();
  const master = decoded(path.join(ARCHIVE, "default", ITEM_ID, "data", `${ITEM_ID}_pm.flac`));
  const n = played.length - (played.length % 2);
  console.log(`played ${n / 2} frames from ${cursor} (stopped at ${stoppedAt})`);
  assert.ok(n / 2 >= 96_000, `only ${n / 2} frames reached the device`);
  for (let i = 0; i < n; i++) {
    if (played[i] !== master[cursor * 2 + i]) assert.fail(`sample ${i} played (frame ${cursor + Math.floor(i / 2)}): ${played[i]}, the master has ${master[cursor * 2 + i]}`);
  }
});

test("verify from the app passes and is recorded", async () => {
  await (await s.find("#verify-all")).click();
  const verdict = await s.until(
    "the verification's verdict",
    async () => {
      const v = await s.findAll("#verify-verdict");
      return v.length ? await v[0]!.text() : null;
    },
    60_000,
  );
  assert.equal(verdict, "PASS");
  const status = await (await s.find("#verify-status")).text();
  assert.match(status, /2 bag/);
  await s.until(
    "the item's fixity status",
    async () => (await s.execute<string>(`return document.querySelector('tr[data-item="${ITEM}"] .badge')?.textContent ?? ""`)) === "intact",
    15_000,
  );
  await assertNoError("after verification");
  await screenshot("archive");
});

test("the archive is replicated; the app audits its replica and names what it lost", async () => {
  execFileSync(CLI, ["replicate", "--archive", ARCHIVE], { stdio: "pipe" });
  assert.equal(await (await s.find("#audit-replicas")).displayed(), true, "the audit is offered: the archive has a replica");
  const verdict = async () => {
    await (await s.find("#audit-replicas")).click();
    await s.until("the audit's verdict", async () => (await (await s.find("#replicas-status")).attribute("data-state")) === "done", 60_000);
    return (await s.find("#audit-verdict")).text();
  };
  assert.equal(await verdict(), "AGREE");
  // The item's detail says when it was replicated and audited.
  await s.until("the item's replica state", async () => {
    const t = await s.execute<string>(`return document.getElementById("item-replicas")?.textContent ?? ""`);
    return /offsite/.test(t) && /replicated /.test(t) && /audited .*pass/.test(t);
  }, 15_000);
  // The replica's copy of the master lost out of band: the audit names it, and which copy agrees.
  const lost = `e2e/default/${ITEM_ID}/data/${ITEM_ID}_pm.flac`;
  const gone = await fetch(`${weed.filer()}/buckets/copies/${lost}`, { method: "DELETE" });
  assert.ok(gone.ok, `delete: ${gone.status}`);
  assert.equal(await verdict(), "DISAGREE");
  const found = await (await s.find("#replicas-status")).text();
  assert.match(found, new RegExp(`default/${ITEM_ID}/data/${ITEM_ID}_pm\\.flac — agree with the manifest: local; disagree: offsite \\(missing\\)`));
  await assertNoError("replica audit");
  execFileSync(CLI, ["replicate", "--archive", ARCHIVE], { stdio: "pipe" });
});

test("the shared catalogue's panel shows what a fixity worker proved, archive and replica", async () => {
  assert.equal(await (await s.find("#shared-panel")).displayed(), true, "the station was started with a shared catalogue");
  execFileSync(CLI, ["reindex", "--catalogue", env("CAPSTAN_CATALOGUE"), "--archive", ARCHIVE], { stdio: "pipe" });
  const refreshed = async () => {
    await (await s.find("#shared-refresh")).click();
    await s.until("the shared catalogue", async () => (await (await s.find("#shared-panel")).attribute("data-state")) === "done", 30_000);
    return (await s.find("#shared-summary")).text();
  };
  // Each file twice: the archive's own copy and the replica's, each with its last proof from
  // the archive's events.jsonl (the verification above; the replication of each copy).
  const registered = await refreshed();
  const m = /1 archive\(s\), (\d+) file copies, 0 never proved; oldest proof (\S+); work 0 due, 0 claimed/.exec(registered);
  assert.ok(m, registered);
  const [copies, oldest] = [Number(m[1]), m[2]!];
  assert.ok(copies >= 4, registered);
  // Everything proved more than a second ago is due at a period of one second.
  await new Promise((r) => setTimeout(r, 1100));
  execFileSync(CLI, ["schedule", "--period", "1s"], { stdio: "pipe" });
  assert.match(await refreshed(), new RegExp(`work ${copies} due, 0 claimed`));
  // One worker proves the archive's files and the replica's copies (each by its stored checksum).
  execFileSync(CLI, ["worker", "--until-idle"], { stdio: "pipe" });
  const after = await refreshed();
  const n = /0 never proved; oldest proof (\S+); work 0 due, 0 claimed/.exec(after);
  assert.ok(n && n[1]! > oldest, `${registered} then ${after}`);
  assert.equal(await (await s.find("#shared-state")).text(), "all proved well");
  await assertNoError("shared catalogue");
});

test("a second take, with an access copy, is reviewed and discarded: nothing of it stays", async () => {
  await (await s.find("#tab-capture")).click();
  // A multitrack profile gets a meter per track, its metadata form the profile's fields.
  await (await s.find(`#profile option[value="half-inch-8-track"]`)).click();
  const tracks = await s.execute<string[]>(`return [...document.querySelectorAll("#meters .meter-row[data-channel] .name")].map(e => e.textContent)`);
  assert.deepEqual(tracks, [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `${n} Track ${n}`));
  await (await s.find(`#profile option[value="lacquer-disc"]`)).click();
  await typeInto("#item-id", "e2e-disc-2");
  await typeInto("#meta-TITLE", "Acetate, side A");
  await waitForTake("armed", 5000);
  await (await s.find("#record")).click();
  await waitForTake("recording", 10_000);
  // Into the programme, past the clipped passage at 12 s: the clip lights are on.
  await s.until("12.3 s recorded", async () => (await elapsed()) >= 12.3, 30_000);
  const clips = await s.execute<number>(`return document.querySelectorAll("#meters .clip.on").length`);
  assert.equal(clips, 2, "both clip lights on after the clipped passage");
  // The writer was made to stall at 6.5 s (scripts/e2e.sh): the loss is reported as it happens.
  const warned = await s.until("the overrun warning", async () => {
    const w = await s.execute<string[]>(`return [...document.querySelectorAll("#warnings li.bad")].map(e => e.textContent)`);
    return w.find((t) => /overrun/.test(t)) ?? null;
  }, 10_000);
  assert.match(warned, /lost \d+ frames/);
  await screenshot("capture");
  await s.until("17 s recorded", async () => (await elapsed()) >= 17.0, 20_000);
  await (await s.find("#stop")).click();
  await waitForTake("done", 120_000);
  assert.equal(await bodyData("view"), "review");
  await s.until("the master's overview", async () => (await (await s.find("#overview")).attribute("data-source")) === "master", 30_000);
  assert.equal(await (await s.find("#access-panel")).displayed(), true, "the access copy is shown");
  const access = await (await s.find("#review-access")).text();
  // What the declicker changed (how many clicks it finds is the declicker's business).
  assert.match(access, /declicked/i, access);
  assert.match(access, /clicks repaired\s*\d+/i, access);
  const defects = await (await s.find("#review-defects")).text();
  assert.match(defects, /clip/);
  assert.match(defects, /overrun/, "the lost samples are in the defect map");
  assert.match(await (await s.find("#review-capture")).text(), /flagged|needs a listen/i);
  await assertNoError("second review");

  // Listening in review: master, then access copy, then what was removed, at the same place.
  assert.equal(await (await s.find("#review-ab")).displayed(), true, "A/B is offered with an access copy");
  assert.equal(await s.execute<string>(`return document.getElementById("review-output").value`), "capstan_monitor", "the output chosen once serves every view");
  await monitor.clear();
  await clickLane("#overview", 1, 0.55);
  await s.press(SPACE);
  await s.until("playing", async () => (await player("review", "state")) === "playing", 10_000);
  const from = Number(await player("review", "from"));
  const gain = Number(await player("review", "gain"));
  const heard: [string, number][] = [];
  for (const l of ["copy", "difference"]) {
    await sleep(700);
    heard.push([l, Number(await player("review", "frame"))]);
    await (await s.find(`#review-listen-${l}`)).click();
    await s.until(`listening to ${l}`, async () => (await player("review", "listen")) === l, 5000);
  }
  await sleep(700);
  await screenshot("review");
  await (await s.find("#review-play")).click();
  await s.until("stopped", async () => (await player("review", "state")) === "stopped", 10_000);
  await assertNoError("listening in review");
  const staged = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? staged(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  const files = staged(path.join(ARCHIVE, ".capstan", "staging"));
  const pm = decoded(files.find((f) => f.endsWith("e2e-disc-2_pm.flac"))!);
  const ac = decoded(files.find((f) => f.endsWith("e2e-disc-2_ac.flac"))!);
  const shift = Math.round(gain / (20 * Math.log10(2)));
  const rail = (1 << 23) - 1;
  const diff = (i: number) => Math.max(-rail - 1, Math.min(rail, (pm[i]! - ac[i]!) * 2 ** shift));
  const got = await monitor.samples();
  const frames = Math.floor(got.length / 2);
  // Frame by frame: the master, then the copy, then the difference, each from where the
  // previous left off (where two agree, either will do).
  const same = (f: number, want: (i: number) => number) => [0, 1].every((c) => got[2 * f + c] === want(2 * (from + f) + c));
  const bounds: number[] = [];
  let f = 0;
  for (const want of [(i: number) => pm[i]!, (i: number) => ac[i]!, diff]) {
    while (f < frames && same(f, want)) f++;
    bounds.push(f);
  }
  console.log(`review playback: ${frames} frames from ${from}; master to ${bounds[0]}, copy to ${bounds[1]}, difference to ${bounds[2]}; switched near ${heard.map(([l, at]) => `${l} ${at - from}`).join(", ")}`);
  assert.equal(bounds[2], frames, `frame ${bounds[2]} is neither what was being heard nor the next (master to ${bounds[0]}, copy to ${bounds[1]})`);
  assert.ok(bounds[0]! > 48_000 && bounds[1]! - bounds[0]! > 48_000 && frames - bounds[1]! > 48_000, `each heard for half a second or more: ${bounds.join(", ")}`);
  assert.ok(pm.length > 0 && ac.length === pm.length);

  // Discard: asks once more, then nothing of the take is left anywhere.
  await (await s.find("#discard")).click();
  assert.match(await (await s.find("#discard")).text(), /really/i);
  await (await s.find("#discard")).click();
  await s.until("back to capture", async () => (await bodyData("view")) === "capture", 10_000);
  await assertNoError("after discard");
  assert.equal(fs.existsSync(path.join(ARCHIVE, "default", "e2e-disc-2")), false, "the discarded item is not in the archive");
  const left = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
  assert.deepEqual(left(path.join(ARCHIVE, ".capstan", "staging")), [], "staging is empty");
  assert.deepEqual(left(path.join(ARCHIVE, ".capstan", "journal")), [], "no journal is left");
  const items = await s.execute<string[]>(`return [...document.querySelectorAll("button[data-open]")].map(b => b.dataset.open)`);
  assert.deepEqual(items, [`default/${CRASHED_ID}`, ITEM]);
});
