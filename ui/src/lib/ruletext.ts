// Rules in words, for the rule list and the flow list's banner: what a rule
// matches ("GET requests to *.example.com/api/* on port 8443", "all
// traffic") and what it does ("answers 404, keeps the upstream body").
// Action types this file does not know are told from the rules' own table.

import type { Action, ActionSpec, Match, Rule } from "../api/types";
import { cleanMatch } from "./rules";

/** or joins words as "a", "a or b", "a, b or c". */
function or(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} or ${xs[xs.length - 1]}`;
}

function and(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;
}

/** describeMatch says which requests a match selects. */
export function describeMatch(raw: Match): string {
  const m = cleanMatch(raw);
  if (Object.keys(m).length === 0) return "all traffic";
  const what = [m.methods?.length ? or(m.methods) : "", m.scheme ?? "", "requests"].filter(Boolean).join(" ");
  let s = what;
  if (m.host && m.path) s += ` to ${m.host}${m.path.startsWith("/") || m.path.startsWith("*") ? "" : "/"}${m.path}`;
  else if (m.host) s += ` to ${m.host}`;
  else if (m.path) s += ` to ${m.path} on any host`;
  if (m.port !== undefined) s += ` on port ${m.port}`;
  if (m.url) s += ` whose URL matches /${m.url}/`;
  return s;
}

function plural(n: number, one: string, many = one + "s"): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** bodyWords says which body an answer gets, or "" when it sets none. */
function bodyWords(a: Action): string {
  if (typeof a.body === "string") return a.body === "" ? "an empty body" : `a ${new TextEncoder().encode(a.body).length}-byte body`;
  if (a.bodyBase64) return "a binary body";
  if (a.bodyFile) return `the file ${a.bodyFile}`;
  if (a.dir) return `files from ${a.dir}`;
  return "";
}

function headerWords(a: Action): string {
  const n = Object.keys(a.headers ?? {}).length;
  return n ? `sets ${n === 1 ? "the header " + Object.keys(a.headers ?? {})[0] : n + " headers"}` : "";
}

/**
 * describeAction says what one action does. Types added to the table after
 * this was written are told by their label and the fields they set.
 */
export function describeAction(a: Action, specs: ActionSpec[] = []): string {
  switch (a.type) {
    case "override": {
      const parts = [a.status ? `answers ${a.status}` : "", headerWords(a)];
      const body = bodyWords(a);
      parts.push(body ? `serves ${body}` : "keeps the upstream body");
      return "overrides the response: " + and(parts.filter(Boolean));
    }
    case "mock": {
      const body = bodyWords(a);
      return `answers ${a.status || 200} without the upstream` + (body ? ` with ${body}` : "");
    }
    case "block":
      if (a.reset) return "resets the connection";
      return `blocks with ${a.status || 403}` + (bodyWords(a) ? ` and ${bodyWords(a)}` : "");
    case "mapRemote":
      return `sends the request to ${a.url || "?"}`;
    case "setRequestHeaders":
    case "setResponseHeaders":
      return `sets ${a.type === "setRequestHeaders" ? "request" : "response"} headers ${Object.keys(a.headers ?? {}).join(", ") || "(none)"}`;
    case "removeRequestHeaders":
    case "removeResponseHeaders":
      return `removes ${a.type === "removeRequestHeaders" ? "request" : "response"} headers ${(a.names ?? []).join(", ") || "(none)"}`;
    case "delay":
      return `delays the ${a.phase === "response" ? "response" : "request"} by ${a.ms ?? "?"} ms`;
    case "throttle":
      return `throttles the response to ${a.bytesPerSecond ?? "?"} bytes/s`;
    case "breakpoint": {
      const what = a.phase === "both" ? "the request and the response" : a.phase === "response" ? "the response" : "the request";
      return `holds ${what} for inspection` + (a.hits ? ` (the next ${plural(a.hits, "match", "matches")})` : "");
    }
  }
  const spec = specs.find((s) => s.type === a.type);
  if (!spec) return a.type;
  const set = spec.fields
    .filter((f) => {
      const v = a[f.name];
      return v !== undefined && v !== "" && v !== false && !(Array.isArray(v) && v.length === 0) && !(typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
    })
    .map((f) => {
      const v = a[f.name];
      const shown = typeof v === "string" ? (v.length > 24 ? JSON.stringify(v.slice(0, 24) + "…") : JSON.stringify(v)) : Array.isArray(v) ? v.join(", ") : typeof v === "object" ? Object.keys(v as object).join(", ") : String(v);
      return `${f.label.toLowerCase()} ${shown}`;
    });
  return spec.label.charAt(0).toLowerCase() + spec.label.slice(1) + (set.length ? ` (${set.join("; ")})` : "");
}

/** describeActions says what a rule does, action by action. */
export function describeActions(r: Rule, specs: ActionSpec[] = []): string {
  return r.actions.length ? r.actions.map((a) => describeAction(a, specs)).join("; then ") : "does nothing (no actions)";
}

/** describeRule is a rule in one sentence: "GET requests to x.test → answers 404, …". */
export function describeRule(r: Rule, specs: ActionSpec[] = []): string {
  const m = describeMatch(r.match);
  return `${m.charAt(0).toUpperCase()}${m.slice(1)} → ${describeActions(r, specs)}`;
}
