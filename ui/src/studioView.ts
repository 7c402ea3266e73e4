// The studio: preview, meter, device and destination pickers, the one
// Go Live / Stop button, the tally and what the stream is doing.
import { commands, events, type Layout, type Settings_Serialize as Settings } from "./bindings";
import { ask } from "./confirm";
import { $, asError, el, fillSelect, setText, showBanner } from "./dom";
import {
  failed,
  goLivePressed,
  graphPoints,
  HISTORY_SECONDS,
  initialModel,
  reduce,
  view,
  type LiveModel,
  type RowView,
} from "./live";
import { createPreview } from "./preview";
import { stopAsks } from "./tally";
import { audioChoices, audioInput, audioValue, videoChoices, videoInput, videoValue, voiceMode } from "./settingsForm";

const STOP_QUESTION = "End the live stream? Viewers will see it end.";
let model: LiveModel = initialModel();
let shownError: unknown = null;
// The button does nothing until the pickers hold what Go Live would use.
let ready = false;
// Go Live's call until the shell has started the session: a Stop pressed
// meanwhile is sent after it, so it always finds the session to stop.
let starting: Promise<unknown> = Promise.resolve();

async function stopSession() {
  await starting.catch(() => {});
  await commands.stop();
}

const onAir = () => !["idle", "ended", "failed"].includes(model.state);

function render() {
  const v = view(model, Date.now());
  const tally = $("tally");
  tally.className = `tally ${v.tally.tone}`;
  tally.dataset.state = model.state;
  setText($("tally-label"), v.tally.label);
  setText($("elapsed"), v.elapsed);
  const button = $<HTMLButtonElement>("golive");
  setText(button, v.tally.button);
  button.classList.toggle("stop", v.tally.button === "Stop");
  button.disabled = !ready || v.tally.busy;
  $<HTMLFieldSetElement>("pick-destinations").disabled = onAir();
  $<HTMLSelectElement>("pick-video").disabled = onAir();
  $<HTMLSelectElement>("pick-audio").disabled = onAir();
  $<HTMLFieldSetElement>("pick-voice").disabled = onAir();
  setText($("stat-viewers"), v.viewers);
  setText($("stat-platform"), v.platform);
  $("stat-platform").dataset.live = String(model.platformLive);
  setText($("stat-fps"), v.fps);
  setText($("stat-kbps"), v.bitrate);
  setText($("stat-dropped"), v.dropped);
  for (const [id, text] of [["reconnect", v.reconnect], ["notice", v.notice], ["saved", v.saved]] as const) {
    $(id).hidden = text === null;
    setText($(id), text ?? "");
  }
  renderRows(v.destinations);
  renderGraph();
  $("meter-fill").style.width = `${v.meter}%`;
  $("limiter").classList.toggle("on", v.limiting);
  // A new error gets the banner once; dismissing it sticks until the next.
  if (model.error !== shownError) {
    shownError = model.error;
    if (model.error) showBanner(model.error);
  }
}

/// The last minutes of bitrate and frame rate, from the second stats event on.
function renderGraph() {
  $("graph").hidden = model.history.length < 2;
  for (const key of ["kbps", "fps"] as const) {
    $(`graph-${key}`).setAttribute("points", graphPoints(model.history, key, HISTORY_SECONDS, 40));
  }
}

