// Destinations and keys: add, edit, reveal (explicit, confirmed in the
// shell's own dialog, hides again by itself), copy, rotate, delete, import
// from OBS. Keys stay in the keychain: the table only ever holds masks
// unless Reveal was pressed and confirmed.
import { commands, type DestinationKind, type DestinationSummary, type Preset_Serialize as Preset } from "./bindings";
import { ask } from "./confirm";
import {
  emptyForm,
  formFor,
  formProblem,
  keyLabel,
  kindOfUrl,
  KINDS,
  presetBlank,
  toEdit,
  toNew,
  type DestinationForm,
} from "./destinationForm";
import { $, asError, el, fillSelect, showBanner } from "./dom";
import { isRevealed, keyText, revealUntil, REVEAL_MS, type Revealed } from "./mask";
import { useBitrate } from "./settingsView";

let listed: DestinationSummary[] = [];
const revealed = new Map<string, Revealed>();
let editing: string | null = null;
let changed: () => void = () => {};
let presets: Preset[] = [];
// What the last link check proposed, for its "Use" button.
let proposedKbps = 0;

const input = (id: string) => $<HTMLInputElement>(id);

// Options of the destination being edited that the form shows no field for.
let otherOptions: DestinationForm["otherOptions"] = {};

function readForm(): DestinationForm {
  return {
    otherOptions,
    name: input("d-name").value,
    kind: $<HTMLSelectElement>("d-kind").value as DestinationForm["kind"],
    url: input("d-url").value,
    key: input("d-key").value,
    tokenUrl: input("d-token-url").value,
    statusUrl: input("d-status-url").value,
    room: input("d-room").value,
    apiKey: input("d-api-key").value,
  };
}

function writeForm(form: DestinationForm) {
  otherOptions = form.otherOptions;
  input("d-name").value = form.name;
  $<HTMLSelectElement>("d-kind").value = form.kind;
  input("d-url").value = form.url;
  input("d-key").value = "";
  input("d-token-url").value = form.tokenUrl;
  input("d-status-url").value = form.statusUrl;
  input("d-room").value = form.room;
  input("d-api-key").value = form.apiKey;
  // A platform is chosen when adding; editing keeps the one it was made from.
  $<HTMLSelectElement>("d-preset").value = "";
  $<HTMLSelectElement>("d-preset").disabled = editing !== null;
  input("d-host").value = "";
  showPreset(null);
  fitFormToKind();
}

function chosenPreset(): Preset | null {
  return presets.find((p) => p.id === $<HTMLSelectElement>("d-preset").value) ?? null;
}

function showPreset(preset: Preset | null) {
  const blank = preset ? presetBlank(preset) : null;
  $("d-host-field").hidden = blank === null;
  $("d-host-label").textContent = blank?.label ?? "";
  input("d-host").placeholder = blank?.example ?? "";
  $("d-preset-hint").hidden = preset === null;
  $("d-key-page").hidden = !preset?.key_page;
}

// The engine fills the URL, status endpoint and options from the preset
// (the same as `onair keys add --preset`); the form shows them before saving.
async function applyPreset() {
  const preset = chosenPreset();
  showPreset(preset);
  if (!preset) {
    const { preset: _preset, ...rest } = otherOptions;
    otherOptions = rest;
    return fitFormToKind();
  }
  if (!input("d-name").value.trim()) input("d-name").value = preset.destination_name;
  const fill = input("d-host").value.trim();
  const result = await commands.presetDestination(preset.id, null, fill || null);
  if (result.status === "error") {
    input("d-url").value = "";
    const blank = presetBlank(preset);
    $("d-limits").textContent = blank && !fill ? `Fill in your ${blank.label.toLowerCase()}.` : result.error.message;
    return;
  }
  const made = result.data;
  input("d-url").value = made.url;
  input("d-status-url").value = made.status_url ?? "";
  otherOptions = { ...otherOptions, ...made.options };
  $<HTMLSelectElement>("d-kind").value = kindOfUrl(made.url) ?? readForm().kind;
  $("d-limits").textContent = made.limits;
  fitFormToKind();
}

async function openKeyPage() {
  const preset = chosenPreset();
  if (!preset) return;
  const result = await commands.openKeyPage(preset.id, input("d-host").value.trim() || null);
  if (result.status === "error") showBanner(result.error);
}

// What the path to a destination carries, measured without publishing;
// the proposal's bitrate can be taken with one press.
/** WHIP cannot measure without publishing; a recording has no link. */
function checkable(kind: DestinationKind): boolean {
  return kind === "rtmp" || kind === "livekit";
}

