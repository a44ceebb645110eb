// The archive view: its health at a glance, verify now (with progress), the watcher's state,
// the items with their fixity status and last verification, an item's detail, the event log.

import { api, type SharedCatalogue, type ArchiveEvent, type ArchiveReport, type AuditReport, type Failure, type ItemSummary, type ItemView, type ReplicaSettings, type VerifyReport, type WatchMsg } from "./api.js";
import { byId, el, facts, fill, setText } from "./dom.js";
import { bytes, dateTime, db, duration } from "./format.js";
import { Lanes } from "./lanes.js";
import { Transport } from "./listen.js";
import { fromWaveforms } from "./overview.js";

/** Buckets asked of the library for an item's overview (the detail panel is narrower than the review). */
const BUCKETS = 2048;

const LOG_LIMIT = 300;

export class ArchiveView {
  private report: ArchiveReport | null = null;
  private selected: string | null = null;
  private verifying = false;
  private watcher: "starting" | "running" | "stopping" | "stopped" | "failed" = "stopped";
  private refreshTimer = 0;
  // The selected item's overview: its lanes live across re-renders of the detail, and the
  // masters are read again only when the item or a master's digest changes.
  private readonly laneBox = el("div", { id: "item-overview", class: "overview" });
  private readonly legendBox = el("div", { class: "legend-row" });
  private readonly overviewNote = el("p", { class: "note", id: "item-overview-source" });
  private lanes: Lanes | null = null;
  private replicas: ReplicaSettings[] = [];
  private shared = false;
  /** Plays the selected item's masters (and access copy) from the archive. */
  transport: Transport | null = null;
  private overviewKey = "";

  constructor(
    private readonly onItems: (items: string[]) => void,
    private readonly onError: (where: string, f: Failure) => void,
  ) {}

  init(): void {
    this.lanes = new Lanes(this.laneBox, this.legendBox);
    this.transport = new Transport(this.lanes, "item", this.onError);
    byId("verify-all").addEventListener("click", () => void this.verify(null));
    byId("audit-replicas").addEventListener("click", () => void this.auditReplicas());
    byId("shared-refresh").addEventListener("click", () => void this.sharedCatalogue());
    byId("watcher-toggle").addEventListener("click", () => void this.toggleWatcher());
    byId("items").addEventListener("click", (e) => {
      const row = (e.target as HTMLElement).closest<HTMLElement>("tr[data-item]");
      if (row) void this.select(row.dataset["item"]!);
    });
  }

  async refresh(): Promise<void> {
    try {
      const [report, log] = await Promise.all([api.archiveReport(), api.eventLog(LOG_LIMIT)]);
      this.report = report;
      this.tiles(report);
      this.items(report);
      this.log(log);
      this.onItems(report.items.map((i) => i.item));
      if (this.selected) await this.select(this.selected);
      if (this.shared) await this.sharedCatalogue();
    } catch (e) {
      this.onError("archive", e as Failure);
    }
  }

  /** Refreshes soon, once, however many events arrive meanwhile. */
  private refreshSoon(): void {
    window.clearTimeout(this.refreshTimer);
    this.refreshTimer = window.setTimeout(() => void this.refresh(), 400);
  }

  private tiles(r: ArchiveReport): void {
    const s = r.summary;
    const tile = (label: string, value: string, cls = "") =>
      el("div", { class: `tile ${cls}` }, el("strong", {}, value), el("span", { class: "caption" }, label));
    fill(
      byId("archive-tiles"),
      tile("Items", String(s.items)),
      tile("Audio (h:mm:ss)", duration(s.audio_seconds)),
      tile("Payload", bytes(s.bytes)),
      tile("Never verified", String(s.never_verified), s.never_verified ? "warn" : ""),
      tile("Open problems", String(s.open_problems), s.open_problems ? "bad" : ""),
      tile("Need a listen", String(s.needs_listen), s.needs_listen ? "warn" : ""),
    );
  }

