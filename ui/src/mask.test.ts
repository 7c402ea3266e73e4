import { describe, expect, it } from "vitest";
import type { KeyState } from "./bindings";
import { isRevealed, keyText, REVEAL_MS, revealUntil } from "./mask";

const stored: KeyState = { state: "stored", masked: "••••••••XY" };

describe("key masking", () => {
  it("shows only the mask unless revealed", () => {
    expect(keyText(stored, null, 0)).toBe("••••••••XY");
  });
  it("shows the key after Reveal and masks it again when the time is up", () => {
    const shown = revealUntil("sk_live_secret_XY", 1000);
    expect(keyText(stored, shown, 1000)).toBe("sk_live_secret_XY");
    expect(isRevealed(shown, 1000 + REVEAL_MS - 1)).toBe(true);
    expect(keyText(stored, shown, 1000 + REVEAL_MS)).toBe("••••••••XY");
    expect(isRevealed(shown, 1000 + REVEAL_MS)).toBe(false);
  });
  it("says what to do about a missing key, and that recordings have none", () => {
    expect(keyText({ state: "missing" }, null, 0)).toContain("rotate");
    expect(keyText({ state: "not_needed" }, null, 0)).toBe("no key");
  });
});
