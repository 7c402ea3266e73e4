// The main window: preview, one Go Live / Stop button, the tally and stats.
// Every type below comes from ./bindings, generated from the Rust side.
import { commands, events, type Event, type SessionState } from "./bindings";
import { createPreview } from "./preview";
import { formatElapsed, formatNumber, tallyFor } from "./tally";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const button = $<HTMLButtonElement>("golive");
const tally = $("tally");
const tallyLabel = $("tally-label");
const elapsed = $("elapsed");
const banner = $("banner");
const saved = $("saved");

let state: SessionState = "idle";
let liveSince: number | null = null;
let recordingPath: string | null = null;

function render() {
  const view = tallyFor(state);
  tally.className = `tally ${view.tone}`;
  tally.dataset.state = state;
  tallyLabel.textContent = view.label;
  button.textContent = view.button;
  button.classList.toggle("stop", view.button === "Stop");
  button.disabled = view.busy;
  elapsed.textContent = liveSince === null ? "" : formatElapsed(Date.now() - liveSince);
}

function showError(message: string | null) {
  banner.hidden = message === null;
  banner.textContent = message ?? "";
}

function onEvent(event: Event) {
  switch (event.type) {
    case "state":
      state = event.state;
      if (state === "live" && liveSince === null) liveSince = Date.now();
      if (state === "ended" || state === "failed") liveSince = null;
      if (event.error) showError(event.error.message);
      if (state === "ended" && recordingPath) {
        saved.hidden = false;
        saved.textContent = `Recording saved: ${recordingPath}`;
      }
      break;
    case "stats":
      $("stat-fps").textContent = formatNumber(event.video.fps, 1);
      $("stat-kbps").textContent = `${formatNumber(event.video.kbps, 0)} kbps`;
      $("stat-audio").textContent = event.audio ? `${formatNumber(event.audio.kbps, 0)} kbps` : "off";
      $("stat-dropped").textContent = String(event.video.dropped);
      break;
    case "recording":
      recordingPath = event.path;
      break;
    case "viewers":
      break;
  }
  render();
}

button.addEventListener("click", async () => {
  if (state === "live" || state === "reconnecting") {
    await commands.stop();
    return;
  }
  showError(null);
  saved.hidden = true;
  recordingPath = null;
  state = "preparing";
  render();
  const result = await commands.goLive();
  if (result.status === "error") {
    state = "failed";
    showError(result.error.message);
    render();
  }
});

async function main() {
  await events.sessionEvent.listen((e) => onEvent(e.payload));
  const info = await commands.sourceInfo();
  const source = $("source");
  source.textContent = info.description;
  if (info.note) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "TEST PATTERN";
    source.prepend(badge, `${info.note} `);
  }
  $("destination").textContent = `Local recording in ${info.recordings_dir}`;
  createPreview($<HTMLCanvasElement>("preview"));
  setInterval(render, 500);
  render();
}

main().catch((e) => showError(`Onair could not start its window: ${e}`));
