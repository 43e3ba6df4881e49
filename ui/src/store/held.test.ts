import { describe, expect, it } from "vitest";
import type { Held } from "../api/types";
import { BODY_KEPT, draftOfHeld, editOf, fromRaw, respondOf, toRaw, withURL } from "../lib/heldedit";
import { applyHeld, arrivals, countdown, emptyHeld, itemOf, omitted, released, releasedAll, remaining, selectHeld, urgent, withHeld } from "./held";

/** The request a held response was the answer to (Go always sends it). */
const sent = { method: "GET", url: "http://api.test/x", headers: [] };

const req = (id: number, remainingMs = 60_000): Held => ({
  id,
  phase: "request",
  rule: "r1",
  heldAt: "",
  onTimeout: "continue",
  deadline: new Date(Date.UTC(2026, 0, 1, 0, 1, 0)).toISOString(),
  remainingMs,
  request: { method: "POST", url: `http://api.test/items/${id}`, headers: [{ name: "Content-Type", value: "application/json" }], body: `{"n":${id}}` },
});

describe("held queue", () => {
  it("keeps a body that a later list left out, and takes the whole exchange when it comes", () => {
    let s = applyHeld(emptyHeld(), [req(1)], 0);
    const cut: Held = { ...req(1), request: { ...req(1).request!, body: undefined, bodyOmitted: true } };
    s = applyHeld(s, [cut], 10);
    expect(s.items[0].held.request?.body).toBe(`{"n":1}`);
    expect(omitted(s.items[0].held)).toBe(false);
    // First seen without its body: not editable until GET /api/held/{id} answers.
    let t = applyHeld(emptyHeld(), [{ ...cut, id: 2 }], 0);
    expect(omitted(t.items[0].held)).toBe(true);
    expect(draftOfHeld(t.items[0].held).truncated).toBe(true);
    t = withHeld(t, { ...req(2) });
    expect(t.items[0].held.request?.body).toBe(`{"n":2}`);
    expect(draftOfHeld(t.items[0].held).truncated).toBe(false);
  });

  it("keeps the order things arrived in, and new hits go last", () => {
    let s = applyHeld(emptyHeld(), [req(1), req(2)], 1000);
    s = applyHeld(s, [req(3), req(2), req(1)], 2000);
    expect(s.items.map((it) => it.held.id)).toEqual([1, 2, 3]);
    expect(arrivals(applyHeld(emptyHeld(), [req(1)], 0), s)).toEqual([2, 3]);
  });

  it("never moves the selection when the list changes: a new hit does not take the editor", () => {
    let s = applyHeld(emptyHeld(), [req(1)], 0);
    s = selectHeld(s, 1);
    s = applyHeld(s, [req(1), req(2), req(3)], 100);
    expect(s.selected).toBe(1);
    // Nothing selected: a hit does not open the editor either.
    expect(applyHeld(emptyHeld(), [req(9)], 0).selected).toBeNull();
  });

  it("keeps the selection when the selected one leaves elsewhere (timeout, another tab)", () => {
    let s = selectHeld(applyHeld(emptyHeld(), [req(1), req(2)], 0), 1);
    s = applyHeld(s, [req(2)], 500);
    expect(s.selected).toBe(1);
    expect(itemOf(s, 1)).toBeUndefined();
    expect(itemOf(s, 2)?.held.id).toBe(2);
  });

  it("moves to the next one when the user releases the one in the editor", () => {
    let s = selectHeld(applyHeld(emptyHeld(), [req(1), req(2), req(3)], 0), 2);
    s = released(s, 2);
    expect(s.items.map((it) => it.held.id)).toEqual([1, 3]);
    expect(s.selected).toBe(3);
    s = released(s, 3);
    expect(s.selected).toBe(1);
    s = released(s, 1);
    expect(s.selected).toBeNull();
    // Releasing another one leaves the editor where it is.
    s = selectHeld(applyHeld(emptyHeld(), [req(1), req(2)], 0), 1);
    expect(released(s, 2).selected).toBe(1);
    expect(releasedAll(s)).toEqual({ items: [], selected: null });
  });

  it("counts down on the browser's clock from remainingMs, whatever the deadline says", () => {
    // The deadline string is in 2026; remainingMs is what counts.
    const s = applyHeld(emptyHeld(), [req(1, 42_000)], 1_000_000);
    const it = s.items[0];
    expect(remaining(it, 1_000_000)).toBe(42_000);
    expect(remaining(it, 1_030_500)).toBe(11_500);
    expect(remaining(it, 2_000_000)).toBe(0);
    // A later list resets it: the server's figure wins.
    const t = applyHeld(s, [req(1, 5_000)], 1_010_000);
    expect(remaining(t.items[0], 1_010_000)).toBe(5_000);
  });

  it("falls back on the deadline when remainingMs is missing", () => {
    const h = { ...req(1), remainingMs: undefined as unknown as number };
    const s = applyHeld(emptyHeld(), [h], 0);
    expect(s.items[0].until).toBe(Date.parse(h.deadline));
  });

  it("writes countdowns rounding up, and flags the last ten seconds", () => {
    expect(countdown(60_000)).toBe("1:00");
    expect(countdown(59_001)).toBe("1:00");
    expect(countdown(59_000)).toBe("0:59");
    expect(countdown(1)).toBe("0:01");
    expect(countdown(0)).toBe("0:00");
    expect(countdown(-5)).toBe("0:00");
    expect(countdown(30 * 60_000)).toBe("30:00");
    expect(countdown(3_725_000)).toBe("1:02:05");
    expect(urgent(10_000)).toBe(true);
    expect(urgent(10_001)).toBe(false);
  });

  it("ignores a missing list", () => {
    expect(applyHeld(selectHeld(emptyHeld(), 4), null, 0)).toEqual({ items: [], selected: 4 });
  });
});

