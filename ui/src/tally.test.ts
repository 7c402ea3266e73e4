import { describe, expect, it } from "vitest";
import { formatElapsed, formatNumber, tallyFor } from "./tally";

describe("tally and elapsed time", () => {
  it("formats elapsed time as mm:ss, then h:mm:ss", () => {
    expect(formatElapsed(-5)).toBe("00:00");
    expect(formatElapsed(59_999)).toBe("00:59");
    expect(formatElapsed(3_600_000 + 61_000)).toBe("1:01:01");
  });
  it("offers one button whose label follows the state", () => {
    expect(tallyFor("idle").button).toBe("Go Live");
    expect(tallyFor("connecting")).toMatchObject({ button: "Go Live", busy: true });
    expect(tallyFor("reconnecting")).toMatchObject({ button: "Stop", busy: false, label: "RECONNECTING" });
    expect(formatNumber(null, 1)).toBe("–");
  });
});
