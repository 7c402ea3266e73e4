// A yes/no question in the window's own modal (a native dialog would
// block the webview, and the tests drive this one like a creator would).
import { $ } from "./dom";

let pending: ((yes: boolean) => void) | null = null;

export function ask(text: string, yes: string, no: string): Promise<boolean> {
  pending?.(false);
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  $("confirm-no").textContent = no;
  $("confirm").hidden = false;
  $<HTMLButtonElement>("confirm-no").focus();
  return new Promise((resolve) => (pending = resolve));
}

function answer(yes: boolean) {
  $("confirm").hidden = true;
  const done = pending;
  pending = null;
  done?.(yes);
}

export function installConfirm() {
  $("confirm-yes").addEventListener("click", () => answer(true));
  $("confirm-no").addEventListener("click", () => answer(false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("confirm").hidden) answer(false);
  });
}