/// One line per destination of the session: its tally, name, bitrate,
/// round trip, viewers and, when it has one, what happened and what to do.
function renderRows(rows: RowView[]) {
  const list = $("destination-rows");
  list.hidden = rows.length === 0;
  const names = rows.map((r) => r.name);
  const shown = [...list.children].map((li) => (li as HTMLElement).dataset.name);
  if (names.join("\n") !== shown.join("\n")) {
    list.replaceChildren(
      ...names.map((name) => {
        const li = el("li");
        li.dataset.name = name;
        li.append(
          el("span", { className: "row-tally" }),
          el("span", { className: "row-name", textContent: name }),
          el("span", { className: "row-health" }),
          el(
            "span",
            { className: "row-figures" },
            el("span", { className: "row-kbps" }),
            " · ",
            el("span", { className: "row-rtt" }),
            el("span", { className: "row-viewers" }),
          ),
          el("p", { className: "row-message" }),
        );
        return li;
      }),
    );
  }
  rows.forEach((row, i) => {
    const li = list.children[i] as HTMLElement;
    li.dataset.state = row.state;
    const tally = li.querySelector<HTMLElement>(".row-tally")!;
    tally.className = `row-tally ${row.tone}`;
    setText(tally, row.label);
    const health = li.querySelector<HTMLElement>(".row-health")!;
    health.hidden = row.health === null;
    health.dataset.grade = row.health?.grade ?? "";
    setText(health, row.health?.label ?? "");
    li.querySelector<HTMLElement>(".row-figures")!.hidden = row.state !== "live" && row.state !== "reconnecting";
    setText(li.querySelector<HTMLElement>(".row-kbps")!, row.bitrate);
    setText(li.querySelector<HTMLElement>(".row-rtt")!, row.roundTrip ? `${row.roundTrip} · ` : "");
    setText(li.querySelector<HTMLElement>(".row-viewers")!, `${row.viewers} watching`);
    const message = li.querySelector<HTMLElement>(".row-message")!;
    message.hidden = row.message === null;
    setText(message, row.message ?? "");
  });
}

/// What is ticked: the saved destinations, in the list's order, and the local recording.
function ticked(): { destinations: string[]; record: boolean } {
  const boxes = document.querySelectorAll<HTMLInputElement>("#pick-destination-list input[type=checkbox]");
  return {
    destinations: [...boxes].filter((b) => b.checked).map((b) => b.value),
    record: $<HTMLInputElement>("pick-record").checked,
  };
}

async function goLiveOrStop() {
  if (!ready) return;
  if (onAir()) {
    if (model.state === "stopping") return;
    // A start not yet live is called off at once; a live stream asks first.
    if (!stopAsks(model.state) || (await ask(STOP_QUESTION, "Stop streaming", "Keep streaming"))) {
      await stopSession();
    }
    return;
  }
  showBanner(null);
  const { destinations, record } = ticked();
  model = goLivePressed(model, destinations);
  render();
  const call = commands.goLive(destinations, record);
  starting = call;
  const result = await call;
  if (result.status === "error") {
    model = failed(model, result.error);
    render();
  }
}

/// Lists the saved destinations to tick. What was ticked stays ticked; on
/// first load, the set of the last Go Live. With nothing ticked, Local recording is.
export async function refreshDestinations(settings?: Settings) {
  const list = $("pick-destination-list");
  const loaded = list.dataset.loaded === "true";
  const want = loaded ? ticked() : { destinations: settings?.destinations ?? [], record: settings?.record ?? true };
  const listed = await commands.listDestinations();
  const info = await commands.sourceInfo();
  setText($("pick-record-label"), `Local recording (${info.recordings_dir})`);
  if (listed.status === "error") {
    showBanner(listed.error);
    return;
  }
  list.replaceChildren(
    ...listed.data.map((d) => {
      const box = el("input", { type: "checkbox", value: d.name, checked: want.destinations.includes(d.name) });
      return el("label", { className: "check" }, box, ` ${d.name} `, el("span", { className: "kind", textContent: `(${d.kind})` }));
    }),
  );
  list.dataset.loaded = "true";
  $<HTMLInputElement>("pick-record").checked = want.record || ticked().destinations.length === 0;
}

export async function refreshSource() {
  const info = await commands.sourceInfo();
  const source = $("source");
  source.replaceChildren(info.description);
  if (info.note) source.prepend(el("span", { className: "badge", textContent: "TEST PATTERN" }), `${info.note} `);
  if (info.error) showBanner(info.error);
}

