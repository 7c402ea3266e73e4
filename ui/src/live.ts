// The studio's state as the engine's events build it, and the view the
// window shows. Pure: `now` is passed in, so tests can drive the clock.
import type { Event, HealthCode, OnairError, SessionState } from "./bindings";
import { formatElapsed, formatNumber, tallyFor, type TallyView } from "./tally";

export interface Reconnect {
  attempt: number;
  retryAt: number;
  reason: string;
}

export interface LiveModel {
  state: SessionState;
  liveSince: number | null;
  viewers: number | null;
  platformLive: boolean | null;
  platformStale: boolean;
  fps: number | null;
  kbps: number | null;
  dropped: number | null;
  reconnect: Reconnect | null;
  error: OnairError | null;
  notice: { code: HealthCode; message: string } | null;
  recording: string | null;
  savedRecording: string | null;
  peakDbfs: number | null;
  /** How much the voice limiter took off in the last meter window, in dB. */
  limiterDb: number;
}

export function initialModel(state: SessionState = "idle"): LiveModel {
  return {
    state,
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
  };
}

/// Go Live was pressed: what the last session left is cleared.
export function goLivePressed(model: LiveModel): LiveModel {
  return { ...initialModel("preparing"), peakDbfs: model.peakDbfs };
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
      return next;
    }
    case "stats":
      return { ...model, fps: event.video.fps, kbps: event.video.kbps, dropped: event.video.dropped };
    case "viewers":
      return { ...model, viewers: event.total ?? event.count };
    case "platform":
      return {
        ...model,
        platformLive: event.live ?? model.platformLive,
        platformStale: event.stale,
        viewers: event.viewers ?? model.viewers,
      };
    case "reconnect":
      return {
        ...model,
        reconnect: { attempt: event.attempt, retryAt: now + event.retry_in_ms, reason: event.reason },
      };
    case "recording":
      return { ...model, recording: event.path };
    case "health":
      return { ...model, notice: { code: event.code, message: event.message } };
    case "levels":
      return { ...model, peakDbfs: event.peak_dbfs, limiterDb: event.limiter_db ?? 0 };
    case "bitrate":
    case "destination":
      return model;
  }
}

export interface Banner {
  code: string;
  message: string;
}

export interface LiveView {
  tally: TallyView;
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

export function view(model: LiveModel, now: number): LiveView {
  const onAir = model.liveSince !== null;
  return {
    tally: tallyFor(model.state),
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
