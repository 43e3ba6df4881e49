// Helpers for the rule editor: blank actions per type, rules prefilled from a
// flow ("Override this response", "Break on this") or from the edit of a held
// exchange ("Save as rule"), cleaning before save, and matching the server's
// field-level problems to form fields.

import type { Action, ActionSpec, Field, FieldSpec, Flow, Match, Problem, Rule } from "../api/types";
import { urlPort } from "./port";

/**
 * Keys the editor keeps on an action while it is edited and never sends:
 * `$src` names, per field group, the alternative the form shows (a body
 * source), `$empty` lists the grouped text fields the user explicitly wants
 * empty ("serve an empty body"). cleanAction drops them.
 */
export interface EditMarks {
  $src?: Record<string, string>;
  $empty?: string[];
}

/** specOf finds the table entry of an action type. */
export function specOf(specs: ActionSpec[], type: string): ActionSpec | undefined {
  return specs.find((s) => s.type === type);
}

/**
 * blankAction starts an action of a type from the table: an enum at its
 * first option, headers and names empty, an ungrouped text empty; numbers,
 * strings and the grouped alternatives (body sources) unset, whose meaning
 * the table's help gives (an override keeps the upstream status and body,
 * a block answers 403).
 */
export function blankAction(type: string, specs: ActionSpec[]): Action {
  const out: Action = { type };
  for (const f of specOf(specs, type)?.fields ?? []) {
    if (f.kind === "enum" && f.options?.length) out[f.name] = f.options[0];
    else if (f.kind === "headers") out[f.name] = {};
    else if (f.kind === "names") out[f.name] = [];
    else if (f.kind === "text" && !f.group) out[f.name] = "";
  }
  return out;
}

/**
 * changeType turns an action into another type: a blank one of the new
 * type that keeps the values of the fields both types share (a status, the
 * headers, the body).
 */
export function changeType(a: Action, type: string, specs: ActionSpec[]): Action {
  const out = blankAction(type, specs);
  for (const f of specOf(specs, type)?.fields ?? []) if (a[f.name] !== undefined) out[f.name] = a[f.name];
  const m = a as EditMarks;
  if (m.$src) (out as EditMarks).$src = { ...m.$src };
  if (m.$empty) (out as EditMarks).$empty = [...m.$empty];
  return out;
}

/** groupFields lists the fields of one group of a spec, in table order. */
export function groupFields(spec: ActionSpec, group: string): FieldSpec[] {
  return spec.fields.filter((f) => f.group === group);
}

/** hasValue says whether a field holds something cleanAction would send (an explicit empty text aside). */
function hasValue(f: FieldSpec, v: unknown): boolean {
  if (v === undefined || v === null) return false;
  switch (f.kind) {
    case "int":
      return typeof v === "number" && !Number.isNaN(v);
    case "bool":
      return v === true;
    case "headers":
      return typeof v === "object" && Object.keys(v as object).length > 0;
    case "names":
      return Array.isArray(v) && v.some((x) => String(x).trim() !== "");
    case "text":
      return v !== "";
    case "json":
      return typeof v === "object" || String(v).trim() !== "";
    default:
      return String(v).trim() !== "";
  }
}

/** Fields whose surrounding spaces are never meant (a path, a URL, a name); other strings are sent as typed. */
const TRIMMED = new Set(["url", "bodyFile", "bodyBase64", "dir", "name"]);