async function checkLink(name: string) {
  const box = $("link-check");
  const text = $("link-check-text");
  const use = $<HTMLButtonElement>("link-check-use");
  box.hidden = false;
  box.dataset.name = name;
  box.dataset.state = "checking";
  use.hidden = true;
  text.textContent = `Checking the link to ${name} for a few seconds; nothing is published and no key is sent.`;
  const result = await commands.checkDestination(name);
  if (box.dataset.name !== name) return; // another check took the box
  if (result.status === "error") {
    box.dataset.state = "failed";
    text.textContent = `${name}: [${result.error.code}] ${result.error.message}`;
    return;
  }
  const report = result.data;
  box.dataset.state = report.too_slow ? "too_slow" : "done";
  text.textContent = `${name}: ${report.sentence}`;
  const settings = await commands.getSettings();
  proposedKbps = report.proposal.video_kbps;
  if (!report.too_slow && proposedKbps < settings.video_kbps) {
    use.textContent = `Use ${proposedKbps} kbit/s (now ${settings.video_kbps})`;
    use.hidden = false;
  }
}

async function useProposal() {
  await useBitrate(proposedKbps);
  $<HTMLButtonElement>("link-check-use").hidden = true;
  $("link-check-text").append(` Video bitrate set to ${proposedKbps} kbit/s.`);
}

function fitFormToKind() {
  const form = readForm();
  const label = keyLabel(form);
  // Editing never shows or takes the key: Rotate does that.
  $("d-key-field").hidden = label === null || editing !== null;
  $("d-key-label").textContent = label ?? "";
  for (const node of document.querySelectorAll<HTMLElement>(".livekit-only")) node.hidden = form.kind !== "livekit";
  input("d-url").placeholder = KINDS.find((k) => k.kind === form.kind)?.placeholder ?? "";
  $<HTMLSelectElement>("d-kind").disabled = editing !== null;
}

function startEdit(d: DestinationSummary | null) {
  editing = d?.name ?? null;
  writeForm(d ? formFor(d) : emptyForm());
  $("form-title").textContent = d ? `Edit ${d.name}` : "Add a destination";
  $("d-save").textContent = d ? "Save changes" : "Save destination";
  $("d-cancel").hidden = d === null;
  fitFormToKind();
  if (d) input("d-name").focus();
}

function keyCell(d: DestinationSummary): HTMLElement {
  const cell = el("td", { className: "key" });
  const text = el("code", { className: "key-text", textContent: keyText(d.key, revealed.get(d.name) ?? null, Date.now()) });
  cell.dataset.revealed = String(isRevealed(revealed.get(d.name) ?? null, Date.now()));
  cell.append(text);
  return cell;
}

function button(label: string, action: string, onClick: () => Promise<void>): HTMLButtonElement {
  const b = el("button", { type: "button", textContent: label, className: "small" });
  b.dataset.action = action;
  b.addEventListener("click", () => onClick().catch((e) => showBanner(asError(e))));
  return b;
}

function row(d: DestinationSummary): HTMLTableRowElement {
  const tr = el("tr");
  tr.dataset.name = d.name;
  const hasKey = d.key.state === "stored";
  const actions = el("td", { className: "row-actions" });
  if (hasKey) {
    const shown = isRevealed(revealed.get(d.name) ?? null, Date.now());
    actions.append(
      button(shown ? "Hide" : "Reveal", "reveal", () => (shown ? hide(d.name) : reveal(d.name))),
      button("Copy", "copy", () => copy(d.name)),
    );
  }
  if (d.key.state !== "not_needed") actions.append(button("Rotate", "rotate", () => rotate(tr, d.name)));
  if (checkable(d.kind)) actions.append(button("Check link", "check", () => checkLink(d.name)));
  actions.append(
    button("Edit", "edit", async () => startEdit(d)),
    button("Delete", "delete", () => remove(d.name)),
  );
  tr.append(
    el("td", { textContent: d.name }),
    el("td", { textContent: KINDS.find((k) => k.kind === d.kind)?.label ?? d.kind }),
    el("td", { className: "url", textContent: d.url }),
    keyCell(d),
    actions,
  );
  return tr;
}

function renderTable() {
  $("destinations-body").replaceChildren(...listed.map(row));
  $("destinations-empty").hidden = listed.length > 0;
}

export async function refresh() {
  const result = await commands.listDestinations();
  if (result.status === "error") return showBanner(result.error);
  listed = result.data;
  renderTable();
}

