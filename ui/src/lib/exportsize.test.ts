import { describe, expect, it } from "vitest";
import type { Session } from "../api/types";
import { exportEstimate, exportWarning, WARN_BYTES, WARN_FLOWS } from "./exportsize";

const sess = (id: number, flows: number, bytes: number): Session => ({ id, name: "S" + id, created: "", pinned: false, recording: false, flows, bytes });

describe("export size", () => {
  const all = [sess(1, 10, 1000), sess(2, 200_000, 50 << 20)];
  it("sizes one session, every session, or the flows matching a filter", () => {
    expect(exportEstimate({ listed: 1, sessions: all })).toEqual({ flows: 10, bytes: 1000 });
    expect(exportEstimate({ listed: 0, sessions: all })).toEqual({ flows: 200_010, bytes: 1000 + (50 << 20) });
    expect(exportEstimate({ listed: 1, sessions: all, matching: 5 })).toEqual({ flows: 5, bytes: 500 });
    expect(exportEstimate({ listed: 9, sessions: all, matching: 3 })).toEqual({ flows: 3 });
    expect(exportEstimate({ listed: 9, sessions: [] })).toEqual({ flows: 0 });
  });
  it("warns above either bound, not at it", () => {
    expect(exportWarning({ flows: WARN_FLOWS, bytes: WARN_BYTES })).toBeNull();
    expect(exportWarning({ flows: WARN_FLOWS + 1 })).toMatch(/^A large export: 100.001 flows|^A large export: 100,001 flows|^A large export: 100001 flows/);
    expect(exportWarning({ flows: 3, bytes: WARN_BYTES + 1 })).toContain("about");
  });
});
