import { describe, expect, it } from "vitest";
import type { Flow } from "../api/types";
import { addHistory, blankDraft, clearHistory, composeRequestOf, draftFromFlow, draftFromHistory, HISTORY_BODY_MAX, HISTORY_MAX, loadHistory, prettyJSON, queryParams, withQuery, type StorageLike } from "./compose";
import { breakpointRuleFromFlow, cleanRule, headerChanges, ruleFromHeldEdit } from "./rules";

const flow = (over: Partial<Flow> = {}): Flow => ({
  id: 7,
  start: "2026-01-01T00:00:00Z",
  client: "127.0.0.1:5000",
  state: "done",
  request: {
    method: "POST",
    url: "https://api.test:8443/v1/items?x=1",
    proto: "HTTP/1.1",
    headers: [
      { name: "Host", value: "api.test:8443" },
      { name: "Content-Type", value: "application/json" },
      { name: "Content-Length", value: "7" },
      { name: "Connection", value: "keep-alive" },
      { name: "X-Token", value: "t" },
    ],
  },
  requestBody: { size: 7, captured: 7, truncated: false, complete: true },
  responseBody: { size: 0, captured: 0, truncated: false, complete: true },
  timings: { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: 0, receive: 0 },
  ...over,
});

class MemStorage implements StorageLike {
  m = new Map<string, string>();
  quota = Infinity;
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    if (v.length > this.quota) throw new Error("QuotaExceededError");
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

describe("compose drafts", () => {
  it("opens a flow without the fields Loupe computes, and linked to it", () => {
    const { draft, dropped } = draftFromFlow(flow(), '{"a":1}');
    expect(draft).toEqual({ method: "POST", url: "https://api.test:8443/v1/items?x=1", headers: [{ name: "Content-Type", value: "application/json" }, { name: "X-Token", value: "t" }], body: '{"a":1}', from: 7 });
    expect(dropped).toEqual(["Host", "Content-Length", "Connection"]);
  });

  it("drops Content-Encoding when the body is shown decoded, keeps a binary body as base64", () => {
    const f = flow({
      request: { method: "PUT", url: "http://h.test/", proto: "HTTP/1.1", headers: [{ name: "Content-Encoding", value: "gzip" }] },
      requestBody: { size: 20, captured: 20, truncated: false, complete: true, encoding: "gzip" },
    });
    expect(draftFromFlow(f, "text").dropped).toEqual(["Content-Encoding"]);
    const bin = draftFromFlow(f, null, "H4sI");
    expect(bin.dropped).toEqual([]);
    expect(bin.draft.bodyBase64).toBe("H4sI");
    expect(composeRequestOf(bin.draft)).toEqual({ method: "PUT", url: "http://h.test/", headers: [{ name: "Content-Encoding", value: "gzip" }], bodyBase64: "H4sI", from: 7 });
  });

  it("sends no empty header rows and no empty body", () => {
    const d = { ...blankDraft(), method: " post ", url: " http://h.test/x ", headers: [{ name: "", value: "" }, { name: " X-A ", value: "1" }] };
    expect(composeRequestOf(d)).toEqual({ method: "POST", url: "http://h.test/x", headers: [{ name: "X-A", value: "1" }] });
    expect(composeRequestOf({ ...d, method: "PROPFIND" }).method).toBe("PROPFIND");
    expect(composeRequestOf({ ...d, method: "" }).method).toBe("GET");
  });

  it("edits query parameters, keeping untouched ones as written", () => {
    const url = "https://h.test/s?q=caf%C3%A9+au+lait&tag=a,b&empty&x=1#top";
    const ps = queryParams(url);
    expect(ps.map((p) => [p.name, p.value])).toEqual([
      ["q", "café au lait"],
      ["tag", "a,b"],
      ["empty", ""],
      ["x", "1"],
    ]);
    expect(withQuery(url, ps)).toBe(url);
    // Edit one row (its raw form goes), add one, remove one.
    const next = [ps[0], { name: "tag", value: "c d" }, ps[2], { name: "new", value: "ü&=" }];
    expect(withQuery(url, next)).toBe("https://h.test/s?q=caf%C3%A9+au+lait&tag=c%20d&empty&new=%C3%BC%26%3D#top");
    expect(withQuery("http://h.test/p?a=1", [])).toBe("http://h.test/p");
    expect(withQuery("http://h.test/p", [{ name: "a", value: "" }, { name: "", value: "" }])).toBe("http://h.test/p?a");
    expect(queryParams("http://h.test/p?bad=%E0%A4%A")).toEqual([{ name: "bad", value: "%E0%A4%A", raw: "bad=%E0%A4%A" }]);
  });

  it("pretty-prints JSON and leaves other text alone", () => {
    expect(prettyJSON('{"a":[1,2],"b":{"c":null}}')).toBe('{\n  "a": [\n    1,\n    2\n  ],\n  "b": {\n    "c": null\n  }\n}');
    expect(prettyJSON("a=1")).toBeNull();
    expect(prettyJSON("   ")).toBeNull();
  });
});

describe("compose history", () => {
  it("keeps the newest first, at most HISTORY_MAX, and reopens them", () => {
    const st = new MemStorage();
    for (let i = 0; i < HISTORY_MAX + 5; i++) addHistory(st, { ...blankDraft(), url: `http://h.test/${i}`, from: 3 }, 100 + i, 1000 + i);
    const h = loadHistory(st);
    expect(h).toHaveLength(HISTORY_MAX);
    expect(h[0]).toMatchObject({ id: 100 + HISTORY_MAX + 4, url: `http://h.test/${HISTORY_MAX + 4}`, from: 3 });
    expect(draftFromHistory(h[0])).toEqual({ method: "GET", url: `http://h.test/${HISTORY_MAX + 4}`, headers: [], body: "", from: 3 });
    clearHistory(st);
    expect(loadHistory(st)).toEqual([]);
  });

  it("does not keep bodies that are binary or too long", () => {
    const st = new MemStorage();
    addHistory(st, { ...blankDraft(), url: "http://h.test/", body: "x".repeat(HISTORY_BODY_MAX + 1) }, 1, 0);
    addHistory(st, { ...blankDraft(), url: "http://h.test/", bodyBase64: "AAE=" }, 2, 0);
    expect(loadHistory(st).map((e) => e.body)).toEqual([null, null]);
  });

  it("gives up old entries when the storage is full, and survives garbage", () => {
    const st = new MemStorage();
    for (let i = 0; i < 20; i++) addHistory(st, { ...blankDraft(), url: "http://h.test/" + "p".repeat(200) }, i, 0);
    st.quota = 2000;
    const list = addHistory(st, { ...blankDraft(), url: "http://h.test/last" }, 99, 0);
    expect(list[0].id).toBe(99);
    expect(list.length).toBeLessThan(21);
    expect(loadHistory(st)[0].id).toBe(99);
    st.m.set("loupe.compose.history", "{not json");
    expect(loadHistory(st)).toEqual([]);
  });
});

describe("rules from flows and held edits", () => {
  it("Break on this matches the flow's method, host, port and path with a request breakpoint", () => {
    const r = breakpointRuleFromFlow(flow());
    expect(r.match).toEqual({ methods: ["POST"], host: "api.test", port: 8443, path: "/v1/items?x=1" });
    expect(r.actions).toEqual([{ type: "breakpoint", phase: "request", timeoutMs: 60000, onTimeout: "continue", hits: 0 }]);
    expect(cleanRule(r).actions).toEqual([{ type: "breakpoint", phase: "request", timeoutMs: 60000, onTimeout: "continue", hits: 0 }]);
  });

  it("a request sent elsewhere becomes a mapRemote with its header changes", () => {
    const { rule, lost } = ruleFromHeldEdit({
      method: "GET",
      url: "https://api.test/v1/items?x=1",
      kind: "request",
      before: [{ name: "Accept", value: "*/*" }, { name: "X-Old", value: "1" }, { name: "Host", value: "api.test" }],
      after: [{ name: "Accept", value: "application/json" }, { name: "X-New", value: "2" }],
      newURL: "http://127.0.0.1:3000/v2/items?x=1",
    });
    expect(lost).toEqual([]);
    expect(rule.match).toEqual({ methods: ["GET"], host: "api.test", port: 443, path: "/v1/items?x=1" });
    expect(rule.actions).toEqual([
      { type: "mapRemote", url: "http://127.0.0.1:3000/v2/items" },
      { type: "setRequestHeaders", headers: { Accept: "application/json", "X-New": "2" } },
      { type: "removeRequestHeaders", names: ["X-Old"] },
    ]);
  });

  it("an edited response becomes an override, a direct answer a mock", () => {
    const base = { method: "GET", url: "http://h.test/a", before: [], after: [{ name: "Content-Type", value: "text/plain" }, { name: "Content-Length", value: "3" }], status: 503, body: "no" };
    expect(ruleFromHeldEdit({ ...base, kind: "response" }).rule.actions).toEqual([{ type: "override", status: 503, headers: { "Content-Type": "text/plain" }, body: "no" }]);
    expect(ruleFromHeldEdit({ ...base, kind: "respond" }).rule.actions[0].type).toBe("mock");
  });

  it("says what a rule cannot carry", () => {
    expect(ruleFromHeldEdit({ method: "GET", url: "http://h.test/a?x=1", kind: "request", before: [], after: [], newURL: "http://h.test/a?x=2" }).lost).toEqual(["the query"]);
  });

  it("headerChanges ignores case-only sameness and managed fields", () => {
    expect(headerChanges([{ name: "accept", value: "a" }, { name: "Connection", value: "x" }], [{ name: "Accept", value: "a" }, { name: "Content-Length", value: "9" }])).toEqual({ set: {}, removed: [] });
  });
});
