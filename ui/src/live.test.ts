import { describe, expect, it } from "vitest";
import type { Event } from "./bindings";
import {
  countdown,
  failed,
  goLivePressed,
  graphPoints,
  HISTORY_SECONDS,
  initialModel,
  meterFill,
  reduce,
  view,
  type LiveModel,
} from "./live";

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

describe("several destinations", () => {
  const dest = (destination: string, s: "connecting" | "live" | "reconnecting" | "failed" | "ended", extra = {}): Event =>
    ({ type: "destination", destination, state: s, at_ms: 0, ...extra });
  const start = goLivePressed(initialModel(), ["room", "twitch", "youtube"]);

  it("gives each ticked destination its own row, in the order ticked, starting", () => {
    expect(view(start, 0).destinations.map((r) => [r.name, r.label])).toEqual([
      ["room", "STARTING"], ["twitch", "STARTING"], ["youtube", "STARTING"],
    ]);
  });

  it("keeps the big tally LIVE while one row fails and another reconnects, with each one's sentence", () => {
    const error = { code: "key_rejected" as const, message: "The server refused the stream key. Check or regenerate it." };
    const m = play([
      [0, state("connecting")],
      [500, dest("room", "live")],
      [500, state("live")],
      [600, dest("twitch", "failed", { error })],
      [700, dest("youtube", "live")],
      [5000, dest("youtube", "reconnecting")],
      [5000, { type: "reconnect", at_ms: 5000, attempt: 1, retry_in_ms: 2000, reason: "connection reset", destination: "youtube" }],
    ], start);
    const v = view(m, 5500);
    expect(v.tally.label).toBe("LIVE");
    expect(v.banner).toBeNull();
    const [room, twitch, youtube] = v.destinations;
    expect([room.label, room.tone, room.message]).toEqual(["LIVE", "live", null]);
    expect([twitch.label, twitch.tone]).toEqual(["FAILED", "failed"]);
    expect(twitch.message).toBe(`[key_rejected] ${error.message}`);
    expect([youtube.label, youtube.message]).toEqual(["RECONNECTING", "Next try in 2 s: connection reset"]);
    const back = view(reduce(m, dest("youtube", "live"), 7000), 7000).destinations[2];
    expect([back.label, back.message]).toEqual(["LIVE", null]);
  });

  it("shows each row's bitrate and viewers, and the total at the top", () => {
    const queue = { now: 0, peak: 0, capacity: 64 };
    const m = play([
      [0, dest("room", "live")],
      [0, dest("twitch", "live")],
      [1000, { type: "viewers", count: 3, destination: "room", total: 3 }],
      [1000, { type: "viewers", count: 4, destination: "twitch", total: 7 }],
      [1000, {
        type: "stats", at_ms: 1000, sink_queue: queue,
        video: { fps: 30, kbps: 2500, encoded: 30, dropped: 0, encode_ms: 4, dropped_by: { capture: 0, encoder: 0, overload: 0, sink: 0 }, capture_queue: queue },
        destinations: [
          { destination: "room", state: "live", kbps: 2410.6, dropped: 0, queue },
          { destination: "twitch", state: "live", kbps: 2590, dropped: 0, queue },
          { destination: "/tmp/rec.mp4", state: "live", kbps: 2600, dropped: 0, queue },
        ],
      }],
    ], start);
    const v = view(m, 1000);
    expect(v.viewers).toBe("7");
    expect(v.destinations.map((r) => [r.name, r.bitrate, r.viewers])).toEqual([
      ["room", "2411 kbps", "3"], ["twitch", "2590 kbps", "4"], ["youtube", "–", "–"],
    ]);
  });

  it("ends every row with the session", () => {
    const m = play([[0, dest("room", "live")], [1000, dest("room", "ended")], [1000, state("ended")]], start);
    expect(view(m, 1000).destinations[0].label).toBe("ENDED");
    expect(view(m, 1000).tally.label).toBe("OFF AIR");
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

describe("health at a glance", () => {
  const stats = (grade: "good" | "struggling" | "failing", kbps = 2500): Event => ({
    type: "stats",
    at_ms: 0,
    video: {
      fps: 30,
      kbps,
      encoded: 0,
      dropped: 0,
      encode_ms: 5,
      dropped_by: { capture: 0, encoder: 0, overload: 0, sink: 0 },
      capture_queue: { now: 0, peak: 0, capacity: 8 },
    },
    sink_queue: { now: 0, peak: 0, capacity: 256 },
    destinations: [{ destination: "main", state: "live", kbps, dropped: 0, queue: { now: 0, peak: 0, capacity: 256 }, grade }],
  });

  it("shows each destination's chip, and what to do while it struggles", () => {
    const start = goLivePressed(initialModel(), ["main"]);
    const good = play([[0, state("live")], [1000, stats("good")]], start);
    expect(view(good, 1000).destinations[0].health).toEqual({ grade: "good", label: "Good" });
    const advice = "main's connection carries less than the stream: sending 1750 of the 2500 kbit/s asked.";
    const bad = play(
      [[2000, { type: "destination_health", destination: "main", grade: "struggling", message: advice, at_ms: 2000 }]],
      good,
    );
    const row = view(bad, 2000).destinations[0];
    expect(row.health).toEqual({ grade: "struggling", label: "Struggling" });
    expect(row.message).toBe(advice);
    const behind: Event = { type: "health", code: "destination_behind", message: "main skipped ahead", destination: "main" };
    const better = play(
      [
        [8000, behind],
        [9000, { type: "destination_health", destination: "main", grade: "good", message: "fine", at_ms: 9000 }],
      ],
      bad,
    );
    expect(view(better, 9000).destinations[0].message).toBeNull();
    expect(view(better, 9000).notice).toBeNull();
  });

  it("shows the round trip where the protocol tells it", () => {
    const start = goLivePressed(initialModel(), ["main"]);
    const unknown = play([[0, state("live")], [1000, stats("good")]], start);
    expect(view(unknown, 1000).destinations[0].roundTrip).toBe("");
    const measured = stats("good");
    if (measured.type !== "stats") throw new Error("a stats event");
    measured.destinations![0].rtt_ms = 46.4;
    const known = play([[2000, measured]], unknown);
    expect(view(known, 2000).destinations[0].roundTrip).toBe("RTT 46 ms");
  });

  it("keeps three minutes of bitrate and frame rate for the graph", () => {
    let m = goLivePressed(initialModel(), ["main"]);
    for (let i = 0; i < HISTORY_SECONDS + 20; i++) m = reduce(m, stats("good", 1000 + i), i * 1000);
    expect(m.history).toHaveLength(HISTORY_SECONDS);
    expect(m.history[0].kbps).toBe(1020);
    const points = graphPoints([{ kbps: 100, fps: 30 }, { kbps: 50, fps: 30 }], "kbps", 180, 40).split(" ");
    expect(points).toHaveLength(2);
    expect(points[1].startsWith("180,")).toBe(true);
    const [, low] = points[1].split(",").map(Number);
    const [, high] = points[0].split(",").map(Number);
    expect(low).toBeGreaterThan(high);
  });
});
