import { describe, expect, it } from "vitest";
import { formatElapsed, formatNumber, stopAsks, tallyFor } from "./tally";

describe("tally and elapsed time", () => {
  it("formats elapsed time as mm:ss, then h:mm:ss", () => {
    expect(formatElapsed(-5)).toBe("00:00");
    expect(formatElapsed(59_999)).toBe("00:59");
    expect(formatElapsed(3_600_000 + 61_000)).toBe("1:01:01");
  });
  it("offers one button whose label follows the state", () => {
    expect(tallyFor("idle").button).toBe("Go Live");
    expect(tallyFor("stopping")).toMatchObject({ button: "Stop", busy: true });
    expect(tallyFor("reconnecting")).toMatchObject({ button: "Stop", busy: false, label: "RECONNECTING" });
    expect(formatNumber(null, 1)).toBe("–");
  });
  it("offers Stop, pressable, while the session is still starting", () => {
    for (const state of ["preparing", "connecting"] as const) {
      expect(tallyFor(state)).toMatchObject({ label: "STARTING", button: "Stop", busy: false });
      expect(stopAsks(state)).toBe(false);
    }
    expect(stopAsks("live")).toBe(true);
    expect(stopAsks("reconnecting")).toBe(true);
  });
});
