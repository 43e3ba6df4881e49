import { describe, expect, it } from "vitest";
import { cleanEntries, sameEntries } from "./hostmap";

describe("host map rows", () => {
  it("trims and drops empty rows, keeps half-filled ones", () => {
    expect(
      cleanEntries([
        { host: " api.test ", to: " 127.0.0.1:3000 " },
        { host: "", to: "" },
        { host: "x.test", to: "" },
      ]),
    ).toEqual([
      { host: "api.test", to: "127.0.0.1:3000" },
      { host: "x.test", to: "" },
    ]);
  });
  it("compares in order", () => {
    const a = [{ host: "a", to: "1" }];
    expect(sameEntries(a, [{ host: "a", to: "1" }])).toBe(true);
    expect(sameEntries(a, [{ host: "a", to: "2" }])).toBe(false);
    expect(sameEntries(a, [])).toBe(false);
  });
});
