import { describe, expect, it } from "vitest";
import type { Flow, Summary } from "../api/types";
import { followKey, presenceOf, summaryOf } from "./presence";

describe("presence of the selected flow", () => {
  const base = { listed: false, gone: false, filter: "", listedSession: 2, session: 2 };
  it.each([
    ["listed", { ...base, listed: true }, "listed"],
    ["gone wins over listed", { ...base, listed: true, gone: true }, "gone"],
    ["filtered out", { ...base, filter: "status:5xx" }, "hidden"],
    ["blank filter is no filter", { ...base, filter: "  " }, "elsewhere"],
    ["another session", { ...base, filter: "x", session: 1 }, "elsewhere"],
    ["every session listed", { ...base, filter: "x", session: 1, listedSession: 0 }, "hidden"],
  ] as const)("%s", (_, o, want) => {
    expect(presenceOf(o)).toBe(want);
  });
});

describe("a flow's row from its details", () => {
  it("carries what the badges show", () => {
    const f = {
      id: 7,
      start: "2026-01-01T00:00:00Z",
      end: "2026-01-01T00:00:01.5Z",
      client: "127.0.0.1:1",
      state: "done",
      request: { method: "GET", url: "https://a.test:8443/p?q=1", proto: "HTTP/1.1", headers: [] },
      response: { status: 200, proto: "HTTP/1.1", headers: [] },
      requestBody: { size: 0, captured: 0, truncated: false, complete: true },
      responseBody: { size: 5, captured: 5, truncated: false, complete: true, contentType: "text/plain" },
      timings: { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: 0, receive: 0 },
      rules: ["r1"],
      replayOf: 3,
      error: "",
    } as unknown as Flow;
    expect(summaryOf(f)).toMatchObject({ id: 7, host: "a.test", port: "8443", path: "/p?q=1", scheme: "https", status: 200, size: 5, duration: 1500, rules: ["r1"], replayOf: 3 });
    expect(summaryOf({ ...f, end: undefined, request: { ...f.request, url: "/relative" } }).path).toBe("/relative");
  });
});

describe("when the detail pane reloads its flow", () => {
  const row = { id: 3, state: "done", status: 200 } as unknown as Summary;
  it("a row that changed, not one that stayed the same", () => {
    expect(followKey(row, 1)).toBe(followKey({ ...row }, 2));
    expect(followKey(row, 1)).not.toBe(followKey({ ...row, status: 500 }, 1));
  });
  it("a row that left the list", () => {
    expect(followKey(row, 1)).not.toBe(followKey(undefined, 1));
  });
  it("a flow missing from a new snapshot too (cleared while hidden), not from every batch", () => {
    expect(followKey(undefined, 1)).not.toBe(followKey(undefined, 2));
    expect(followKey(undefined, 2)).toBe(followKey(undefined, 2));
  });
});
