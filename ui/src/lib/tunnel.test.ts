import { describe, expect, it } from "vitest";
import type { Flow, Summary } from "../api/types";
import { TOGGLES, toggleTerm } from "./filter";
import { connectTarget, kindBadge, kindPath, trustFailure } from "./tunnel";

const row = (over: Partial<Summary>): Summary => ({
  id: 1, start: "", state: "done", method: "CONNECT", url: "https://app.test:443", scheme: "https", host: "app.test", port: "443",
  path: "/", status: 0, contentType: "", size: 0, duration: 3, rules: [], error: "", ...over,
});

describe("tunnel flows", () => {
  it("badges a tunnel and a failed handshake, and nothing else", () => {
    expect(kindBadge("tunnel")?.label).toBe("tunnel");
    expect(kindBadge("tls-error")?.label).toBe("TLS error");
    expect(kindBadge(undefined)).toBeNull();
    expect(kindBadge("")).toBeNull();
  });

  it("shows the cause of a failed handshake in the path column", () => {
    const why = "the client rejected Loupe's certificate: unknown authority";
    expect(kindPath(row({ kind: "tls-error", error: why }))).toBe(why);
    expect(kindPath(row({ kind: "tunnel" }))).toContain("tunnel");
    expect(kindPath(row({ path: "/x?y" }))).toBe("/x?y");
  });

  it("names the target and which failures point at the CA", () => {
    const f = { request: { method: "CONNECT", url: "https://bank.test:443", proto: "HTTP/1.1", headers: [] } } as unknown as Flow;
    expect(connectTarget(f)).toBe("bank.test:443");
    expect(trustFailure("unknown_ca")).toBe(true);
    expect(trustFailure("closed")).toBe(true);
    expect(trustFailure("timeout")).toBe(false);
    expect(trustFailure(undefined)).toBe(false);
  });

  it("has a quick toggle for tunnels", () => {
    const t = TOGGLES.find((x) => x.label === "Tunnels")!;
    expect(toggleTerm("host:a.test", t)).toBe("host:a.test kind:tunnel,tls-error");
    expect(toggleTerm("host:a.test kind:tunnel,tls-error", t)).toBe("host:a.test");
  });
});
