// How a key is shown: masked always, in clear only for a few seconds after
// an explicit Reveal. Pure, so the hiding is tested without timers.
import type { KeyState } from "./bindings";

export const REVEAL_MS = 5000;

export interface Revealed {
  value: string;
  until: number;
}

export function revealUntil(value: string, now: number): Revealed {
  return { value, until: now + REVEAL_MS };
}

export function keyText(key: KeyState, revealed: Revealed | null, now: number): string {
  if (revealed && now < revealed.until) return revealed.value;
  switch (key.state) {
    case "stored":
      return key.masked;
    case "missing":
      return "missing: rotate to store one";
    case "not_needed":
      return "no key";
  }
}

export function isRevealed(revealed: Revealed | null, now: number): boolean {
  return revealed !== null && now < revealed.until;
}
