// The station app's page: three views (capture, review, archive) over the app's commands.
// Keyboard: F1/F2/F3 switch views; R or F9 records, S or F10 stops; A approves a take in review;
// V verifies the archive; Space plays or stops the take in review or the item selected.

import { api, failure, type Failure, type Interrupted } from "./api.js";
import { ArchiveView } from "./archive.js";
import { CaptureView } from "./capture.js";
import { byId, el, fill, setText } from "./dom.js";
import { dateTime } from "./format.js";
import { setOutputs } from "./listen.js";
import { ReviewView } from "./review.js";
import { LOOKS, shortcut, type TakeState } from "./states.js";

type ViewName = "capture" | "review" | "archive";

let current: ViewName = "capture";

function show(view: ViewName): void {
  current = view;
  for (const v of ["capture", "review", "archive"] as ViewName[]) {
    byId(`view-${v}`).hidden = v !== view;
    byId(`tab-${v}`).setAttribute("aria-selected", String(v === view));
  }
  document.body.dataset["view"] = view;
}

/** Errors: in the footer, and on the document for whoever checks (the end-to-end test). */
function report(where: string, f: Failure): void {
  const text = `${where}: ${f.message}`;
  setText("errors", text);
  document.body.dataset["error"] = f.code;
  console.error(`[${f.code}] ${text}`);
}

function clearError(): void {
  setText("errors", "");
  delete document.body.dataset["error"];
}

function badge(state: TakeState): void {
  const b = byId("state-badge");
  b.className = `state state-${state}`;
  b.textContent = LOOKS[state].word;
  document.body.dataset["take"] = state;
}

/** A banner under the header; an action that does not return "keep" dismisses it. */
function banner(text: string, actions: [string, () => void | "keep"][], bad = false): HTMLElement {
  const b = el("div", { class: bad ? "banner bad" : "banner" }, el("p", {}, text));
  for (const [label, act] of actions) {
    const button = el("button", { type: "button" }, label);
    button.addEventListener("click", () => {
      if (act() !== "keep") b.remove();
    });
    b.append(button);
  }
  byId("banners").append(b);
  return b;
}

/** Interrupted takes are offered for recovery as soon as the app starts. */
async function offerRecovery(archive: ArchiveView): Promise<void> {
  let takes: Interrupted[];
  try {
    takes = await api.interruptedTakes();
  } catch (e) {
    report("recovery", failure(e));
    return;
  }
  if (takes.length === 0) return;
  const list = takes.map((t) => `${t.item} (from ${t.device}, started ${dateTime(t.started)}${t.ended ? `, ${t.ended}` : ""})`).join("; ");
  const b = banner(
    `${takes.length} interrupted take(s) can be recovered: ${list}. Recovery finishes each into an item flagged "recovered", losing at most its last second.`,
    [
      [
        "Recover now",
        () => {
          fill(b, el("p", {}, "Recovering…"));
          api
            .recoverTakes()
            .then((done) => {
              const ok = done.filter((d) => !d.error).map((d) => d.item);
              const bad = done.filter((d) => d.error).map((d) => `${d.item}: ${d.error}`);
              const dismiss = el("button", { type: "button" }, "OK");
              dismiss.addEventListener("click", () => b.remove());
              fill(b, el("p", {}, `Recovered: ${ok.join(", ") || "none"}.${bad.length ? ` Could not recover: ${bad.join("; ")}` : ""}`), dismiss);
              if (bad.length) b.classList.add("bad");
              void archive.refresh();
            })
            .catch((e) => report("recovery", failure(e)));
          return "keep";
        },
      ],
      ["Later", () => undefined],
    ],
  );
}

async function main(): Promise<void> {
  let capture: CaptureView;
  const archive = new ArchiveView((items) => capture.setExisting(items), report);
  const review = new ReviewView(
    (item, warnings) => {
      capture.reset(true);
      for (const w of warnings) banner(`${item} is in the archive, but: ${w}`, [["OK", () => undefined]]);
      show("archive");
      void archive.refresh().then(() => archive.select(item));
    },
    () => {
      capture.reset(true);
      show("capture");
    },
    report,
  );
  capture = new CaptureView(
    (s) => {
      badge(s);
      if (s === "recording") clearError();
    },
    (done, history) => {
      review.show(done, history);
      show("review");
      void archive.refresh();
    },
    report,
  );

  for (const v of ["capture", "review", "archive"] as ViewName[]) {
    byId(`tab-${v}`).addEventListener("click", () => show(v));
  }
  document.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement;
    const inText = t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
    const views: Record<string, ViewName> = { F1: "capture", F2: "review", F3: "archive" };
    if (views[e.key]) {
      e.preventDefault();
      show(views[e.key]!);
      return;
    }
    const act = shortcut(e.key, inText);
    if (act && (current === "capture" || act === "stop")) {
      e.preventDefault();
      if (act === "record") void capture.record();
      else void capture.stop();
      return;
    }
    if (!inText && current === "review" && (e.key === "a" || e.key === "A") && review.pending) {
      e.preventDefault();
      review.approveKey();
    }
    if (!inText && e.key === " " && (current === "review" || current === "archive")) {
      const transport = current === "review" ? review.transport : archive.transport;
      e.preventDefault();
      // A focused button would take the key as a click as well.
      if (t instanceof HTMLButtonElement) t.blur();
      void transport?.toggle();
      return;
    }
    if (!inText && current === "archive" && (e.key === "v" || e.key === "V")) {
      e.preventDefault();
      void archive.verify(null);
    }
  });

  show("capture");
  try {
    const station = await api.station();
    setText("archive-path", `Archive: ${station.archive}`);
    setText("agent", station.agent);
    capture.init(station);
    setOutputs(station.outputs);
    archive.setReplicas(station.replicas, station.replicas_error);
    archive.setSharedCatalogue(station.shared_catalogue);
    badge(capture.state);
    review.init();
    archive.init();
    await archive.refresh();
    void archive.startWatcher();
    void offerRecovery(archive);
    document.body.dataset["ready"] = "true";
  } catch (e) {
    report("start", failure(e));
    banner(`The station could not start: ${failure(e).message}`, [], true);
  }
}

window.addEventListener("error", (e) => report("page", { code: "script", message: e.message }));
window.addEventListener("unhandledrejection", (e) => report("page", failure(e.reason)));
void main();
