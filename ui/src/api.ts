// The app's commands, typed. Every call goes through Tauri's IPC (`window.__TAURI__`, injected
// by the app itself: the page loads nothing from anywhere else). A failed command rejects
// with `{code, message}`.

// The types the commands send are generated from the Rust types (src-tauri/src/bindings.rs,
// ts-rs) into ./bindings/: a field renamed in Rust fails this page's compile.
import type { AccessCopyReport } from "./bindings/AccessCopyReport";
import type { Approved } from "./bindings/Approved";
import type { ArchiveEvent } from "./bindings/ArchiveEvent";
import type { ArchiveReport } from "./bindings/ArchiveReport";
import type { AuditReport } from "./bindings/AuditReport";
import type { BagOutcome } from "./bindings/BagOutcome";
import type { CaptureMsg } from "./bindings/CaptureMsg";
import type { CaptureReport } from "./bindings/CaptureReport";
import type { ChannelLevels } from "./bindings/ChannelLevels";
import type { Defect } from "./bindings/Defect";
import type { DefectKind } from "./bindings/DefectKind";
import type { Failure } from "./bindings/Failure";
import type { FileRow } from "./bindings/FileRow";
import type { FileStatus } from "./bindings/FileStatus";
import type { Interrupted } from "./bindings/Interrupted";
import type { ItemSummary } from "./bindings/ItemSummary";
import type { ItemView } from "./bindings/ItemView";
import type { Levels } from "./bindings/Levels";
import type { Listen } from "./bindings/Listen";
import type { MasterReport } from "./bindings/MasterReport";
import type { Meter } from "./bindings/Meter";
import type { Outcome } from "./bindings/Outcome";
import type { PairPhase } from "./bindings/PairPhase";
import type { PlayMsg } from "./bindings/PlayMsg";
import type { Playing } from "./bindings/Playing";
import type { Problem } from "./bindings/Problem";
import type { ProfileInfo } from "./bindings/ProfileInfo";
import type { QcReport } from "./bindings/QcReport";
import type { RecoveredTake } from "./bindings/RecoveredTake";
import type { ReplicaSettings } from "./bindings/ReplicaSettings";
import type { SharedCatalogue } from "./bindings/SharedCatalogue";
import type { SourceReport } from "./bindings/SourceReport";
import type { StationInfo } from "./bindings/StationInfo";
import type { TakeReport } from "./bindings/TakeReport";
import type { Verification } from "./bindings/Verification";
import type { VerifyMsg } from "./bindings/VerifyMsg";
import type { VerifyReport } from "./bindings/VerifyReport";
import type { WatchMsg } from "./bindings/WatchMsg";
import type { Waveform } from "./bindings/Waveform";

export type {
  AccessCopyReport,
  Approved,
  ArchiveEvent,
  ArchiveReport,
  AuditReport,
  BagOutcome,
  CaptureMsg,
  CaptureReport,
  ChannelLevels,
  Defect,
  DefectKind,
  Failure,
  FileRow,
  FileStatus,
  Interrupted,
  ItemSummary,
  ItemView,
  Levels,
  Listen,
  MasterReport,
  Meter,
  Outcome,
  PairPhase,
  PlayMsg,
  Playing,
  Problem,
  ProfileInfo,
  QcReport,
  RecoveredTake,
  ReplicaSettings,
  SharedCatalogue,
  SourceReport,
  StationInfo,
  TakeReport,
  Verification,
  VerifyMsg,
  VerifyReport,
  WatchMsg,
  Waveform,
};

interface TauriChannel<T> {
  onmessage: (message: T) => void;
}

interface TauriGlobal {
  core: {
    invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
    Channel: new <T>() => TauriChannel<T>;
  };
}

function tauri(): TauriGlobal {
  const t = (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;
  if (!t) throw { code: "no_ipc", message: "the app's IPC is not available (is this page running inside Capstan?)" };
  return t;
}

/** Normalises whatever a rejected call gives into a Failure. */
export function failure(e: unknown): Failure {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as Failure;
  return { code: "unexpected", message: String(e) };
}

function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  return tauri()
    .core.invoke<T>(cmd, args)
    .catch((e: unknown) => {
      throw failure(e);
    });
}

function channel<T>(onmessage: (m: T) => void): TauriChannel<T> {
  const c = new (tauri().core.Channel)<T>();
  c.onmessage = onmessage;
  return c;
}

export const api = {
  station: () => call<StationInfo>("station"),
  recordingRoom: (profile: string) => call<number | null>("recording_room", { profile }),
  interruptedTakes: () => call<Interrupted[]>("interrupted_takes"),
  recoverTakes: () => call<RecoveredTake[]>("recover_takes"),
  startCapture: (
    take: { device: string; profile: string; collection: string; id: string; meta: Record<string, string>; seconds: number | null },
    on: (m: CaptureMsg) => void,
  ) => call<void>("start_capture", { take, events: channel(on) }),
  stopCapture: () => call<void>("stop_capture"),
  approveTake: (item: string) => call<Approved>("approve_take", { item }),
  discardTake: (item: string) => call<void>("discard_take", { item }),
  takeOverview: (item: string, buckets: number) => call<Waveform[]>("take_overview", { item, buckets }),
  archiveReport: () => call<ArchiveReport>("archive_report"),
  itemDetail: (item: string) => call<ItemView>("item_detail", { item }),
  itemOverview: (item: string, buckets: number) => call<Waveform[]>("item_overview", { item, buckets }),
  eventLog: (limit: number) => call<ArchiveEvent[]>("event_log", { limit }),
  verify: (item: string | null, deep: boolean, on: (m: VerifyMsg) => void) =>
    call<VerifyReport>("verify", { item, deep, progress: channel(on) }),
  startWatcher: (on: (m: WatchMsg) => void) => call<void>("start_watcher", { events: channel(on) }),
  stopWatcher: () => call<void>("stop_watcher"),
  play: (
    what: { item: string; pending: boolean; lane: number; from: number; listen: Listen; device: string },
    on: (m: PlayMsg) => void,
  ) => call<Playing>("play", { what, events: channel(on) }),
  playListen: (listen: Listen) => call<void>("play_listen", { listen }),
  stopPlayback: () => call<void>("stop_playback"),
  auditReplicas: () => call<AuditReport>("audit_replicas"),
  sharedCatalogue: () => call<SharedCatalogue>("shared_catalogue"),
};
