// The app's commands, typed. Every call goes through Tauri's IPC (`window.__TAURI__`, injected
// by the app itself: the page loads nothing from anywhere else). A failed command rejects
// with `{code, message}`.

export interface Failure {
  code: string;
  message: string;
}

export interface ProfileInfo {
  name: string;
  carrier: string;
  sample_rate: number;
  bit_depth: number;
  channels: string[];
  per_channel: boolean;
  required: string[];
  defaults: Record<string, string>;
  access_copy: boolean;
  declick: boolean;
}

export interface StationInfo {
  archive: string;
  agent: string;
  profiles: ProfileInfo[];
  devices: { name: string; description: string }[];
  default_device: string;
  device_error: string | null;
  field_order: string[];
}

export interface Interrupted {
  item: string;
  device: string;
  started: string;
  ended: string | null;
}

export interface RecoveredTake {
  item: string;
  bag: string | null;
  frames: number | null;
  error: string | null;
}

export interface Meter {
  peak_dbfs: number | null;
  hold_dbfs: number | null;
  clip: boolean;
  true_peak_dbtp: number | null;
}

export interface Defect {
  kind: string;
  channel: number | null;
  start: number;
  start_time: string;
  length: number;
  length_time: string;
  /** What was found, for people (`level fell 31.2 dB`, `16 of 24 bits used`). */
  detail?: string;
  size_dbfs?: number | null;
}

/** Phase correlation and time offset of a pair of adjacent channels. */
export interface PairPhase {
  channels: [number, number];
  correlation: number | null;
  min_correlation: number | null;
  min_at_time: string | null;
  offset_samples: number | null;
  offset_us: number | null;
}

export interface Levels {
  sample_peak_dbfs: number | null;
  true_peak_dbtp: number | null;
  integrated_lufs: number | null;
  loudness_range_lu: number | null;
  max_momentary_lufs: number | null;
  max_short_term_lufs: number | null;
}

export interface ChannelLevels extends Levels {
  channel: number;
  dc_offset: number;
  rms_dbfs: number | null;
  effective_bits?: number;
}

export interface CaptureReport {
  device: string;
  ended: string;
  recovered: boolean;
  gaps: Defect[];
  flagged: boolean;
}

export interface AccessCopyReport {
  file: string;
  sha256: string;
  bytes: number;
  processing: string;
  declick?: { sensitivity: number; clicks: number; crackle: number; samples_repaired: number };
  gain_db: number;
  target_loudness_lufs?: number;
  gain_limited_by_true_peak: boolean;
  integrated_lufs: number | null;
  true_peak_dbtp: number | null;
}

export interface TakeReport {
  part: number;
  source: { file: string; sample_rate: number; bits_per_sample: number; channels: number; frames: number; duration: string };
  masters: { file: string; sha256: string; bytes: number; audio_md5: string; frames: number; verification: string; channel?: number }[];
  channel_names: string[];
  overall: Levels;
  channels: ChannelLevels[];
  defects: Defect[];
  clip_runs_total: number;
  dropouts_total?: number;
  phase?: PairPhase[];
  access_copy?: AccessCopyReport;
  capture?: CaptureReport;
}

export interface QcReport {
  version: number;
  item: string;
  collection: string;
  profile: string;
  generated: string;
  software: string;
  takes: TakeReport[];
}

export type CaptureMsg =
  | { kind: "ready"; allows_seconds: number | null; sample_rate: number; channels: string[] }
  | { kind: "levels"; frames: number; channels: Meter[]; momentary_lufs: number | null; correlation: number | null }
  | { kind: "gap"; gap: string; at: number; frames: number }
  | { kind: "device_silent"; seconds: number }
  | { kind: "ended"; reason: string }
  | {
      kind: "done";
      item: string;
      bag: string;
      frames: number;
      report: QcReport;
      capture: CaptureReport;
      capture_seconds: number;
      capture_cpu_seconds: number;
    }
  | { kind: "failed"; failure: Failure };

/** A master's waveform: per channel, per bucket, [min, max] as fractions of full scale. */
export interface Waveform {
  sample_rate: number;
  frames: number;
  frames_per_bucket: number;
  channels: [number, number][][];
}

export interface Approved {
  item: string;
  bag: string;
  warnings: string[];
}

export interface Verification {
  date_time: string;
  outcome: string;
  detail: string;
}

export interface FileRow {
  item: string;
  bag_path: string;
  path: string;
  bytes: number | null;
  sha256: string;
  status: "present" | "missing" | "moved";
  last_checked: string | null;
  last_outcome: string | null;
  last_detail: string | null;
}

export interface ItemSummary {
  item: string;
  bag_path: string;
  profile: string | null;
  bagging_date: string | null;
  files: number;
  bytes: number;
  audio_seconds: number | null;
  /** Why the item needs a listen (a captured take that lost samples, failed or was recovered). */
  needs_listen: string | null;
  last_verification: Verification | null;
  /** The bag's own latest check, when it failed (a lost bagit.txt, a gone item): open until a check of the bag passes. */
  bag_failed?: Verification;
  problems: FileRow[];
}

export interface ArchiveReport {
  summary: {
    items: number;
    files: number;
    bytes: number;
    audio_seconds: number;
    audio_hours: number;
    items_without_duration: number;
    never_verified: number;
    open_problems: number;
    needs_listen: number;
  };
  items: ItemSummary[];
}

export interface ArchiveEvent {
  date_time: string;
  event_type: string;
  item: string;
  file?: string;
  outcome: string;
  detail: string;
  agent: string;
}

export interface ItemView {
  item: string;
  bag: string;
  bag_info: [string, string][];
  tags: [string, [string, string][]][];
  files: FileRow[];
  history: ArchiveEvent[];
  qc: QcReport | null;
  unreadable: string[];
}

export interface VerifyReport {
  version: number;
  deep: boolean;
  outcome: "pass" | "fail";
  summary: { bags: number; files: number; bytes: number; problems: number; seconds: number };
  bags: { path: string; item: string | null; outcome: string; files: number; bytes: number }[];
  problems: { kind: string; path: string; bag: string | null; detail: string }[];
}

export type VerifyMsg =
  | { kind: "progress"; files_done: number; files: number; bytes_done: number; bytes: number }
  | { kind: "warning"; message: string };

export type WatchMsg =
  | { kind: "running" }
  | { kind: "event"; event: ArchiveEvent }
  | { kind: "notice"; text: string }
  | { kind: "stopped" }
  | { kind: "failed"; failure: Failure };

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
};