/** jsonValue sends a JSON field's text as the value it spells, or as typed when it is not JSON (the server names the problem). */
function jsonValue(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/**
 * selectedIn names the field of a group the form shows: the one the user
 * picked, else the one that holds a value (or is explicitly empty), else
 * the group's first field.
 */
export function selectedIn(a: Action, spec: ActionSpec, group: string): string {
  const fields = groupFields(spec, group);
  const m = a as EditMarks;
  const picked = m.$src?.[group];
  if (picked && fields.some((f) => f.name === picked)) return picked;
  const set = fields.find((f) => hasValue(f, a[f.name]) || (m.$empty ?? []).includes(f.name));
  return (set ?? fields[0])?.name ?? "";
}

/** isEmptyChosen says whether a grouped text field is to be sent empty ("serve an empty body"). */
export function isEmptyChosen(a: Action, name: string): boolean {
  return ((a as EditMarks).$empty ?? []).includes(name);
}

/**
 * cleanAction keeps only the fields the table lists for the action's type,
 * with values worth sending: strings dropped when empty (names, URLs and
 * paths trimmed; find and replace texts kept as typed), JSON parsed, unset
 * numbers and false flags dropped, empty headers and names dropped. Of a
 * group (the body sources) only the field the form shows is kept, and an
 * empty text there means "no body source" (an override then keeps the
 * upstream body) unless the user asked for an empty one. An ungrouped text
 * is sent as typed. A type the table does not know keeps its fields (the
 * server says what is wrong with it).
 */
export function cleanAction(a: Action, specs: ActionSpec[]): Action {
  const spec = specOf(specs, a.type);
  if (!spec) return stripMarks(a);
  const out: Action = { type: a.type };
  const chosen = new Map<string, string>();
  for (const f of spec.fields) if (f.group && !chosen.has(f.group)) chosen.set(f.group, selectedIn(a, spec, f.group));
  for (const f of spec.fields) {
    if (f.group && chosen.get(f.group) !== f.name) continue;
    const v = a[f.name];
    if (f.kind === "text") {
      if (typeof v !== "string") continue;
      if (v !== "" || !f.group || isEmptyChosen(a, f.name)) out[f.name] = v;
      continue;
    }
    if (!hasValue(f, v)) continue;
    if (f.kind === "names") out[f.name] = (v as unknown[]).map((x) => String(x).trim()).filter(Boolean);
    else if (f.kind === "json") out[f.name] = jsonValue(v);
    else if (typeof v === "string") out[f.name] = TRIMMED.has(f.name) ? v.trim() : v;
    else out[f.name] = v;
  }
  return out;
}

/** stripMarks drops the editor's own keys. */
function stripMarks(a: Action): Action {
  const out: Action = { type: a.type };
  for (const [k, v] of Object.entries(a)) if (!k.startsWith("$") && v !== undefined) out[k] = v;
  return out;
}

/**
 * forEditing prepares a stored rule for the editor: a grouped text field
 * stored empty (an explicit empty body) is marked as chosen, so saving it
 * unchanged keeps it.
 */
export function forEditing(r: Rule, specs: ActionSpec[]): Rule {
  const out: Rule = structuredClone(r);
  for (const a of out.actions) {
    const spec = specOf(specs, a.type);
    for (const f of spec?.fields ?? []) {
      if (f.group && f.kind === "text" && a[f.name] === "") (a as EditMarks).$empty = [...((a as EditMarks).$empty ?? []), f.name];
    }
  }
  return out;
}

/** cleanMatch trims a match and drops its empty fields. */
export function cleanMatch(m: Match): Match {
  const match: Match = {};
  const methods = (m.methods ?? []).map((x) => x.trim().toUpperCase()).filter(Boolean);
  if (methods.length) match.methods = methods;
  if (m.scheme) match.scheme = m.scheme;
  if (m.host?.trim()) match.host = m.host.trim();
  if (m.path?.trim()) match.path = m.path.trim();
  if (m.url?.trim()) match.url = m.url.trim();
  // A port the server refuses (0, 70000, 1.5) is sent as typed, so the
  // editor shows its problem; an empty field means any port.
  if (typeof m.port === "number" && !Number.isNaN(m.port)) match.port = m.port;
  return match;
}

/** matchesAll says whether a match has no field left, so the rule applies to all traffic. */
export function matchesAll(m: Match): boolean {
  return Object.keys(cleanMatch(m)).length === 0;
}

/**
 * cleanRule prepares a rule for the server. Without the table (not loaded)
 * the actions only lose the editor's own keys.
 */
export function cleanRule(r: Rule, specs?: ActionSpec[]): Rule {
  const actions = r.actions.map((a) => (specs ? cleanAction(a, specs) : stripMarks(a)));
  const out: Rule = { id: r.id, enabled: r.enabled, match: cleanMatch(r.match), actions };
  if (r.name?.trim()) out.name = r.name.trim();
  return out;
}

/**
 * newRule starts a rule in the editor. Made from a flow it matches that
 * flow's method, host, port and path and starts enabled; made from nothing
 * it would match all traffic, so it starts disabled.
 */
export function newRule(specs: ActionSpec[], from?: Flow | null): Rule {
  const type = specOf(specs, "override") ? "override" : (specs[0]?.type ?? "override");
  const actions = [blankAction(type, specs)];
  if (from) return { id: "", name: "", enabled: true, match: matchOf(from.request.method, from.request.url), actions };
  return { id: "", name: "", enabled: false, match: {}, actions };
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
  // No text (an empty or binary body): no body source, so the upstream body is kept.
  const action: Action = { type: "override", status: f.response?.status ?? 200, headers };
  if (bodyText) action.body = bodyText;
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
    actions: [{ type: "breakpoint", phase: "request", timeoutMs: 60000, onTimeout: "continue", hits: 0 }],
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
  // An empty body sets no body source: an override keeps the upstream body, a mock answers an empty one.
  const answer: Action = { type: e.kind === "respond" ? "mock" : "override", status: e.status ?? 200, headers };
  if (e.body) answer.body = e.body;
  actions.push(answer);
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