async function refreshPickers(settings: Settings) {
  const devices = await commands.listDevices();
  fillSelect($("pick-video"), videoChoices(devices), videoValue(settings.video));
  fillSelect($("pick-audio"), audioChoices(devices), audioValue(settings.audio));
  showVoice(settings);
  showLayout(settings);
}

/// The layout buttons, when the screen is picked (there are two pictures to place).
function showLayout(settings: Settings) {
  $("layouts").hidden = settings.video.kind !== "screen";
  for (const button of document.querySelectorAll<HTMLButtonElement>("#layouts button")) {
    button.setAttribute("aria-pressed", String(button.dataset.layout === settings.layout));
  }
}

async function pickLayout(layout: Layout) {
  const result = await commands.setLayout(layout);
  showBanner(result.status === "error" ? result.error : null);
  showLayout(await commands.getSettings());
}

function showVoice(settings: Settings) {
  const mode = voiceMode(settings.voice, settings.audio);
  for (const input of document.querySelectorAll<HTMLInputElement>('#pick-voice input[name="voice"]')) {
    input.checked = input.value === mode;
  }
}

async function pickVoice(mode: string) {
  const settings = await commands.getSettings();
  const saved = await commands.saveSettings({ ...settings, voice: mode as Settings["voice"] });
  showBanner(saved.status === "error" ? saved.error : null);
  showVoice(await commands.getSettings());
  await refreshSource();
}

async function pickDevices() {
  const settings = await commands.getSettings();
  const next: Settings = {
    ...settings,
    video: videoInput($<HTMLSelectElement>("pick-video").value),
    audio: audioInput($<HTMLSelectElement>("pick-audio").value),
  };
  const saved = await commands.saveSettings(next);
  showBanner(saved.status === "error" ? saved.error : null);
  showVoice(next);
  showLayout(await commands.getSettings());
  await refreshSource();
}

export async function startStudio() {
  // Wired before anything waits on the engine, so no early click is lost.
  $("golive").addEventListener("click", () => goLiveOrStop().catch((e) => showBanner(asError(e))));
  $("pick-video").addEventListener("change", () => pickDevices().catch((e) => showBanner(asError(e))));
  $("pick-audio").addEventListener("change", () => pickDevices().catch((e) => showBanner(asError(e))));
  $("layouts").addEventListener("click", (e) => {
    const layout = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-layout]")?.dataset.layout;
    if (layout) pickLayout(layout as Layout).catch((err) => showBanner(asError(err)));
  });
  $("pick-voice").addEventListener("change", (e) => {
    const mode = (e.target as HTMLInputElement).value;
    pickVoice(mode).catch((err) => showBanner(asError(err)));
  });
  // The window's own Ctrl+Shift+L, for desktops that refuse the global one (Wayland).
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey && e.shiftKey && e.key.toLowerCase() === "l") {
      e.preventDefault();
      if ($("confirm").hidden) goLiveOrStop().catch((err) => showBanner(asError(err)));
    }
  });
  await events.sessionEvent.listen((e) => {
    model = reduce(model, e.payload, Date.now());
    render();
  });
  await events.appEvent.listen(async (e) => {
    if (e.payload.type === "go_live_or_stop") {
      if ($("confirm").hidden) await goLiveOrStop();
      return;
    }
    const closing = e.payload.type === "confirm_close";
    const text = closing ? "You are live. Stop the stream and close Onair?" : STOP_QUESTION;
    const asks = closing || stopAsks(model.state);
    if (asks && !(await ask(text, closing ? "Stop and close" : "Stop streaming", "Keep streaming"))) return;
    await (closing ? commands.quit() : stopSession());
  });
  model = initialModel(await commands.sessionState());
  const settings = await commands.getSettings();
  await Promise.all([refreshSource(), refreshPickers(settings), refreshDestinations(settings)]);
  ready = true;
  createPreview($<HTMLImageElement>("preview"));
  setInterval(render, 250);
  render();
}