  private items(r: ArchiveReport): void {
    setText("items-count", `${r.items.length} item(s), ${r.summary.files} file(s)`);
    fill(
      byId("items"),
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", {}, "Item"),
          el("th", { class: "num" }, "Duration"),
          el("th", { class: "num" }, "Size"),
          el("th", {}, "Fixity"),
          el("th", {}, "Last verification"),
        ),
      ),
      el("tbody", {}, ...r.items.map((i) => this.itemRow(i))),
    );
    if (r.items.length === 0) {
      byId("items").append(el("tbody", {}, el("tr", {}, el("td", { colspan: "5", class: "quiet" }, "The archive is empty: record a take, or `capstan demo`."))));
    }
  }

  private itemRow(i: ItemSummary): HTMLElement {
    const problems = Math.max(
      i.problems.length + (i.bag_failed ? 1 : 0),
      i.last_verification?.outcome === "fail" ? 1 : 0,
    );
    const status = problems > 0 ? "fail" : i.last_verification ? i.last_verification.outcome : "never";
    const words = problems > 0 ? `${problems} problem(s)` : i.last_verification ? "intact" : "not yet verified";
    return el(
      "tr",
      { "data-item": i.item, class: i.item === this.selected ? "selected" : undefined },
      el(
        "td",
        {},
        el("button", { type: "button", class: "link", "data-open": i.item }, i.item),
        i.needs_listen ? el("span", { class: "badge warning listen", title: `Needs a listen: ${i.needs_listen}` }, "listen") : null,
      ),
      el("td", { class: "num" }, duration(i.audio_seconds)),
      el("td", { class: "num" }, bytes(i.bytes)),
      el("td", {}, el("span", { class: `badge ${status}` }, words)),
      el("td", {}, i.last_verification ? dateTime(i.last_verification.date_time) : "never"),
    );
  }

  private log(events: ArchiveEvent[]): void {
    fill(
      byId("event-log"),
      el(
        "thead",
        {},
        el("tr", {}, el("th", {}, "Date-time"), el("th", {}, "Item"), el("th", {}, "Event"), el("th", {}, "Outcome"), el("th", {}, "File"), el("th", {}, "Detail")),
      ),
      el(
        "tbody",
        {},
        ...events.map((e) =>
          el(
            "tr",
            {},
            el("td", { class: "mono" }, dateTime(e.date_time)),
            el("td", {}, e.item),
            el("td", {}, e.event_type),
            el("td", {}, el("span", { class: `badge ${e.outcome}` }, e.outcome)),
            el("td", { class: "mono" }, e.file ?? ""),
            el("td", {}, e.detail),
          ),
        ),
      ),
    );
  }

  async select(item: string): Promise<void> {
    this.selected = item;
    for (const tr of byId("items").querySelectorAll<HTMLElement>("tr[data-item]")) {
      tr.classList.toggle("selected", tr.dataset["item"] === item);
    }
    try {
      this.detail(await api.itemDetail(item));
    } catch (e) {
      this.onError("archive", e as Failure);
    }
  }

  /** The item's waveform, read back from its masters by the library. */
  private async loadOverview(item: string, key: string): Promise<void> {
    try {
      const waves = await api.itemOverview(item, BUCKETS);
      if (this.overviewKey !== key) return;
      this.lanes?.setOverview(fromWaveforms(waves));
      this.laneBox.dataset["source"] = "master";
      this.overviewNote.textContent = `Read back from the archive: ${waves.length} master(s), ${waves[0]?.channels[0]?.length ?? 0} columns of ${waves[0]?.frames_per_bucket ?? 0} frames.`;
    } catch (e) {
      if (this.overviewKey !== key) return;
      this.laneBox.dataset["source"] = "error";
      this.overviewNote.className = "error";
      this.overviewNote.textContent = `The master could not be read: ${(e as Failure).message}`;
    }
  }

  private detail(v: ItemView): void {
    const box = byId("item-detail");
    const summary = this.report?.items.find((i) => i.item === v.item);
    const take = v.qc?.takes[0];
    const verifyItem = el("button", { type: "button", id: "verify-item" }, "Verify this item");
    verifyItem.addEventListener("click", () => void this.verify(v.item));
    const info = el("dl", { class: "facts" });
    facts(info, [
      ["Bag", el("span", { class: "mono" }, v.bag)],
      ...v.bag_info.map(([k, val]): [string, string] => [k, val]),
    ]);
    const tags = el("dl", { class: "facts" });
    const first = v.tags[0];
    if (first) facts(tags, first[1].filter(([k]) => k !== "CODING_HISTORY").map(([k, val]): [string, string] => [k, val]));
    const history = v.tags[0]?.[1].find(([k]) => k === "CODING_HISTORY")?.[1];
    const qc = el("dl", { class: "facts" });
    if (take) {
      const key = `${v.item} ${v.files.filter((f) => f.path.endsWith(".flac")).map((f) => f.sha256).join(" ")}`;
      if (key !== this.overviewKey) {
        this.overviewKey = key;
        this.lanes?.show(take, null);
        this.laneBox.dataset["source"] = "reading";
        this.overviewNote.className = "note";
        this.overviewNote.textContent = "Reading the master back from the archive…";
        void this.loadOverview(v.item, key);
      }
    } else {
      this.overviewKey = "";
      this.lanes?.clear();
    }
    this.transport?.setSource(take ? v.item : null, false, take?.source.sample_rate ?? 1, take?.access_copy?.derived_from.length === 1);
    if (take) {
      facts(qc, [
        ["Duration", take.source.duration],
        ["Format", `${take.source.sample_rate} Hz, ${take.source.bits_per_sample}-bit, ${take.source.channels} ch`],
        ["Integrated", db(take.overall.integrated_lufs, "LUFS")],
        ["Loudness range", db(take.overall.loudness_range_lu, "LU")],
        ["True peak", db(take.overall.true_peak_dbtp, "dBTP")],
        ["Sample peak", db(take.overall.sample_peak_dbfs, "dBFS")],
        ["Defects", take.defects.length ? take.defects.map((d) => d.kind).filter((k, i, a) => a.indexOf(k) === i).map((k) => `${k} × ${take.defects.filter((d) => d.kind === k).length}`).join(", ") : "none"],
        ["Captured", take.capture ? `${take.capture.device}; ${take.capture.ended}${take.capture.flagged ? "; flagged" : ""}` : "ingested from a file"],
      ]);
    }
    fill(
      box,
      el("div", { class: "panel-head" }, el("h3", {}, v.item), verifyItem),
      el(
        "p",
        { class: "note" },
        summary?.last_verification
          ? `Last verification ${dateTime(summary.last_verification.date_time)}: ${summary.last_verification.outcome} — ${summary.last_verification.detail}`
          : "Not verified since it was ingested.",
      ),
      summary?.needs_listen ? el("p", { class: "listen-note", id: "item-listen" }, `Needs a listen: ${summary.needs_listen}`) : null,
      ...v.unreadable.map((u) => el("p", { class: "error" }, `Could not read: ${u}`)),
      take ? el("h4", {}, "Overview and defect map") : null,
      take ? this.laneBox : null,
      take ? this.legendBox : null,
      take ? this.transport?.box : null,
      take ? this.overviewNote : null,
      this.replicas.length ? el("h4", {}, "Replicas") : null,
      this.replicas.length ? replicaFacts(this.replicaState(v)) : null,
      el("h4", {}, "Files"),
      el(
        "table",
        { class: "list" },
        el("thead", {}, el("tr", {}, el("th", {}, "Path"), el("th", { class: "num" }, "Size"), el("th", {}, "SHA-256"), el("th", {}, "Status"), el("th", {}, "Last check"))),
        el(
          "tbody",
          {},
          ...v.files.map((f) =>
            el(
              "tr",
              {},
              el("td", { class: "mono" }, f.path),
              el("td", { class: "num" }, bytes(f.bytes)),
              el("td", { class: "mono", title: f.sha256 }, `${f.sha256.slice(0, 16)}…`),
              el("td", {}, el("span", { class: `badge ${f.status === "present" ? (f.last_outcome ?? "never") : "fail"}` }, f.status === "present" ? (f.last_outcome ?? "unchecked") : f.status)),
              el("td", {}, f.last_checked ? dateTime(f.last_checked) : "never"),
            ),
          ),
        ),
      ),
      el("h4", {}, "QC figures"),
      take ? qc : el("p", { class: "quiet" }, "No QC report."),
      el("h4", {}, "Metadata (master's tags)"),
      first ? tags : el("p", { class: "quiet" }, "No FLAC master."),
      history ? el("h4", {}, "Coding history") : null,
      history ? el("pre", { class: "mono" }, history) : null,
      el("h4", {}, "Bag"),
      info,
      el("h4", {}, "History"),
      el(
        "table",
        { class: "list" },
        el(
          "tbody",
          {},
          ...v.history
            .slice()
            .reverse()
            .slice(0, 50)
            .map((e) =>
              el(
                "tr",
                {},
                el("td", { class: "mono" }, dateTime(e.date_time)),
                el("td", {}, e.event_type),
                el("td", {}, el("span", { class: `badge ${e.outcome}` }, e.outcome)),
                el("td", { class: "mono" }, e.file ?? ""),
              ),
            ),
        ),
      ),
    );
  }

  /** Whether the station was started with a shared catalogue to show. */
  setSharedCatalogue(named: boolean): void {
    this.shared = named;
    byId("shared-panel").hidden = !named;
    byId("archive-bottom").classList.toggle("with-shared", named);
  }

  /** The shared catalogue at a glance: what every worker on every machine has proved. */
  async sharedCatalogue(): Promise<void> {
    const state = byId("shared-state");
    byId("shared-panel").dataset["state"] = "running";
    try {
      const c: SharedCatalogue = await api.sharedCatalogue();
      state.textContent = c.problems.length ? `${c.problems.length} problem(s)` : "all proved well";
      state.className = c.problems.length ? "chip failed" : "chip running";
      setText(
        "shared-summary",
        `${c.url}: ${c.archives} archive(s), ${c.files} file copies, ${c.never_proved} never proved; ` +
          `oldest proof ${c.oldest_proof ?? "none"}; work ${c.due} due, ${c.claimed} claimed` +
          (c.catalogues.length
            ? `; archive catalogues here: ${c.catalogues.map((k) => `${k.schema} (${k.items} items, ${k.events} events)`).join(", ")}`
            : ""),
      );
      fill(
        byId("shared-workers"),
        ...c.workers.map((w) => el("li", {}, `worker ${w.name}: ${w.files} file(s), ${w.files_per_minute.toFixed(1)} a minute`)),
      );
      fill(
        byId("shared-problems"),
        ...c.problems.map((p) => el("li", { class: "bad" }, `${p.item}/${p.path}: ${p.detail}`)),
      );
      byId("shared-panel").dataset["state"] = "done";
    } catch (e) {
      state.textContent = "unreachable";
      state.className = "chip failed";
      setText("shared-summary", (e as Failure).message);
      byId("shared-panel").dataset["state"] = "error";
    }
  }

  /** The archive's replicas: the audit button is offered when there are any. */
  setReplicas(replicas: ReplicaSettings[], error: string | null): void {
    this.replicas = replicas;
    byId("audit-replicas").hidden = replicas.length === 0;
    if (error) {
      const s = byId("replicas-status");
      s.className = "error";
      s.textContent = `The replicas could not be read: ${error}`;
    }
  }

  /** Audits every replica (no audio downloaded) and the archive's own files, file by file. */
  async auditReplicas(): Promise<void> {
    if (this.verifying) return;
    this.verifying = true;
    const button = byId<HTMLButtonElement>("audit-replicas");
    const status = byId("replicas-status");
    button.disabled = true;
    status.className = "note";
    status.dataset["state"] = "running";
    status.textContent = `Auditing ${this.replicas.map((r) => r.name).join(", ")}…`;
    try {
      const r: AuditReport = await api.auditReplicas();
      const requests = r.replicas.reduce((n, [, run]) => n + run.requests, 0);
      const received = r.replicas.reduce((n, [, run]) => n + run.bytes_received, 0);
      const verdict = r.unreachable.length ? "UNREACHABLE" : r.disagreements.length ? "DISAGREE" : "AGREE";
      fill(
        status,
        el("strong", { id: "audit-verdict", class: verdict === "AGREE" ? "pass" : "fail" }, verdict),
        ` ${r.files} file(s) in the archive and ${r.replicas.length} replica(s): ${r.disagreements.length} disagreement(s); ${requests} request(s), ${bytes(received)} received (no audio).`,
        ...r.unreachable.map(([name, why]) => el("div", { class: "error" }, `${name} is unreachable: ${why}`)),
        ...r.disagreements
          .slice(0, 20)
          .map((d) =>
            el(
              "div",
              { class: "disagreement" },
              el("span", { class: "mono" }, d.path),
              ` — agree with the manifest: ${d.agree.join(", ") || "none"}; disagree: ${d.disagree.map(([c, why]) => `${c} (${why})`).join(", ")}`,
            ),
          ),
      );
      status.dataset["state"] = "done";
      await this.refresh();
    } catch (e) {
      status.textContent = "";
      delete status.dataset["state"];
      this.onError("replicas", e as Failure);
    } finally {
      this.verifying = false;
      button.disabled = false;
    }
  }

  /** Each replica's last replication and audit of an item, from its history. */
  private replicaState(v: ItemView): [string, string][] {
    return this.replicas.map((r): [string, string] => {
      const last = (t: string, prefix: string) =>
        v.history.filter((e) => e.event_type === t && e.detail.startsWith(prefix)).at(-1);
      const sent = last("replication", `copied to replica ${r.name} (`);
      const audit = last("fixity check", `replica ${r.name} (`);
      const words = [
        sent ? `replicated ${dateTime(sent.date_time)}` : "not replicated yet",
        audit ? `audited ${dateTime(audit.date_time)}: ${audit.outcome}` : "never audited",
      ];
      return [r.name, words.join(" · ")];
    });
  }

  /** Verifies the archive (item null) or one item, with progress; shows the verdict. */
  async verify(item: string | null): Promise<void> {
    if (this.verifying) return;
    this.verifying = true;
    const bar = byId<HTMLProgressElement>("verify-progress");
    const status = byId("verify-status");
    const button = byId<HTMLButtonElement>("verify-all");
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    status.className = "note";
    status.textContent = `Verifying ${item ?? "the whole archive"}…`;
    const warnings: string[] = [];
    try {
      const deep = byId<HTMLInputElement>("deep").checked;
      const r = await api.verify(item, deep, (m) => {
        if (m.kind === "progress") {
          bar.value = m.bytes > 0 ? m.bytes_done / m.bytes : m.files > 0 ? m.files_done / m.files : 0;
          status.textContent = `Verifying ${item ?? "the whole archive"}: ${m.files_done} of ${m.files} files, ${bytes(m.bytes_done)} of ${bytes(m.bytes)}`;
        } else {
          warnings.push(m.message);
        }
      });
      bar.value = 1;
      this.verdict(r, item, warnings);
      await this.refresh();
    } catch (e) {
      status.textContent = "";
      this.onError("archive", e as Failure);
    } finally {
      this.verifying = false;
      button.disabled = false;
      bar.hidden = true;
    }
  }

  private verdict(r: VerifyReport, item: string | null, warnings: string[]): void {
    const s = r.summary;
    const status = byId("verify-status");
    const what = `${item ?? "archive"}: ${s.bags} bag(s), ${s.files} file(s), ${bytes(s.bytes)} in ${s.seconds.toFixed(1)} s${r.deep ? ", every FLAC decoded" : ""}`;
    fill(
      status,
      el("span", { id: "verify-verdict", class: `verdict ${r.outcome}` }, r.outcome === "pass" ? "PASS" : `FAIL — ${s.problems} problem(s)`),
      ` ${what}`,
      ...r.problems.slice(0, 20).map((p) => el("span", { class: "error" }, ` · ${p.kind}: ${p.path}: ${p.detail}`)),
      ...warnings.map((w) => el("span", { class: "note" }, ` · ${w}`)),
    );
    status.className = "note";
  }

  // The watcher.

  async startWatcher(): Promise<void> {
    if (this.watcher === "running" || this.watcher === "starting") return;
    this.setWatcher("starting", "Starting…");
    try {
      await api.startWatcher((m) => this.watchMessage(m));
    } catch (e) {
      this.setWatcher("failed", (e as Failure).message);
    }
  }

  private async toggleWatcher(): Promise<void> {
    if (this.watcher === "running") {
      this.setWatcher("stopping", "Stopping…");
      try {
        await api.stopWatcher();
      } catch (e) {
        this.onError("archive", e as Failure);
      }
    } else {
      await this.startWatcher();
    }
  }

  private watchMessage(m: WatchMsg): void {
    switch (m.kind) {
      case "running":
        this.setWatcher("running", "Registering new bags, re-checking changed files, reporting moved and missing ones; every file re-read once every 30 days.");
        break;
      case "event":
        setText("watcher-detail", `${dateTime(m.event.date_time)}: ${m.event.event_type} ${m.event.outcome} — ${m.event.item}${m.event.file ? `/${m.event.file}` : ""}`);
        this.refreshSoon();
        break;
      case "notice":
        setText("watcher-detail", m.text);
        break;
      case "stopped":
        this.setWatcher("stopped", "Not watching: changes to the archive are found at the next start or verification.");
        break;
      case "failed":
        this.setWatcher("failed", m.failure.message);
        break;
    }
  }

  private setWatcher(state: ArchiveView["watcher"], detail: string): void {
    this.watcher = state;
    const chip = byId("watcher-state");
    chip.className = `chip ${state === "starting" ? "" : state === "stopping" ? "running" : state}`;
    chip.textContent = { starting: "starting", running: "watching", stopping: "stopping", stopped: "stopped", failed: "failed" }[state];
    setText("watcher-detail", detail);
    setText("footer-watcher", `watcher: ${chip.textContent}`);
    const toggle = byId<HTMLButtonElement>("watcher-toggle");
    toggle.textContent = state === "running" ? "Stop watching" : "Start watching";
    toggle.disabled = state === "starting" || state === "stopping";
  }
}

function replicaFacts(rows: [string, string][]): HTMLElement {
  const dl = el("dl", { class: "facts", id: "item-replicas" });
  facts(dl, rows);
  return dl;
}
