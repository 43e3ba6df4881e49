import { describe, expect, it } from "vitest";
import type { Action, ActionSpec, Flow } from "../api/types";
import { blankAction, changeType, cleanAction, cleanRule, forEditing, matchesAll, newRule, ruleFromFlow, ruleFromHeldEdit, selectedIn } from "./rules";
import { describeAction, describeMatch, describeRule } from "./ruletext";
import table from "./testdata/actions.json";

// The table as GET /api/rules/actions answers it (rules.ActionSpecs()),
// plus types it may gain: the editor's logic must follow any of them.
const specs: ActionSpec[] = [
  ...(table as ActionSpec[]),
  {
    type: "futureReplace",
    label: "Replace in body",
    help: "Replaces text in the response body.",
    fields: [
      { name: "find", kind: "text", label: "Find" },
      { name: "replace", kind: "text", label: "Replace with" },
      { name: "regexp", kind: "bool", label: "Regular expression" },
      { name: "where", kind: "enum", label: "Where", options: ["response", "request"] },
    ],
  },
  { type: "futurePatch", label: "JSON patch", help: "Applies an RFC 6902 patch.", fields: [{ name: "patch", kind: "text", label: "Patch" }] },
  { type: "futureRemove", label: "Remove query parameters", help: "", fields: [{ name: "names", kind: "names", label: "Parameter names" }] },
];

describe("blankAction from the table", () => {
  it("starts enums at their first option, lists empty, ungrouped text empty, the rest unset", () => {
    expect(blankAction("breakpoint", specs)).toEqual({ type: "breakpoint", phase: "request", onTimeout: "continue" });
    expect(blankAction("delay", specs)).toEqual({ type: "delay", phase: "request" });
    expect(blankAction("override", specs)).toEqual({ type: "override", headers: {} });
    expect(blankAction("removeResponseHeaders", specs)).toEqual({ type: "removeResponseHeaders", names: [] });
    expect(blankAction("futureReplace", specs)).toEqual({ type: "futureReplace", find: "", replace: "", where: "response" });
    expect(blankAction("futurePatch", specs)).toEqual({ type: "futurePatch", patch: "" });
    expect(blankAction("nope", specs)).toEqual({ type: "nope" });
  });

  it("a type change keeps the fields both types share", () => {
    const a = changeType({ type: "override", status: 418, headers: { A: "1" }, body: "x" }, "block", specs);
    expect(cleanAction(a, specs)).toEqual({ type: "block", status: 418, headers: { A: "1" }, body: "x" });
    expect(cleanAction(changeType(a, "delay", specs), specs)).toEqual({ type: "delay", phase: "request" });
  });
});

describe("cleanAction from the table", () => {
  it("keeps only the type's fields, trimmed, without empty ones", () => {
    expect(cleanAction({ type: "delay", ms: 500, phase: "request", status: 200, body: "x" }, specs)).toEqual({ type: "delay", ms: 500, phase: "request" });
    expect(cleanAction({ type: "mock", body: "", bodyFile: " /tmp/x.json " }, specs)).toEqual({ type: "mock", bodyFile: "/tmp/x.json" });
    expect(cleanAction({ type: "block", status: 403, reset: false }, specs)).toEqual({ type: "block", status: 403 });
    expect(cleanAction(blankAction("removeResponseHeaders", specs), specs)).toEqual({ type: "removeResponseHeaders" });
    expect(cleanAction({ type: "futureRemove", names: [" a ", "", "b"] }, specs)).toEqual({ type: "futureRemove", names: ["a", "b"] });
    expect(cleanAction({ type: "delay", ms: Number.NaN, phase: "response" }, specs)).toEqual({ type: "delay", phase: "response" });
  });

  it("an override without a body source keeps the upstream body: an empty body is sent only when chosen", () => {
    expect(cleanAction({ type: "override", status: 404, headers: {}, body: "" }, specs)).toEqual({ type: "override", status: 404 });
    expect(cleanAction({ type: "override", headers: { "X-A": "1" } }, specs)).toEqual({ type: "override", headers: { "X-A": "1" } });
    const chosen: Action = { type: "override", status: 204, body: "", $empty: ["body"] };
    expect(cleanAction(chosen, specs)).toEqual({ type: "override", status: 204, body: "" });
    // A body with text keeps its spaces as typed.
    expect(cleanAction({ type: "block", body: "  no \n" }, specs)).toEqual({ type: "block", body: "  no \n" });
  });

  it("keeps one body source: the one the form shows", () => {
    const a: Action = { type: "mock", body: "text", bodyFile: "/f", $src: { body: "bodyFile" } };
    expect(selectedIn(a, specs.find((s) => s.type === "mock")!, "body")).toBe("bodyFile");
    expect(cleanAction(a, specs)).toEqual({ type: "mock", bodyFile: "/f" });
    expect(cleanAction({ type: "mock", dir: " /srv ", $src: { body: "dir" } }, specs)).toEqual({ type: "mock", dir: "/srv" });
    // Without a choice the first source that holds a value wins.
    expect(cleanAction({ type: "override", bodyBase64: "AAA=" }, specs)).toEqual({ type: "override", bodyBase64: "AAA=" });
  });

  it("sends find and replace texts as typed and a JSON field as the value it spells", () => {
    expect(cleanAction({ type: "replaceHeaders", phase: "request", name: " X-Env ", find: " a ", replace: "b " }, specs)).toEqual({
      type: "replaceHeaders",
      phase: "request",
      name: "X-Env",
      find: " a ",
      replace: "b ",
    });
    expect(cleanAction({ type: "jsonPatch", phase: "response", patch: '{"debug": true, "token": null}' }, specs)).toEqual({ type: "jsonPatch", phase: "response", patch: { debug: true, token: null } });
    // Not JSON: sent as typed, for the server to name the problem.
    expect(cleanAction({ type: "jsonPatch", phase: "response", patch: "{debug" }, specs)).toEqual({ type: "jsonPatch", phase: "response", patch: "{debug" });
  });

  it("handles types the table gains: ungrouped text is sent as typed", () => {
    expect(cleanAction({ type: "futureReplace", find: "foo", replace: "", regexp: false, where: "response", status: 3 }, specs)).toEqual({ type: "futureReplace", find: "foo", replace: "", where: "response" });
    expect(cleanAction({ type: "futurePatch", patch: '[{"op":"remove","path":"/a"}]' }, specs)).toEqual({ type: "futurePatch", patch: '[{"op":"remove","path":"/a"}]' });
  });

  it("leaves a type the table does not know to the server, without the editor's marks", () => {
    expect(cleanAction({ type: "future", x: 1, $src: { body: "body" } }, specs)).toEqual({ type: "future", x: 1 });
  });

  it("a stored explicit empty body survives an edit round trip", () => {
    const r = forEditing({ id: "a", enabled: true, match: { host: "h" }, actions: [{ type: "override", body: "" }] }, specs);
    expect(cleanRule(r, specs).actions).toEqual([{ type: "override", body: "" }]);
  });
});

