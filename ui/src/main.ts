// The window: three views (studio, destinations, settings) over typed
// commands and events generated from Rust (./bindings).
import { installConfirm } from "./confirm";
import { $, asError, showBanner } from "./dom";
import { refresh as refreshDestinationList, startDestinations } from "./destinationsView";
import { startSettings } from "./settingsView";
import { refreshDestinations, refreshSource, startStudio } from "./studioView";

type ViewName = "studio" | "destinations" | "settings";

function show(name: ViewName) {
  for (const tab of document.querySelectorAll<HTMLButtonElement>("nav.tabs button")) {
    const selected = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(selected));
    $(`view-${tab.dataset.view}`).hidden = !selected;
  }
  if (name === "destinations") refreshDestinationList().catch((e) => showBanner(asError(e)));
}

async function main() {
  installConfirm();
  $("banner-close").addEventListener("click", () => showBanner(null));
  for (const tab of document.querySelectorAll<HTMLButtonElement>("nav.tabs button")) {
    tab.addEventListener("click", () => show(tab.dataset.view as ViewName));
  }
  // Each view wires its controls before it waits on the engine; the views
  // load side by side, so a slow device scan holds up none of the others.
  await Promise.all([
    startStudio(),
    startDestinations(() => refreshDestinations()),
    startSettings(() => refreshSource()),
  ]);
  document.body.dataset.ready = "true";
}

main().catch((e) => showBanner({ code: "internal", message: `Onair could not start its window: ${asError(e).message}` }));