describe("held editor", () => {
  it("sends only what changed", () => {
    const h = req(1);
    const orig = draftOfHeld(h);
    expect(editOf(orig, orig, "request")).toEqual({});
    const now = { ...orig, headers: [...orig.headers, { name: "X-Edit", value: "1" }, { name: " ", value: "ignored" }], body: '{"n":2}' };
    expect(editOf(orig, now, "request")).toEqual({ headers: [{ name: "Content-Type", value: "application/json" }, { name: "X-Edit", value: "1" }], body: '{"n":2}' });
    expect(editOf(orig, { ...orig, method: "PUT", url: "http://other.test/x" }, "request")).toEqual({ method: "PUT", url: "http://other.test/x" });
  });

  it("edits a response's status and body", () => {
    const h: Held = { id: 2, phase: "response", rule: "r1", heldAt: "", onTimeout: "continue", request: sent, deadline: "", remainingMs: 1000, response: { status: 200, headers: [{ name: "Content-Type", value: "text/plain" }], body: "hello" } };
    const orig = draftOfHeld(h);
    expect(editOf(orig, { ...orig, status: 500, body: "broken" }, "response")).toEqual({ status: 500, body: "broken" });
  });

  it("never sends a body it could not show (binary or cut)", () => {
    const bin: Held = { id: 3, phase: "response", rule: "r1", heldAt: "", onTimeout: "continue", request: sent, deadline: "", remainingMs: 1, response: { status: 200, headers: [], bodyBase64: "AAE=" } };
    const d = draftOfHeld(bin);
    expect(editOf(d, { ...d, body: "typed", status: 201 }, "response")).toEqual({ status: 201 });
    const cut: Held = { ...req(4), request: { ...req(4).request, truncated: true } };
    const c = draftOfHeld(cut);
    expect(editOf(c, { ...c, body: "x" }, "request")).toEqual({});
  });

  it("round-trips the raw text, and says which line it cannot read", () => {
    const d = draftOfHeld(req(1));
    const raw = toRaw(d, "request");
    expect(raw).toBe('POST http://api.test/items/1\nContent-Type: application/json\n\n{"n":1}');
    expect(fromRaw(raw, "request", d)).toEqual(d);
    const edited = fromRaw("PUT http://api.test/items/1 HTTP/1.1\r\nContent-Type: application/json\r\nX-A: b: c\r\n\r\nline1\nline2", "request", d);
    expect(edited).toMatchObject({ method: "PUT", headers: [{ name: "Content-Type", value: "application/json" }, { name: "X-A", value: "b: c" }], body: "line1\nline2" });
    expect(() => fromRaw("GARBAGE", "request", d)).toThrow(/line 1/);
    expect(() => fromRaw("GET /x\nno colon here\n\n", "request", d)).toThrow(/line 2/);
    const r = draftOfHeld({ id: 2, phase: "response", rule: "r1", heldAt: "", onTimeout: "continue", request: sent, deadline: "", remainingMs: 1, response: { status: 404, headers: [], body: "" } });
    expect(fromRaw("HTTP/1.1 503 Service Unavailable\n\n", "response", r).status).toBe(503);
    expect(fromRaw("201\nA: 1", "response", r)).toMatchObject({ status: 201, headers: [{ name: "A", value: "1" }] });
  });

  it("keeps a body raw text cannot hold", () => {
    const d = draftOfHeld({ id: 3, phase: "response", rule: "r1", heldAt: "", onTimeout: "continue", request: sent, deadline: "", remainingMs: 1, response: { status: 200, headers: [], bodyBase64: "AAE=" } });
    const raw = toRaw(d, "response");
    expect(raw.endsWith(BODY_KEPT)).toBe(true);
    expect(fromRaw(raw.replace("200", "202"), "response", d)).toMatchObject({ status: 202, bodyBase64: "AAE=" });
    expect(() => fromRaw("HTTP/1.1 200\n\nnew text", "response", d)).toThrow(/cannot be edited/);
  });

  it("moves the Host field with the URL while it named the URL's host", () => {
    const d = { ...draftOfHeld(req(1)), headers: [{ name: "Host", value: "api.test" }, { name: "X", value: "api.test" }] };
    expect(withURL(d, "http://127.0.0.1:3000/items/1").headers).toEqual([{ name: "Host", value: "127.0.0.1:3000" }, { name: "X", value: "api.test" }]);
    const custom = { ...d, headers: [{ name: "Host", value: "virtual.test" }] };
    expect(withURL(custom, "http://other.test/").headers).toEqual([{ name: "Host", value: "virtual.test" }]);
    expect(withURL(d, "not a url").headers).toEqual(d.headers);
  });

  it("writes a direct answer whole", () => {
    expect(respondOf({ status: 418, headers: [{ name: "X", value: "1" }, { name: "", value: "" }], body: "tea" })).toEqual({ status: 418, headers: [{ name: "X", value: "1" }], body: "tea" });
  });
});