describe("match-all guard", () => {
  it("a match without fields matches all traffic", () => {
    expect(matchesAll({})).toBe(true);
    expect(matchesAll({ methods: [" "], host: " ", path: "", url: "" })).toBe(true);
    expect(matchesAll({ host: "x.test" })).toBe(false);
    expect(matchesAll({ port: 8443 })).toBe(false);
    expect(matchesAll({ methods: ["get"] })).toBe(false);
  });

  const flow = { request: { method: "GET", url: "https://api.test:8443/v1/a?x=1" } } as Flow;

  it("a new rule from nothing starts disabled; from a flow it matches that flow", () => {
    const blank = newRule(specs, null);
    expect(blank.enabled).toBe(false);
    expect(matchesAll(blank.match)).toBe(true);
    expect(blank.actions).toEqual([{ type: "override", headers: {} }]);
    const from = newRule(specs, flow);
    expect(from.enabled).toBe(true);
    expect(from.match).toEqual({ methods: ["GET"], host: "api.test", port: 8443, path: "/v1/a?x=1" });
  });

  it("an override from a flow with no text body keeps the upstream body", () => {
    const f = { ...flow, response: { status: 200, proto: "HTTP/1.1", headers: [{ name: "Content-Type", value: "image/png" }] } } as Flow;
    expect(cleanRule(ruleFromFlow(f, null), specs).actions).toEqual([{ type: "override", status: 200, headers: { "Content-Type": "image/png" } }]);
    expect(cleanRule(ruleFromFlow(f, ""), specs).actions).toEqual([{ type: "override", status: 200, headers: { "Content-Type": "image/png" } }]);
  });

  it("a held response edit without a body keeps the upstream body", () => {
    const { rule } = ruleFromHeldEdit({ method: "GET", url: "http://h.test/a", kind: "response", before: [], after: [], status: 500, body: "" });
    expect(cleanRule(rule, specs).actions).toEqual([{ type: "override", status: 500 }]);
  });
});

describe("rules in words", () => {
  it("says what a match selects", () => {
    expect(describeMatch({})).toBe("all traffic");
    expect(describeMatch({ methods: ["GET"], host: "*.example.com", path: "/api/*", port: 8443 })).toBe("GET requests to *.example.com/api/* on port 8443");
    expect(describeMatch({ methods: ["GET", "POST", "PUT"] })).toBe("GET, POST or PUT requests");
    expect(describeMatch({ scheme: "wss", host: "h.test" })).toBe("wss requests to h.test");
    expect(describeMatch({ path: "/health" })).toBe("requests to /health on any host");
    expect(describeMatch({ url: "^https://x/" })).toBe("requests whose URL matches /^https://x//");
  });

  it("says what actions do", () => {
    expect(describeAction({ type: "override", status: 404 })).toBe("overrides the response: answers 404 and keeps the upstream body");
    expect(describeAction({ type: "override", body: "" })).toBe("overrides the response: serves an empty body");
    expect(describeAction({ type: "override", headers: { A: "1" }, body: "héllo" })).toBe("overrides the response: sets the header A and serves a 6-byte body");
    expect(describeAction({ type: "block" })).toBe("blocks with 403");
    expect(describeAction({ type: "block", status: 451, body: "no" })).toBe("blocks with 451 and a 2-byte body");
    expect(describeAction({ type: "block", reset: true })).toBe("resets the connection");
    expect(describeAction({ type: "mock" })).toBe("answers 200 without the upstream");
    expect(describeAction({ type: "delay", ms: 800, phase: "response" })).toBe("delays the response by 800 ms");
    expect(describeAction({ type: "breakpoint", phase: "both", hits: 1 })).toBe("holds the request and the response for inspection (the next 1 match)");
  });

  it("tells a type it does not know from the table", () => {
    expect(describeAction({ type: "futureReplace", find: "foo", replace: "bar" }, specs)).toBe('replace in body (find "foo"; replace with "bar")');
    expect(describeAction({ type: "unheard" }, specs)).toBe("unheard");
  });

  it("says a whole rule", () => {
    expect(describeRule({ id: "x", enabled: true, match: {}, actions: [{ type: "override", status: 200, body: "" }] }, specs)).toBe("All traffic → overrides the response: answers 200 and serves an empty body");
    expect(describeRule({ id: "x", enabled: true, match: { host: "a.test" }, actions: [] })).toBe("Requests to a.test → does nothing (no actions)");
  });
});
