import { describe, expect, it } from "vitest";
import type { Event } from "./bindings";
import { countdown, failed, goLivePressed, initialModel, meterFill, reduce, view, type LiveModel } from "./live";

const play = (events: [number, Event][], start: LiveModel = goLivePressed(initialModel())) =>
  events.reduce((m, [at, e]) => reduce(m, e, at), start);

const state = (s: Extract<Event, { type: "state" }>["state"], extra = {}): Event => ({ type: "state", state: s, at_ms: 0, ...extra });

describe("the studio's view model", () => {
  it("shows LIVE, the elapsed time from the first live state, viewers and the platform flag", () => {
    const m = play([
      [1000, state("connecting")],
      [2000, state("live")],
      [3000, { type: "platform", live: true, viewers: 4, stale: false }],
    ]);
    const v = view(m, 2000 + 65_000);
    expect(v.tally.label).toBe("LIVE");
    expect(v.tally.button).toBe("Stop");
    expect(v.elapsed).toBe("01:05");
    expect(v.viewers).toBe("4");
    expect(v.platform).toBe("live");
  });

  it("keeps the elapsed time through a reconnect and counts down to the next try", () => {
    const m = play([
      [0, state("live")],
      [10_000, state("reconnecting")],
      [10_000, { type: "reconnect", at_ms: 10_000, attempt: 2, retry_in_ms: 2600, reason: "connection reset" }],
    ]);
    expect(view(m, 10_000).reconnect).toBe("Reconnecting (attempt 2), next try in 3 s: connection reset");
    expect(view(m, 11_500).reconnect).toContain("next try in 2 s");
    expect(view(m, 13_000).reconnect).toContain("trying now");
    expect(view(m, 13_000).elapsed).toBe("00:13");
    const back = reduce(m, state("live"), 14_000);
    expect(view(back, 14_000).reconnect).toBeNull();
    expect(view(back, 20_000).elapsed).toBe("00:20");
  });

  it("puts a failure's code and sentence in the banner and offers Go Live again", () => {
    const error = { code: "key_rejected" as const, message: "The server refused the stream key. Check or regenerate it." };
    const m = play([[0, state("connecting")], [500, state("failed", { error })]]);
    const v = view(m, 600);
    expect(v.banner).toEqual({ code: "key_rejected", message: error.message });
    expect(v.tally.button).toBe("Go Live");
    expect(v.elapsed).toBe("");
    expect(goLivePressed(m).error).toBeNull();
  });

  it("shows a command's own refusal the same way", () => {
    const v = view(failed(goLivePressed(initialModel()), { code: "key_missing", message: "Store one." }), 0);
    expect(v.banner?.code).toBe("key_missing");
    expect(v.tally.label).toBe("OFF AIR");
  });

  it("reads stats, says where the recording went once ended, and clears live-only values", () => {
    const m = play([
      [0, { type: "recording", path: "/v/a.flv" }],
      [0, state("live")],
      [1000, { type: "viewers", count: 2 }],
      [1000, {
        type: "stats", at_ms: 1000, sink_queue: { now: 0, peak: 1, capacity: 64 },
        video: { fps: 29.97, kbps: 2488.4, encoded: 30, dropped: 1, encode_ms: 4, dropped_by: { capture: 1, encoder: 0, overload: 0, sink: 0 }, capture_queue: { now: 0, peak: 1, capacity: 8 } },
      }],
    ]);
    const live = view(m, 1000);
    expect([live.fps, live.bitrate, live.dropped, live.saved]).toEqual(["30.0", "2488 kbps", "1", null]);
    const ended = view(play([[2000, state("stopping")], [2500, state("ended")]], m), 3000);
    expect(ended.saved).toBe("Recording saved: /v/a.flv");
    expect(ended.viewers).toBe("–");
    expect(ended.tally.label).toBe("OFF AIR");
  });

  it("marks a platform that stopped answering, keeping what it last said", () => {
    const m = play([
      [0, { type: "platform", live: true, viewers: 3, stale: false }],
      [5000, { type: "platform", live: null, viewers: null, stale: true, detail: "timed out" }],
    ]);
    expect(view(m, 5000).platform).toBe("live (not answering)");
    expect(view(m, 5000).viewers).toBe("3");
  });
});

describe("small formatters", () => {
  it("counts down in whole seconds, rounding up", () => {
    expect(countdown(10_001, 9_000)).toBe("next try in 2 s");
    expect(countdown(10_000, 10_000)).toBe("trying now");
  });
  it("maps dBFS onto the meter", () => {
    expect([meterFill(null), meterFill(-100), meterFill(-30), meterFill(0), meterFill(3)]).toEqual([0, 0, 50, 100, 100]);
  });
});

describe("the limiter lamp", () => {
  it("lights while the voice limiter holds peaks down, and goes out after", () => {
    const levels = (limiter_db: number) => ({ type: "levels" as const, peak_dbfs: -1, rms_dbfs: -12, limiter_db });
    let model = reduce(initialModel(), levels(3.2), 0);
    expect(view(model, 0).limiting).toBe(true);
    model = reduce(model, levels(0), 50);
    expect(view(model, 50).limiting).toBe(false);
  });
});
