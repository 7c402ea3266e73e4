// The studio's state as the engine's events build it, and the view the
// window shows. Pure: `now` is passed in, so tests can drive the clock.
import type { DestinationState, Event, Grade, HealthCode, OnairError, SessionState } from "./bindings";
import { formatElapsed, formatNumber, tallyFor, type TallyView } from "./tally";

export interface Reconnect {
  attempt: number;
  retryAt: number;
  reason: string;
}

/** One destination of the session, as its own events tell it. */
export interface DestinationRow {
  name: string;
  state: DestinationState;
  kbps: number | null;
  /** Its connection's latest round trip, where the protocol tells it. */
  rttMs: number | null;
  viewers: number | null;
  reconnect: Reconnect | null;
  error: OnairError | null;
  notice: string | null;
  /** Its health at a glance, and what to do when it is not good. */
  grade: Grade | null;
  advice: string | null;
}

/** One second of the whole stream, for the studio's graph. */
export interface Sample {
  kbps: number;
  fps: number;
}

/** The graph's span: three minutes of one-second stats. */
export const HISTORY_SECONDS = 180;

export interface LiveModel {
  state: SessionState;
  /** Each destination ticked at Go Live, in the order ticked. */
  destinations: DestinationRow[];
  liveSince: number | null;
  viewers: number | null;
  platformLive: boolean | null;
  platformStale: boolean;
  fps: number | null;
  kbps: number | null;
  dropped: number | null;
  reconnect: Reconnect | null;
  error: OnairError | null;
  /** The last notice, and the destination it was about (none: the session's). */
  notice: { code: HealthCode; message: string; destination: string | null } | null;
  recording: string | null;
  savedRecording: string | null;
  peakDbfs: number | null;
  /** How much the voice limiter took off in the last meter window, in dB. */
  limiterDb: number;
  /** The last minutes of bitrate and frame rate, oldest first. */
  history: Sample[];
}

export function initialModel(state: SessionState = "idle"): LiveModel {
  return {
    state,
    destinations: [],
    liveSince: null,
    viewers: null,
    platformLive: null,
    platformStale: false,
    fps: null,
    kbps: null,
    dropped: null,
    reconnect: null,
    error: null,
    notice: null,
    recording: null,
    savedRecording: null,
    peakDbfs: null,
    limiterDb: 0,
    history: [],
  };
}

/// Go Live was pressed for NAMES: what the last session left is cleared.
export function goLivePressed(model: LiveModel, names: string[] = []): LiveModel {
  const destinations = names.map((name): DestinationRow => ({
    name,
    state: "connecting",
    kbps: null,
    rttMs: null,
    viewers: null,
    reconnect: null,
    error: null,
    notice: null,
    grade: null,
    advice: null,
  }));
  return { ...initialModel("preparing"), destinations, peakDbfs: model.peakDbfs };
}

/// Applies CHANGE to the row of NAME; events of anything not ticked (the
/// local recording) change nothing.
function withRow(
  model: LiveModel,
  name: string | null | undefined,
  change: (row: DestinationRow) => Partial<DestinationRow>,
): LiveModel {
  if (!name || !model.destinations.some((row) => row.name === name)) return model;
  return {
    ...model,
    destinations: model.destinations.map((row) => (row.name === name ? { ...row, ...change(row) } : row)),
  };
}

export function failed(model: LiveModel, error: OnairError): LiveModel {
  return { ...model, state: "failed", error, liveSince: null, reconnect: null };
}

