// Helpers for the rule editor: blank actions per type, rules prefilled from a
// flow ("Override this response", "Break on this") or from the edit of a held
// exchange ("Save as rule"), cleaning before save, and matching the server's
// field-level problems to form fields.

import type { Action, ActionType, Field, Flow, Problem, Rule } from "../api/types";
import { urlPort } from "./port";

/** Which fields each action type uses (the form shows only these). */
export const ACTION_FIELDS: Record<ActionType, (keyof Action)[]> = {
  override: ["status", "headers", "body", "bodyBase64", "bodyFile"],
  mock: ["status", "headers", "body", "bodyBase64", "bodyFile", "dir"],
  mapRemote: ["url"],
  setRequestHeaders: ["headers"],
  removeRequestHeaders: ["names"],
  setResponseHeaders: ["headers"],
  removeResponseHeaders: ["names"],
  delay: ["ms", "phase"],
  throttle: ["bytesPerSecond"],
  block: ["status", "reset"],
  breakpoint: ["phase", "timeoutMs", "onTimeout", "hits"],
  replaceBody: ["phase", "find", "replace", "regex"],
  replaceHeaders: ["phase", "name", "find", "replace", "regex"],
  jsonPatch: ["phase", "patch"],
  setQuery: ["params"],
  removeQuery: ["names"],
  setStatus: ["status"],
};

export const ACTION_LABELS: Record<ActionType, string> = {
  override: "Override response (upstream still called)",
  mock: "Mock response (no upstream)",
  mapRemote: "Map remote (send elsewhere)",
  setRequestHeaders: "Set request headers",
  removeRequestHeaders: "Remove request headers",
  setResponseHeaders: "Set response headers",
  removeResponseHeaders: "Remove response headers",
  delay: "Delay",
  throttle: "Throttle response",
  block: "Block",
  breakpoint: "Breakpoint (hold to inspect and edit)",
  replaceBody: "Find and replace in body",
  replaceHeaders: "Find and replace in headers",
  jsonPatch: "JSON merge patch",
  setQuery: "Set query parameters",
  removeQuery: "Remove query parameters",
  setStatus: "Set response status",
};

export function blankAction(type: ActionType): Action {
  switch (type) {
    case "override":
    case "mock":
      return { type, status: 200, headers: {}, body: "" };
    case "mapRemote":
      return { type, url: "" };
    case "setRequestHeaders":
    case "setResponseHeaders":
      return { type, headers: {} };
    case "removeRequestHeaders":
    case "removeResponseHeaders":
      return { type, names: [] };
    case "delay":
      return { type, ms: 1000, phase: "request" };
    case "throttle":
      return { type, bytesPerSecond: 16384 };
    case "block":
      return { type, status: 403 };
    case "breakpoint":
      return { type, phase: "request", timeoutMs: 60000, onTimeout: "continue", hits: 0 };
    case "replaceBody":
      return { type, phase: "response", find: "", replace: "", regex: false };
    case "replaceHeaders":
      return { type, phase: "response", name: "", find: "", replace: "", regex: false };
    case "jsonPatch":
      return { type, phase: "response", patch: {} };
    case "setQuery":
      return { type, params: {} };
    case "removeQuery":
      return { type, names: [] };
    case "setStatus":
      return { type, status: 404 };
  }
}

/** Keeps only the fields the action's type uses, and drops empty ones. */
export function cleanAction(a: Action): Action {
  const keep = ACTION_FIELDS[a.type as ActionType] ?? [];
  const out: Action = { type: a.type };
  for (const k of keep) {
    let v = a[k];
    if (v === undefined || v === null) continue;
    if (typeof v === "string" && k !== "body") v = v.trim();
    if (k !== "body" && v === "") continue;
    if ((k === "status" || k === "ms" || k === "bytesPerSecond") && (v === 0 || Number.isNaN(v))) continue;
    if (k === "headers" && Object.keys(v as object).length === 0) continue;
    if (k === "names" && (v as string[]).length === 0) continue;
    if (k === "reset" && v === false) continue;
    (out as unknown as Record<string, unknown>)[k] = v;
  }
  // One body source at most: a non-empty base64 or file wins over an empty text body.
  if ((out.bodyBase64 || out.bodyFile) && out.body === "") delete out.body;
  return out;
}

export function cleanRule(r: Rule): Rule {
  const m = r.match;
  const match: Rule["match"] = {};
  const methods = (m.methods ?? []).map((x) => x.trim().toUpperCase()).filter(Boolean);
  if (methods.length) match.methods = methods;
  if (m.scheme) match.scheme = m.scheme;
  if (m.host?.trim()) match.host = m.host.trim();
  if (m.path?.trim()) match.path = m.path.trim();
  if (m.url?.trim()) match.url = m.url.trim();
  // A port the server refuses (0, 70000, 1.5) is sent as typed, so the
  // editor shows its problem; an empty field means any port.
  if (typeof m.port === "number" && !Number.isNaN(m.port)) match.port = m.port;
  const out: Rule = { id: r.id, enabled: r.enabled, match, actions: r.actions.map(cleanAction) };
  if (r.name?.trim()) out.name = r.name.trim();
  return out;
}

/** Response headers worth carrying into an override: the content type only (framing is recomputed). */
const KEEP_HEADERS = new Set(["content-type"]);

/**
 * ruleFromFlow prefills "Override this response": match on the flow's method,
 * host, port and exact path; an override action with its status, content
 * type and (decoded) body text. The port is always set, a default one
 * included, so the rule leaves other servers on the same host alone.
 */
