// Small DOM helpers shared by the views.
import type { OnairError } from "./bindings";

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Writes `text` only when it differs: rewriting equal text swaps the text
 *  node, and WebKit drops a click whose press landed on the node swapped out. */
export function setText(node: HTMLElement, text: string) {
  if (node.textContent !== text) node.textContent = text;
}

export function fillSelect(select: HTMLSelectElement, choices: { value: string; label: string }[], value: string) {
  select.replaceChildren(...choices.map((c) => el("option", { value: c.value, textContent: c.label })));
  select.value = choices.some((c) => c.value === value) ? value : (choices[0]?.value ?? "");
}

/** One banner for every error: the engine's code and its sentence saying what to do. */
export function showBanner(error: OnairError | null) {
  const banner = $("banner");
  banner.hidden = error === null;
  banner.dataset.code = error?.code ?? "";
  $("banner-code").textContent = error ? `[${error.code}]` : "";
  $("banner-message").textContent = error?.message ?? "";
}

/** Commands answer `{status: "error"}` with an OnairError; anything else thrown is a bug worth showing too. */
export function asError(e: unknown): OnairError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as OnairError;
  return { code: "internal", message: `Onair's window hit an unexpected problem: ${e}` };
}
