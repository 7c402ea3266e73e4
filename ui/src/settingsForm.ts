// The settings form's choices and the device pickers' values, both ways.
import type { AudioInput, AudioInput_Serialize, Devices, VideoInput, VideoInput_Serialize, VoiceMode } from "./bindings";

export const RESOLUTIONS: [number, number][] = [
  [640, 360],
  [854, 480],
  [1280, 720],
  [1920, 1080],
];
export const FRAME_RATES = [24, 25, 30, 60];

export interface Choice {
  value: string;
  label: string;
}

export function videoChoices(devices: Devices): Choice[] {
  const monitors = devices.monitors.length > 1 ? devices.monitors : [];
  return [
    { value: "test", label: "Test pattern" },
    ...devices.cameras.map((c) => ({ value: `camera:${c.index}`, label: c.name })),
    { value: "screen", label: "Screen, with the camera" },
    ...monitors.map((m) => ({ value: `screen:${m.index}`, label: `Screen ${m.name} (${m.width} × ${m.height}), with the camera` })),
  ];
}

export function audioChoices(devices: Devices): Choice[] {
  return [
    { value: "test", label: "Test tone" },
    { value: "mic", label: "Default microphone" },
    ...devices.microphones.map((m) => ({ value: `mic:${m.name}`, label: m.is_default ? `${m.name} (default)` : m.name })),
    { value: "none", label: "No audio" },
  ];
}

export function videoValue(input: VideoInput): string {
  switch (input.kind) {
    case "camera":
      return `camera:${input.index}`;
    case "screen":
      return input.monitor === null || input.monitor === undefined ? "screen" : `screen:${input.monitor}`;
    case "test_pattern":
      return "test";
  }
}

export function videoInput(value: string): VideoInput_Serialize {
  if (value.startsWith("camera:")) return { kind: "camera", index: Number(value.slice(7)) };
  if (value === "screen") return { kind: "screen", monitor: null };
  if (value.startsWith("screen:")) return { kind: "screen", monitor: Number(value.slice(7)) };
  return { kind: "test_pattern" };
}

export function audioValue(input: AudioInput): string {
  switch (input.kind) {
    case "test_tone":
      return "test";
    case "none":
      return "none";
    case "microphone":
      return input.name === null || input.name === undefined ? "mic" : `mic:${input.name}`;
  }
}

export function audioInput(value: string): AudioInput_Serialize {
  if (value === "none") return { kind: "none" };
  if (value === "mic") return { kind: "microphone", name: null };
  if (value.startsWith("mic:")) return { kind: "microphone", name: value.slice(4) };
  return { kind: "test_tone" };
}

/** The voice setting in force: the saved one, else clean for a microphone and off for the test tone (as the engine decides). */
export function voiceMode(voice: VoiceMode | null | undefined, audio: AudioInput): VoiceMode {
  return voice ?? (audio.kind === "microphone" ? "clean" : "off");
}

/** "1280x720" for the select, and back. */
export const sizeValue = (w: number, h: number) => `${w}x${h}`;
export function parseSize(value: string): [number, number] | null {
  const m = /^(\d+)x(\d+)$/.exec(value);
  return m ? [Number(m[1]), Number(m[2])] : null;
}