export function reduce(model: LiveModel, event: Event, now: number): LiveModel {
  switch (event.type) {
    case "state": {
      const next = { ...model, state: event.state };
      if (event.state === "live") {
        next.liveSince = model.liveSince ?? now;
        next.reconnect = null;
      }
      if (event.state === "ended" || event.state === "failed") {
        next.liveSince = null;
        next.reconnect = null;
        next.viewers = null;
        next.platformLive = null;
        if (event.state === "ended") next.savedRecording = model.recording;
      }
      if (event.error) next.error = event.error;
      if (event.state === "ended" || event.state === "failed") {
        next.destinations = model.destinations.map((row) => ({ ...row, reconnect: null, viewers: null }));
      }
      return next;
    }
    case "stats": {
      const sample = { kbps: event.video.kbps ?? 0, fps: event.video.fps ?? 0 };
      const history = [...model.history, sample].slice(-HISTORY_SECONDS);
      let next: LiveModel = {
        ...model,
        fps: event.video.fps,
        kbps: event.video.kbps,
        dropped: event.video.dropped,
        history,
      };
      for (const d of event.destinations ?? []) {
        next = withRow(next, d.destination, () => ({
          state: d.state,
          kbps: d.kbps,
          rttMs: d.rtt_ms ?? null,
          grade: d.grade,
        }));
      }
      return next;
    }
    case "destination_health":
      // Good again: what was said about its link before is over too.
      const over = event.grade === "good" && model.notice?.destination === event.destination;
      return withRow(over ? { ...model, notice: null } : model, event.destination, (row) => ({
        grade: event.grade,
        advice: event.grade === "good" ? null : event.message,
        notice: event.grade === "good" ? null : row.notice,
      }));
    case "destination":
      return withRow(model, event.destination, (row) => ({
        state: event.state,
        error: event.error ?? (event.state === "live" ? null : row.error),
        reconnect: event.state === "reconnecting" ? row.reconnect : null,
      }));
    case "viewers":
      return withRow({ ...model, viewers: event.total ?? event.count }, event.destination, () => ({
        viewers: event.count,
      }));
    case "platform": {
      const next = {
        ...model,
        platformLive: event.live ?? model.platformLive,
        platformStale: event.stale,
        viewers: event.destination ? model.viewers : (event.viewers ?? model.viewers),
      };
      return withRow(next, event.destination, (row) => ({ viewers: event.viewers ?? row.viewers }));
    }
    case "reconnect": {
      const reconnect = { attempt: event.attempt, retryAt: now + event.retry_in_ms, reason: event.reason };
      return withRow({ ...model, reconnect }, event.destination, () => ({ reconnect }));
    }
    case "recording":
      return { ...model, recording: event.path };
    case "health": {
      const notice = { code: event.code, message: event.message, destination: event.destination ?? null };
      return withRow({ ...model, notice }, event.destination, () => ({
        notice: event.message,
      }));
    }
    case "levels":
      return { ...model, peakDbfs: event.peak_dbfs, limiterDb: event.limiter_db ?? 0 };
    case "bitrate":
      return model;
  }
}

export interface Banner {
  code: string;
  message: string;
}

/** One destination's line while live: its own tally, bitrate and viewers. */
export interface RowView {
  name: string;
  state: DestinationState;
  label: string;
  tone: "off" | "busy" | "live" | "failed";
  bitrate: string;
  /** "RTT 45 ms", or empty where the protocol does not tell it. */
  roundTrip: string;
  viewers: string;
  /** What went wrong and what to do, or what is happening. */
  message: string | null;
  /** The health chip while sending: good, struggling or failing. */
  health: { grade: Grade; label: string } | null;
}

export interface LiveView {
  tally: TallyView;
  destinations: RowView[];
  elapsed: string;
  viewers: string;
  platform: string;
  fps: string;
  bitrate: string;
  dropped: string;
  reconnect: string | null;
  banner: Banner | null;
  notice: string | null;
  saved: string | null;
  /** The meter's fill, 0 to 100. */
  meter: number;
  /** The voice limiter is holding peaks down (its lamp beside the meter). */
  limiting: boolean;
}

/// "next try in 3 s": whole seconds, rounded up so it never shows 0 while waiting.
export function countdown(retryAt: number, now: number): string {
  const left = Math.max(0, Math.ceil((retryAt - now) / 1000));
  return left === 0 ? "trying now" : `next try in ${left} s`;
}