export function ruleFromFlow(f: Flow, bodyText: string | null): Rule {
  const headers: Record<string, string> = {};
  for (const h of f.response?.headers ?? []) {
    if (KEEP_HEADERS.has(h.name.toLowerCase())) headers[h.name] = h.value;
  }
  const action: Action = { type: "override", status: f.response?.status ?? 200, headers, body: bodyText ?? "" };
  return { id: "", name: ruleName("Override", f.request.method, f.request.url), enabled: true, match: matchOf(f.request.method, f.request.url), actions: [action] };
}

/**
 * matchOf matches one request: its method, host, port and exact path and
 * query. The port is always set, a default one included, so the rule leaves
 * other servers on the same host alone.
 */
export function matchOf(method: string, url: string): Rule["match"] {
  const u = safeURL(url);
  return {
    methods: [method],
    host: u?.hostname ?? "",
    port: urlPort(url),
    // Globs treat * and ? specially; an exact path with ? in its query
    // still matches itself (? is one char).
    path: u ? u.pathname + u.search : "",
  };
}

function ruleName(what: string, method: string, url: string): string {
  const u = safeURL(url);
  return `${what} ${method} ${u?.hostname ?? ""}${u ? u.pathname + u.search : ""}`.slice(0, 120);
}

/** breakpointRuleFromFlow prefills "Break on this": hold the next requests like f's, before they go upstream. */
export function breakpointRuleFromFlow(f: Flow): Rule {
  return {
    id: "",
    name: ruleName("Break on", f.request.method, f.request.url),
    enabled: true,
    match: matchOf(f.request.method, f.request.url),
    actions: [blankAction("breakpoint")],
  };
}

/** What a held exchange's editor changed, for "Save as rule". */
export interface HeldRuleInput {
  /** The request as it arrived (method and URL decide the match). */
  method: string;
  url: string;
  /** request: an edited request; response: an edited response; respond: an answer without the upstream. */
  kind: "request" | "response" | "respond";
  /** Header lists before and after the edit. */
  before: Field[];
  after: Field[];
  /** request: the edited URL. */
  newURL?: string;
  /** response, respond: the status and the body text. */
  status?: number;
  body?: string;
}

/**
 * ruleFromHeldEdit turns the edit of a held exchange into a rule that makes
 * the same change every time: an answer (override for an edited response,
 * mock for one given without the upstream), or for a request a mapRemote to
 * the edited origin and path plus the header changes. It also says what the
 * rule cannot carry (a request's method or body).
 */
export function ruleFromHeldEdit(e: HeldRuleInput): { rule: Rule; lost: string[] } {
  const match = matchOf(e.method, e.url);
  const lost: string[] = [];
  const actions: Action[] = [];
  if (e.kind === "request") {
    const from = safeURL(e.url);
    const to = e.newURL ? safeURL(e.newURL) : null;
    if (to && from && (to.protocol !== from.protocol || to.host !== from.host || to.pathname !== from.pathname)) {
      actions.push({ type: "mapRemote", url: `${to.protocol}//${to.host}${to.pathname}` });
      if (to.search !== from.search) lost.push("the query (a mapped request keeps its own)");
    } else if (to && from && to.search !== from.search) {
      lost.push("the query");
    }
    const { set, removed } = headerChanges(e.before, e.after);
    if (Object.keys(set).length) actions.push({ type: "setRequestHeaders", headers: set });
    if (removed.length) actions.push({ type: "removeRequestHeaders", names: removed });
    return { rule: { id: "", name: ruleName("Edit", e.method, e.url), enabled: true, match, actions }, lost };
  }
  const headers: Record<string, string> = {};
  for (const h of e.after) {
    if (!MANAGED.has(h.name.toLowerCase())) headers[h.name] = h.value;
  }
  actions.push({ type: e.kind === "respond" ? "mock" : "override", status: e.status ?? 200, headers, body: e.body ?? "" });
  return { rule: { id: "", name: ruleName(e.kind === "respond" ? "Answer" : "Override", e.method, e.url), enabled: true, match, actions }, lost };
}

/** Headers a rule may not set: Loupe computes them for each hop. */
const MANAGED = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "content-length"]);

/** headerChanges lists the fields added or changed (last value wins) and the names no longer present. */
export function headerChanges(before: Field[], after: Field[]): { set: Record<string, string>; removed: string[] } {
  const old = new Map<string, string>();
  for (const h of before) old.set(h.name.toLowerCase(), h.value);
  const now = new Map<string, Field>();
  for (const h of after) if (h.name.trim()) now.set(h.name.trim().toLowerCase(), { name: h.name.trim(), value: h.value });
  const set: Record<string, string> = {};
  for (const [k, h] of now) {
    if (MANAGED.has(k) || k === "host") continue;
    if (old.get(k) !== h.value) set[h.name] = h.value;
  }
  const removed: string[] = [];
  const seen = new Set<string>();
  for (const h of before) {
    const k = h.name.toLowerCase();
    if (!now.has(k) && !MANAGED.has(k) && k !== "host" && !seen.has(k)) {
      removed.push(h.name);
      seen.add(k);
    }
  }
  return { set, removed };
}

function safeURL(s: string): URL | null {
  try {
    return new URL(s);
  } catch {
    return null;
  }
}

/**
 * problemsAt returns the messages for one field of one rule. field "" selects
 * the rule-level problems (no field, or a field no form control shows).
 */
export function problemsAt(problems: Problem[], ruleId: string, field: string): string[] {
  return problems.filter((p) => (p.ruleId === ruleId || p.ruleId === "" || ruleId === "") && p.field === field).map((p) => p.message);
}

/** Fields the form shows, so leftovers can be listed at the top. */
export function knownField(field: string): boolean {
  return /^(id|name|enabled|match(\.(methods|scheme|host|path|url|port))?|actions(\[\d+\](\.\w+)?)?)$/.test(field) || /^match\.methods\[\d+\]$/.test(field);
}
