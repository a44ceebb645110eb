// The capture view's states and how messages move between them. Each state has its own word,
// colour and shape on screen, so that "armed" is never taken for "recording" nor "finishing"
// for "done" (unit-tested in test/states.test.ts).

export type TakeState = "setup" | "armed" | "recording" | "finishing" | "done" | "failed";

export interface StateLook {
  word: string;
  /** What the operator can do now. */
  advice: string;
}

export const LOOKS: Record<TakeState, StateLook> = {
  setup: { word: "NOT READY", advice: "Choose the source and profile, and fill in the required fields." },
  armed: { word: "ARMED", advice: "Ready. Start the deck, then press R (or F9) to record." },
  recording: { word: "RECORDING", advice: "Press S (or F10) to stop when the tape ends." },
  finishing: { word: "FINISHING", advice: "Analysing, writing and verifying the master. Please wait." },
  done: { word: "DONE", advice: "The take is finished: review it." },
  failed: { word: "FAILED", advice: "See the message below; nothing is lost that was captured." },
};

/** What happens to the take. */
export type TakeInput =
  | { kind: "form"; valid: boolean }
  | { kind: "record" }
  | { kind: "stop" }
  | { kind: "ready" }
  | { kind: "ended" }
  | { kind: "done" }
  | { kind: "failed" }
  | { kind: "reset"; valid: boolean };

/** The next state; inputs that do not apply leave it unchanged. */
export function next(state: TakeState, input: TakeInput): TakeState {
  switch (input.kind) {
    case "form":
      return state === "setup" || state === "armed" ? (input.valid ? "armed" : "setup") : state;
    case "record":
      return state === "armed" ? "recording" : state;
    case "ready":
      return state === "recording" ? "recording" : state;
    case "stop":
    case "ended":
      return state === "recording" ? "finishing" : state;
    case "done":
      return state === "recording" || state === "finishing" ? "done" : state;
    case "failed":
      return state === "armed" || state === "recording" || state === "finishing" ? "failed" : state;
    case "reset":
      return input.valid ? "armed" : "setup";
  }
}

/** Whether the form may be edited (not while a take is under way). */
export function formLocked(state: TakeState): boolean {
  return state === "recording" || state === "finishing";
}

/** Whether a shortcut key applies: R/F9 records, S/F10 stops; letters only outside text fields. */
export function shortcut(key: string, inTextField: boolean): "record" | "stop" | null {
  if (key === "F9") return "record";
  if (key === "F10") return "stop";
  if (inTextField) return null;
  if (key === "r" || key === "R") return "record";
  if (key === "s" || key === "S") return "stop";
  return null;
}
