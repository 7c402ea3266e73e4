import { describe, expect, it } from "vitest";
import { DESTINATION_SCHEMES } from "./bindings";
import type { Preset } from "./bindings";
import {
  emptyForm,
  formFor,
  formProblem,
  hasPastedKey,
  keyLabel,
  kindOfUrl,
  presetBlank,
  toEdit,
  toNew,
} from "./destinationForm";
import { audioInput, audioValue, parseSize, videoInput, videoValue, voiceMode } from "./settingsForm";

describe("the destination form", () => {
  it("turns an RTMP form into what the store takes, the key apart", () => {
    const form = { ...emptyForm(), name: " main ", url: "rtmp://h/live", key: " sk_1 ", statusUrl: "http://p/status", room: "ignored" };
    expect(formProblem(form, true)).toBeNull();
    expect(toNew(form)).toEqual({
      destination: { name: "main", url: "rtmp://h/live", token_url: null, status_url: "http://p/status", options: {} },
      key: "sk_1",
    });
  });

  it("asks for what is missing, in a sentence", () => {
    expect(formProblem({ ...emptyForm(), url: "rtmp://h/live" }, true)).toBe("Give the destination a name.");
    expect(formProblem({ ...emptyForm(), name: "a", url: "wss://lk" }, true)).toContain("rtmp://");
    expect(formProblem({ ...emptyForm(), name: "a", url: "rtmp://h/live" }, true)).toBe("Paste the stream key.");
    // A key pasted inside the URL is split off by the engine.
    expect(formProblem({ ...emptyForm(), name: "a", url: "rtmp://h/live/sk_1" }, true)).toBeNull();
    // Editing never needs the key again.
    expect(formProblem({ ...emptyForm(), name: "a", url: "rtmp://h/live" }, false)).toBeNull();
    const mint = { ...emptyForm(), kind: "livekit" as const, name: "a", url: "ws://lk", key: "s", apiKey: "devkey" };
    expect(formProblem(mint, true)).toContain("room");
  });

  it("labels the secret by what it is for", () => {
    expect(keyLabel({ kind: "livekit", tokenUrl: "https://p/token", apiKey: "" })).toBe("Bearer token for the token URL");
    expect(keyLabel({ kind: "livekit", tokenUrl: "", apiKey: "k" })).toBe("API secret");
    expect(keyLabel({ kind: "file", tokenUrl: "", apiKey: "" })).toBeNull();
  });

  it("edits LiveKit options and round-trips a summary", () => {
    const form = formFor({ name: "lk", kind: "livekit", url: "wss://lk", token_url: "https://p/t", options: { room: "show" }, key: { state: "stored", masked: "••" } });
    expect(toEdit(form)).toEqual({ url: "wss://lk", token_url: "https://p/t", status_url: null, options: { room: "show" } });
    expect(toNew({ ...form, kind: "file", url: "file:/tmp/a.flv", key: "x" }).key).toBeNull();
  });

  it("reads the engine's scheme table and its rule for a pasted key", () => {
    expect(DESTINATION_SCHEMES.filter((s) => s.kind === "rtmp").map((s) => s.prefix)).toEqual(["rtmp://", "rtmps://"]);
    expect(formProblem({ ...emptyForm(), kind: "whip", name: "a", url: "wss://x" }, true)).toBe(
      "A WHIP URL starts with http:// or https://.",
    );
    // The cases of the engine's rtmp::url::one_key_rule.
    for (const url of ["rtmps://h:443/rtmp/FB-1?s_bl=1", "rtmp://h/app/inst/KEY", "rtmp://h/app//KEY/", "RTMP://h//app/KEY"]) {
      expect(hasPastedKey(url), url).toBe(true);
    }
    for (const url of ["rtmp://h/app/?x=1", "rtmp://h/app?x=1/y", "rtmp://h/app", "https://x/whip/a/b", "wss://lk/a/b"]) {
      expect(hasPastedKey(url), url).toBe(false);
    }
  });

  it("keeps options the form has no field for (set with the CLI)", () => {
    const form = formFor({ name: "r", kind: "rtmp", url: "rtmp://h/app", options: { viewers_pointer: "/n" }, key: { state: "stored", masked: "••" } });
    expect(toEdit({ ...form, statusUrl: "http://p/s" }).options).toEqual({ viewers_pointer: "/n" });
  });
});

describe("device and size pickers", () => {
  it("round-trips device choices", () => {
    for (const v of [{ kind: "test_pattern" as const }, { kind: "camera" as const, index: 2 }]) expect(videoInput(videoValue(v))).toEqual(v);
    for (const a of [{ kind: "test_tone" as const }, { kind: "none" as const }, { kind: "microphone" as const, name: null }, { kind: "microphone" as const, name: "USB: Mic" }]) {
      expect(audioInput(audioValue(a))).toEqual(a);
    }
  });
  it("parses sizes", () => {
    expect(parseSize("1920x1080")).toEqual([1920, 1080]);
    expect(parseSize("big")).toBeNull();
  });
});

describe("the voice switch", () => {
  it("shows the saved setting, else clean for a microphone and off for the test tone", () => {
    expect(voiceMode(null, { kind: "microphone", name: null })).toBe("clean");
    expect(voiceMode(null, { kind: "test_tone" })).toBe("off");
    expect(voiceMode(null, { kind: "none" })).toBe("off");
    expect(voiceMode("light", { kind: "microphone", name: "USB" })).toBe("light");
    expect(voiceMode("clean", { kind: "test_tone" })).toBe("clean");
  });
});

describe("a destination from a preset", () => {
  const preset = (url: string, example?: string): Preset => ({
    id: "p",
    name: "P",
    ingests: [{ region: "default", url, example }],
    video: { max_kbps: 6000, keyframe_seconds: 2, max_width: 1920, max_height: 1080, max_fps: 60 },
    audio: { codec: "aac", rate: 48000, max_kbps: 160 },
  });

  it("asks for the host or the whole URL only when the preset leaves it open", () => {
    expect(presetBlank(preset("rtmps://live.example/app"))).toBeNull();
    expect(presetBlank(preset("rtmp://{host}/live", "stream.example.org"))).toEqual({
      label: "Server host",
      example: "stream.example.org",
    });
    expect(presetBlank(preset("{url}"))?.label).toBe("Server URL");
  });

  it("reads the kind from the URL with the engine's scheme table", () => {
    expect(kindOfUrl(" RTMPS://a/b")).toBe("rtmp");
    expect(kindOfUrl("wss://lk")).toBe("livekit");
    expect(kindOfUrl("ftp://x")).toBeNull();
  });
});