/// dBFS to a meter fill: -60 dB and below is empty, 0 dB full.
export function meterFill(dbfs: number | null): number {
  if (dbfs === null) return 0;
  return Math.round(Math.min(100, Math.max(0, ((dbfs + 60) / 60) * 100)));
}

function platformText(model: LiveModel): string {
  if (model.platformLive === null) return "–";
  const said = model.platformLive ? "live" : "not live";
  return model.platformStale ? `${said} (not answering)` : said;
}

export function rowView(row: DestinationRow, now: number): RowView {
  const common = {
    name: row.name,
    state: row.state,
    bitrate: row.kbps === null || row.state !== "live" ? "–" : `${formatNumber(row.kbps, 0)} kbps`,
    roundTrip: row.rttMs === null || row.state !== "live" ? "" : `RTT ${formatNumber(row.rttMs, 0)} ms`,
    viewers: row.viewers === null ? "–" : String(row.viewers),
    health: healthChip(row),
  };
  switch (row.state) {
    case "connecting":
      return { ...common, label: "STARTING", tone: "busy", message: null };
    case "live":
      return { ...common, label: "LIVE", tone: "live", message: row.advice ?? row.notice };
    case "reconnecting":
      return {
        ...common,
        label: "RECONNECTING",
        tone: "busy",
        message: row.reconnect ? `${capitalise(countdown(row.reconnect.retryAt, now))}: ${row.reconnect.reason}` : null,
      };
    case "failed":
      return {
        ...common,
        label: "FAILED",
        tone: "failed",
        message: row.error ? `[${row.error.code}] ${row.error.message}` : null,
      };
    case "ended":
      return { ...common, label: "ENDED", tone: "off", message: null };
  }
}

const GRADE_LABELS: Record<Grade, string> = { good: "Good", struggling: "Struggling", failing: "Failing" };

// Shown while the destination sends or tries to: before, nothing is known.
function healthChip(row: DestinationRow): RowView["health"] {
  if (row.grade === null || (row.state !== "live" && row.state !== "reconnecting")) return null;
  return { grade: row.grade, label: GRADE_LABELS[row.grade] };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function view(model: LiveModel, now: number): LiveView {
  const onAir = model.liveSince !== null;
  return {
    tally: tallyFor(model.state),
    destinations: model.destinations.map((row) => rowView(row, now)),
    elapsed: onAir ? formatElapsed(now - (model.liveSince ?? now)) : "",
    viewers: model.viewers === null ? "–" : String(model.viewers),
    platform: platformText(model),
    fps: formatNumber(model.fps, 1),
    bitrate: model.kbps === null ? "–" : `${formatNumber(model.kbps, 0)} kbps`,
    dropped: model.dropped === null ? "–" : String(model.dropped),
    reconnect:
      model.state === "reconnecting" && model.reconnect
        ? `Reconnecting (attempt ${model.reconnect.attempt}), ${countdown(model.reconnect.retryAt, now)}: ${model.reconnect.reason}`
        : null,
    banner: model.error ? { code: model.error.code, message: model.error.message } : null,
    notice: model.notice?.message ?? null,
    saved: model.state === "ended" && model.savedRecording ? `Recording saved: ${model.savedRecording}` : null,
    meter: meterFill(model.peakDbfs),
    limiting: model.limiterDb > 0,
  };
}

/** SVG polyline points for one series of the graph: time across (oldest at
 *  the left, the newest at the right edge), the value up, scaled to the
 *  series' own peak so a steady line sits near the top. */
export function graphPoints(history: Sample[], key: keyof Sample, width: number, height: number): string {
  const peak = Math.max(1, ...history.map((s) => s[key])) * 1.1;
  const start = width - (history.length - 1);
  return history
    .map((s, i) => `${start + i},${(height - (s[key] / peak) * height).toFixed(1)}`)
    .join(" ");
}
