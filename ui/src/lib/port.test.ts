import { describe, expect, it } from "vitest";
import type { Flow } from "../api/types";
import { defaultPort, joinHostPort, shownPort, urlPort } from "./port";
import { cleanRule, knownField, ruleFromFlow } from "./rules";

function flowAt(url: string): Flow {
  return {
    id: 1,
    start: "",
    client: "127.0.0.1:5000",
    state: "done",
    request: { method: "GET", url, proto: "HTTP/1.1", headers: [] },
    response: { status: 200, proto: "HTTP/1.1", headers: [{ name: "Content-Type", value: "text/plain" }] },
    requestBody: { size: 0, captured: 0, truncated: false, complete: true },
    responseBody: { size: 4, captured: 4, truncated: false, complete: true },
    timings: { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: 1, receive: 0 },
  };
}

describe("ports", () => {
  it("urlPort: the explicit port, else the scheme's default", () => {
    expect(urlPort("http://127.0.0.1:20002/x")).toBe(20002);
    expect(urlPort("http://127.0.0.1:20001")).toBe(20001);
    expect(urlPort("http://x/")).toBe(80);
    expect(urlPort("http://x:80/")).toBe(80);
    expect(urlPort("https://x/")).toBe(443);
    expect(urlPort("https://x:80/")).toBe(80);
    expect(urlPort("ws://x/s")).toBe(80);
    expect(urlPort("wss://x/s")).toBe(443);
    expect(urlPort("https://[::1]:8443/")).toBe(8443);
    expect(urlPort("not a url")).toBeUndefined();
    expect(urlPort("ftp://x/")).toBeUndefined();
  });

  it("defaultPort takes a scheme with or without its colon", () => {
    expect(defaultPort("https:")).toBe(443);
    expect(defaultPort("HTTP")).toBe(80);
    expect(defaultPort("gopher")).toBeUndefined();
  });

  it("shownPort hides the scheme's default port", () => {
    expect(shownPort("http", "20002")).toBe("20002");
    expect(shownPort("http", "80")).toBe("");
    expect(shownPort("https", "443")).toBe("");
    expect(shownPort("https", "80")).toBe("80");
    expect(shownPort("http", undefined)).toBe("");
    expect(shownPort("http", "")).toBe("");
  });

  it("joinHostPort brackets IPv6 addresses", () => {
    expect(joinHostPort("127.0.0.1", 20002)).toBe("127.0.0.1:20002");
    expect(joinHostPort("::1", "9000")).toBe("[::1]:9000");
    expect(joinHostPort("[::1]", 9000)).toBe("[::1]:9000");
    expect(joinHostPort("*.test", undefined)).toBe("*.test");
  });
});

describe("override from a flow: the port", () => {
  it("matches the flow's own port, so the other server on the host is left alone", () => {
    const a = cleanRule(ruleFromFlow(flowAt("http://127.0.0.1:20002/x"), "new"));
    const b = cleanRule(ruleFromFlow(flowAt("http://127.0.0.1:20001/x"), "new"));
    expect(a.match).toEqual({ methods: ["GET"], host: "127.0.0.1", port: 20002, path: "/x" });
    expect(b.match.port).toBe(20001);
  });

  it("writes a default port too: a rule for https://x/ is not one for x:8443", () => {
    expect(ruleFromFlow(flowAt("https://api.test/v1"), null).match.port).toBe(443);
    expect(ruleFromFlow(flowAt("http://api.test/v1"), null).match.port).toBe(80);
  });

  it("keeps IPv6 hosts as the server accepts them", () => {
    const r = ruleFromFlow(flowAt("http://[::1]:9000/x"), null);
    expect(r.match.host).toBe("[::1]");
    expect(r.match.port).toBe(9000);
  });

  it("cleanRule sends a typed port and drops an empty one", () => {
    const base = { id: "a", enabled: true, actions: [] };
    expect(cleanRule({ ...base, match: { port: 8080 } }).match).toEqual({ port: 8080 });
    expect(cleanRule({ ...base, match: { port: undefined } }).match).toEqual({});
    expect(cleanRule({ ...base, match: { port: Number.NaN } }).match).toEqual({});
    // The server answers these with a problem on match.port, shown by the field.
    expect(cleanRule({ ...base, match: { port: 0 } }).match).toEqual({ port: 0 });
    expect(cleanRule({ ...base, match: { port: 70000 } }).match).toEqual({ port: 70000 });
    expect(knownField("match.port")).toBe(true);
  });
});
