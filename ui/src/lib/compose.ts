// The compose editor's model: a draft request (from a flow, from a pasted
// cURL command, or blank), its query parameters as a table that keeps the
// untouched ones byte for byte, the body helpers, what POST /api/compose
// gets, and the history of sent requests kept in the browser.

import type { ComposeRequest, Field, Flow, FlowID } from "../api/types";

export interface Draft {
  method: string;
  url: string;
  headers: Field[];
  /** Body text; ignored while bodyBase64 is set. */
  body: string;
  /** A binary body, kept as it was captured: the editor does not show it as text. */
  bodyBase64?: string;
  /** The flow it was edited from. */
  from?: FlowID;
}

export const blankDraft = (): Draft => ({ method: "GET", url: "", headers: [], body: "" });

/** Fields the editor leaves out: Loupe computes them per hop, and Host comes from the URL. */
const COMPUTED = new Set(["host", "content-length", "connection", "keep-alive", "proxy-connection", "proxy-authorization", "transfer-encoding", "upgrade", "trailer"]);

/**
 * draftFromFlow opens a flow's request in the editor. body is the decoded
 * request body as text, or null when it is binary (then base64 holds it).
 * It returns the fields it dropped, for the editor to say so: the computed
 * ones, and Content-Encoding when the body is shown decoded.
 */
export function draftFromFlow(f: Flow, body: string | null, base64?: string): { draft: Draft; dropped: string[] } {
  const dropped: string[] = [];
  const headers: Field[] = [];
  const decoded = body !== null && !!f.requestBody.encoding;
  for (const h of f.request.headers ?? []) {
    const k = h.name.toLowerCase();
    if (COMPUTED.has(k) || (k === "te" && h.value.trim().toLowerCase() !== "trailers") || (k === "content-encoding" && decoded)) {
      dropped.push(h.name);
      continue;
    }
    headers.push({ name: h.name, value: h.value });
  }
  const draft: Draft = { method: f.request.method, url: f.request.url, headers, body: body ?? "", from: f.id };
  if (body === null && base64) draft.bodyBase64 = base64;
  return { draft, dropped };
}

/** Methods written in any case mean the standard one; others are sent as typed (methods are case-sensitive). */
const STANDARD_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]);

/** What POST /api/compose gets for a draft; empty header names are left out. */
export function composeRequestOf(d: Draft): ComposeRequest {
  const m = d.method.trim();
  const r: ComposeRequest = {
    method: STANDARD_METHODS.has(m.toUpperCase()) ? m.toUpperCase() : m || "GET",
    url: d.url.trim(),
    headers: d.headers.filter((h) => h.name.trim() !== "").map((h) => ({ name: h.name.trim(), value: h.value })),
  };
  if (d.bodyBase64 !== undefined) r.bodyBase64 = d.bodyBase64;
  else if (d.body !== "") r.body = d.body;
  if (d.from) r.from = d.from;
  return r;
}

// ---- query parameters ----

/** One query parameter: decoded for the table, with its text as written while it is untouched. */
export interface QueryParam {
  name: string;
  value: string;
  /** The parameter as it stands in the URL; dropped once the row is edited. */
  raw?: string;
}

function splitURL(url: string): { base: string; query: string | null; hash: string } {
  const h = url.indexOf("#");
  const hash = h >= 0 ? url.slice(h) : "";
  const rest = h >= 0 ? url.slice(0, h) : url;
  const q = rest.indexOf("?");
  return q >= 0 ? { base: rest.slice(0, q), query: rest.slice(q + 1), hash } : { base: rest, query: null, hash };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

/** queryParams reads the URL's query as a table. */
export function queryParams(url: string): QueryParam[] {
  const { query } = splitURL(url);
  if (!query) return [];
  return query
    .split("&")
    .filter((p) => p !== "")
    .map((raw) => {
      const eq = raw.indexOf("=");
      return eq < 0 ? { name: decode(raw), value: "", raw } : { name: decode(raw.slice(0, eq)), value: decode(raw.slice(eq + 1)), raw };
    });
}

/** Escapes a query name or value: what a form would, but spaces as %20. */
function encode(s: string): string {
  return encodeURIComponent(s).replace(/%2C/gi, ",").replace(/%3A/gi, ":").replace(/%2F/gi, "/").replace(/%40/gi, "@");
}

/** withQuery writes the table back into the URL; untouched rows keep their text. */
export function withQuery(url: string, params: QueryParam[]): string {
  const { base, hash } = splitURL(url);
  const parts = params.filter((p) => p.raw !== undefined || p.name !== "" || p.value !== "").map((p) => p.raw ?? (p.value === "" && p.name !== "" ? encode(p.name) : `${encode(p.name)}=${encode(p.value)}`));
  return base + (parts.length ? "?" + parts.join("&") : "") + hash;
}

// ---- body helpers ----

/** prettyJSON indents a JSON text; null when it is not JSON. */
export function prettyJSON(text: string): string | null {
  if (!text.trim()) return null;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return null;
  }
}

/** contentTypeOf returns the value of the draft's Content-Type field, or "". */
export function contentTypeOf(headers: Field[]): string {
  return headers.find((h) => h.name.trim().toLowerCase() === "content-type")?.value ?? "";
}

// ---- history ----

/** One sent request, as the history keeps it. */
export interface HistoryEntry {
  /** When it was sent (ms since the epoch). */
  at: number;
  /** The flow it became. */
  id: FlowID;
  method: string;
  url: string;
  headers: Field[];
  /** The body text; null when it was too long to keep (the flow still has it) or binary. */
  body: string | null;
  from?: FlowID;
}

/** StorageLike is the part of localStorage the history uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const HISTORY_KEY = "loupe.compose.history";
/** HISTORY_MAX entries are kept, newest first; HISTORY_BODY_MAX characters of body each. */
export const HISTORY_MAX = 50;
export const HISTORY_BODY_MAX = 64 * 1024;

export function loadHistory(st: StorageLike): HistoryEntry[] {
  try {
    const v = JSON.parse(st.getItem(HISTORY_KEY) ?? "[]");
    return Array.isArray(v) ? v.filter((e) => e && typeof e.url === "string" && typeof e.method === "string") : [];
  } catch {
    return [];
  }
}

/**
 * addHistory records a sent draft (newest first, at most HISTORY_MAX) and
 * returns the list. A body past HISTORY_BODY_MAX is not kept: the flow has
 * it. When the browser's storage is full, older entries give way.
 */
export function addHistory(st: StorageLike, d: Draft, id: FlowID, at: number): HistoryEntry[] {
  const body = d.bodyBase64 !== undefined || d.body.length > HISTORY_BODY_MAX ? null : d.body;
  const entry: HistoryEntry = { at, id, method: d.method, url: d.url, headers: d.headers.filter((h) => h.name.trim() !== ""), body };
  if (d.from) entry.from = d.from;
  let list = [entry, ...loadHistory(st)].slice(0, HISTORY_MAX);
  for (;;) {
    try {
      st.setItem(HISTORY_KEY, JSON.stringify(list));
      return list;
    } catch {
      if (list.length <= 1) return list;
      list = list.slice(0, Math.floor(list.length / 2));
    }
  }
}

export function clearHistory(st: StorageLike): void {
  st.removeItem(HISTORY_KEY);
}

/** draftFromHistory opens a history entry again (the body from the flow when it was not kept). */
export function draftFromHistory(e: HistoryEntry): Draft {
  return { method: e.method, url: e.url, headers: e.headers.map((h) => ({ ...h })), body: e.body ?? "", from: e.from };
}
