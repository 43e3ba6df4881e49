// Helpers for the rule editor: blank actions per type, a rule prefilled from a
// flow ("Override this response"), cleaning before save, and matching the
// server's field-level problems to form fields.

import type { Action, ActionType, Flow, Problem, Rule } from "../api/types";
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
  const u = safeURL(f.request.url);
  const headers: Record<string, string> = {};
  for (const h of f.response?.headers ?? []) {
    if (KEEP_HEADERS.has(h.name.toLowerCase())) headers[h.name] = h.value;
  }
  const path = u ? u.pathname + u.search : "";
  const action: Action = { type: "override", status: f.response?.status ?? 200, headers, body: bodyText ?? "" };
  return {
    id: "",
    name: `Override ${f.request.method} ${u?.hostname ?? ""}${path}`.slice(0, 120),
    enabled: true,
    match: {
      methods: [f.request.method],
      host: u?.hostname ?? "",
      port: urlPort(f.request.url),
      // Globs treat * and ? specially; an exact path with ? in its query
      // still matches itself (? is one char).
      path,
    },
    actions: [action],
  };
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
