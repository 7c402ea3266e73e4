import type { SessionState } from "./bindings";

export interface TallyView {
  label: string;
  tone: "off" | "busy" | "live";
  button: "Go Live" | "Stop";
  busy: boolean;
}

// Exhaustive over the generated enum: a new Rust state breaks the type check.
export function tallyFor(state: SessionState): TallyView {
  switch (state) {
    case "idle":
    case "ended":
    case "failed":
      return { label: "OFF AIR", tone: "off", button: "Go Live", busy: false };
    // Stop works while starting too: a stalled platform or server must not
    // hold the creator hostage.
    case "preparing":
    case "connecting":
      return { label: "STARTING", tone: "busy", button: "Stop", busy: false };
    case "live":
      return { label: "LIVE", tone: "live", button: "Stop", busy: false };
    case "reconnecting":
      return { label: "RECONNECTING", tone: "busy", button: "Stop", busy: false };
    case "stopping":
      return { label: "STOPPING", tone: "busy", button: "Stop", busy: true };
  }
}

/// Stop asks first only when viewers can see the stream end; a start not yet
/// live is called off at once.
export function stopAsks(state: SessionState): boolean {
  return state === "live" || state === "reconnecting";
}

export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// Rust's f64 arrives as null when it was not finite.
export function formatNumber(value: number | null, digits: number): string {
  return value === null ? "–" : value.toFixed(digits);
}