async function reveal(name: string) {
  // The shell asks the creator in a dialog of its own first; no means null.
  const result = await commands.revealKey(name);
  if (result.status === "error") return showBanner(result.error);
  if (result.data === null) return;
  revealed.set(name, revealUntil(result.data.value, Date.now()));
  renderTable();
  setTimeout(() => hide(name), REVEAL_MS);
}

async function hide(name: string) {
  if (!revealed.delete(name)) return;
  renderTable();
}

async function copy(name: string) {
  const result = await commands.copyKey(name);
  showBanner(result.status === "error" ? result.error : null);
  if (result.status === "ok") flash(name, "Copied");
}

function flash(name: string, text: string) {
  const cell = document.querySelector<HTMLElement>(`tr[data-name="${CSS.escape(name)}"] td.key`);
  cell?.append(el("span", { className: "flash", textContent: ` ${text}` }));
}

async function rotate(tr: HTMLTableRowElement, name: string) {
  const cell = tr.querySelector<HTMLElement>("td.key");
  if (!cell || cell.querySelector("form")) return;
  const field = el("input", { type: "password", placeholder: "New key", className: "rotate-input", autocomplete: "off" });
  const form = el("form", { className: "rotate" }, field, el("button", { type: "submit", textContent: "Store", className: "small" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const result = await commands.rotateKey(name, field.value);
    field.value = "";
    if (result.status === "error") return showBanner(result.error);
    showBanner(null);
    revealed.delete(name);
    await refresh();
    flash(name, "Key replaced");
  });
  cell.replaceChildren(form);
  field.focus();
}

async function remove(name: string) {
  if (!(await ask(`Delete ${name} and its key from the keychain?`, "Delete", "Keep it"))) return;
  const result = await commands.removeDestination(name);
  if (result.status === "error") return showBanner(result.error);
  revealed.delete(name);
  if (editing === name) startEdit(null);
  await refresh();
  changed();
}

async function save(e: SubmitEvent) {
  e.preventDefault();
  const form = readForm();
  const problem = formProblem(form, editing === null);
  if (problem) return showBanner({ code: "invalid_destination", message: problem });
  const result =
    editing === null
      ? await commands.addDestination(toNew(form).destination, toNew(form).key)
      : await commands.editDestination(editing, form.name.trim(), toEdit(form));
  input("d-key").value = "";
  if (result.status === "error") return showBanner(result.error);
  showBanner(null);
  const added = editing === null ? result.data : null;
  startEdit(null);
  await refresh();
  changed();
  // A new destination is checked before its first Go Live.
  if (added && checkable(added.kind)) await checkLink(added.name);
}

async function importObs(e: SubmitEvent) {
  e.preventDefault();
  const dir = input("obs-dir").value.trim();
  const name = input("obs-name").value.trim();
  const result = await commands.importObs(dir || null, name || null);
  if (result.status === "error") return showBanner(result.error);
  showBanner(null);
  await refresh();
  flash(result.data.destination.name, `Imported from OBS (${result.data.service})`);
  changed();
}

export async function startDestinations(onChange: () => void) {
  changed = onChange;
  fillSelect($("d-kind"), KINDS.map((k) => ({ value: k.kind, label: k.label })), "rtmp");
  $("d-kind").addEventListener("change", fitFormToKind);
  presets = await commands.listPresets();
  fillSelect(
    $("d-preset"),
    [{ value: "", label: "Other: type the server URL" }, ...presets.map((p) => ({ value: p.id, label: p.name }))],
    "",
  );
  const onPreset = () => applyPreset().catch((err) => showBanner(asError(err)));
  $("d-preset").addEventListener("change", onPreset);
  input("d-host").addEventListener("input", onPreset);
  $("d-key-page").addEventListener("click", () => openKeyPage().catch((err) => showBanner(asError(err))));
  $("link-check-use").addEventListener("click", () => useProposal().catch((err) => showBanner(asError(err))));
  for (const id of ["d-token-url", "d-api-key"]) input(id).addEventListener("input", fitFormToKind);
  $("d-cancel").addEventListener("click", () => startEdit(null));
  $<HTMLFormElement>("destination-form").addEventListener("submit", (e) => save(e).catch((err) => showBanner(asError(err))));
  $<HTMLFormElement>("obs-form").addEventListener("submit", (e) => importObs(e).catch((err) => showBanner(asError(err))));
  startEdit(null);
  await refresh();
}
