// Settings: picture, encoding, status polling, start on login, and where
// the log is. Saved with the destinations' config by the engine.
import { commands, type Settings_Serialize as Settings } from "./bindings";
import { $, asError, fillSelect, showBanner } from "./dom";
import { FRAME_RATES, parseSize, RESOLUTIONS, sizeValue } from "./settingsForm";

const input = (id: string) => $<HTMLInputElement>(id);
let applied: () => void = () => {};

function writeForm(s: Settings) {
  const sizes = RESOLUTIONS.map(([w, h]) => ({ value: sizeValue(w, h), label: `${w} × ${h}` }));
  if (!RESOLUTIONS.some(([w, h]) => w === s.width && h === s.height)) {
    sizes.push({ value: sizeValue(s.width, s.height), label: `${s.width} × ${s.height}` });
  }
  fillSelect($("s-size"), sizes, sizeValue(s.width, s.height));
  const rates = [...new Set([...FRAME_RATES, s.fps])].sort((a, b) => a - b);
  fillSelect($("s-fps"), rates.map((r) => ({ value: String(r), label: `${r} fps` })), String(s.fps));
  input("s-bitrate").value = String(s.video_kbps);
  input("s-simulcast").checked = s.simulcast;
  input("s-status-url").value = s.status_url ?? "";
  input("s-login").checked = s.start_on_login;
}

async function save(e: SubmitEvent) {
  e.preventDefault();
  // Devices, window and the destinations ticked are kept as they are now.
  const current = await commands.getSettings();
  const [width, height] = parseSize($<HTMLSelectElement>("s-size").value) ?? [current.width, current.height];
  const statusUrl = input("s-status-url").value.trim();
  const next: Settings = {
    ...current,
    width,
    height,
    fps: Number($<HTMLSelectElement>("s-fps").value),
    video_kbps: Math.round(Number(input("s-bitrate").value)),
    simulcast: input("s-simulcast").checked,
    status_url: statusUrl || null,
    start_on_login: input("s-login").checked,
  };
  const result = await commands.saveSettings(next);
  $("s-saved").hidden = result.status === "error";
  showBanner(result.status === "error" ? result.error : null);
  applied();
}

export async function startSettings(onApplied: () => void) {
  applied = onApplied;
  $<HTMLFormElement>("settings-form").addEventListener("submit", (e) => save(e).catch((err) => showBanner(asError(err))));
  for (const id of ["s-size", "s-fps", "s-bitrate", "s-simulcast", "s-status-url", "s-login"]) {
    $(id).addEventListener("input", () => ($("s-saved").hidden = true));
  }
  $("s-show-log").addEventListener("click", () => showLog().catch((err) => showBanner(asError(err))));
  writeForm(await commands.getSettings());
  // Saving is offered once the form shows what is saved, never its blanks.
  $<HTMLButtonElement>("s-save").disabled = false;
}

/** Takes the link check's proposal as the video bitrate, saved. */
export async function useBitrate(kbps: number) {
  const settings = await commands.getSettings();
  const result = await commands.saveSettings({ ...settings, video_kbps: kbps });
  if (result.status === "error") return showBanner(result.error);
  writeForm({ ...settings, video_kbps: kbps });
  applied();
}

/// Opens the log's folder (when the desktop can) and says where it is, so it
/// can be attached to a message to whoever helps.
async function showLog() {
  const folder = await commands.showLog();
  const path = $("s-log-path");
  path.hidden = false;
  path.textContent = folder ? `The log is in ${folder} (one file a day, secrets masked).` : "Onair could not start its log.";
}
