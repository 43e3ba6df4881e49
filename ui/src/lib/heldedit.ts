// The editor of a held exchange: its message as a form (method, URL, status,
// headers, body) or as raw HTTP text, and the edit sent on release, which
// names only what changed ("fields left out stay as they were").

import type { Field, Held, HeldEdit } from "../api/types";

export type Phase = "request" | "response";

/** MessageDraft is a held message being edited. */
export interface MessageDraft {
  method: string;
  url: string;
  status: number;
  headers: Field[];
  /** The body as text; unused while bodyBase64 is set. */
  body: string;
  /** A binary body: passed on as it is, not editable as text. */
  bodyBase64?: string;
  /** The body was longer than Loupe holds: it streams through unedited. */
  truncated: boolean;
}

export function draftOfHeld(h: Held): MessageDraft {
  const m = h.phase === "request" ? h.request : h.response;
  const d: MessageDraft = {
    method: h.request?.method ?? "",
    url: h.request?.url ?? "",
    status: h.response?.status ?? 200,
    headers: (m?.headers ?? []).map((f) => ({ name: f.name, value: f.value })),
    body: m?.body ?? "",
    // A body the list left out (bodyOmitted) cannot be edited until it has come.
    truncated: !!m?.truncated || !!m?.bodyOmitted,
  };
  if (m?.bodyBase64 !== undefined && m.body === undefined) d.bodyBase64 = m.bodyBase64;
  return d;
}

/** bodyEditable says whether the body can be edited as text. */
export function bodyEditable(d: MessageDraft): boolean {
  return !d.truncated && d.bodyBase64 === undefined;
}

const sameFields = (a: Field[], b: Field[]) => a.length === b.length && a.every((f, i) => f.name === b[i].name && f.value === b[i].value);
const clean = (hs: Field[]) => hs.filter((h) => h.name.trim() !== "").map((h) => ({ name: h.name.trim(), value: h.value }));

/** editOf is the edit to send with execute: the fields of now that differ from orig. */
export function editOf(orig: MessageDraft, now: MessageDraft, phase: Phase): HeldEdit {
  const e: HeldEdit = {};
  if (phase === "request") {
    if (now.method.trim() && now.method.trim() !== orig.method) e.method = now.method.trim();
    if (now.url.trim() && now.url.trim() !== orig.url) e.url = now.url.trim();
  } else if (now.status !== orig.status) {
    e.status = now.status;
  }
  const hs = clean(now.headers);
  if (!sameFields(hs, orig.headers)) e.headers = hs;
  if (bodyEditable(orig) && now.body !== orig.body) e.body = now.body;
  return e;
}

/**
 * withURL changes a request draft's URL, and its Host field with it while
 * that field named the old URL's host (a request's Host is its URL's).
 */
export function withURL(d: MessageDraft, url: string): MessageDraft {
  const hostOf = (u: string) => {
    try {
      return new URL(u).host;
    } catch {
      return null;
    }
  };
  const was = hostOf(d.url);
  const now = hostOf(url);
  const headers = d.headers.map((h) => (h.name.toLowerCase() === "host" && was !== null && now !== null && h.value.toLowerCase() === was.toLowerCase() ? { name: h.name, value: now } : h));
  return { ...d, url, headers };
}

/** respondOf is the answer sent with respond (request phase): a whole response. */
export function respondOf(r: { status: number; headers: Field[]; body: string }): HeldEdit {
  return { status: r.status, headers: clean(r.headers), body: r.body };
}

/**
 * toRaw writes a message as HTTP/1 text: "METHOD URL" or "STATUS" first,
 * then the fields, a blank line and the body (a binary or cut body as a
 * placeholder line that fromRaw leaves alone).
 */
export function toRaw(d: MessageDraft, phase: Phase): string {
  const first = phase === "request" ? `${d.method} ${d.url}` : `HTTP/1.1 ${d.status}`;
  const lines = [first, ...d.headers.map((h) => `${h.name}: ${h.value}`)];
  return lines.join("\n") + "\n\n" + (bodyEditable(d) ? d.body : BODY_KEPT);
}

/** BODY_KEPT stands for a body the raw text cannot hold; it is sent unchanged. */
export const BODY_KEPT = "[body not editable here: sent unchanged]";

/**
 * fromRaw reads toRaw's text back into a draft based on base (which gives
 * what the text cannot: a binary body). It throws an Error naming the line
 * it cannot read.
 */
export function fromRaw(text: string, phase: Phase, base: MessageDraft): MessageDraft {
  const norm = text.replace(/\r\n/g, "\n");
  const blank = norm.indexOf("\n\n");
  const head = blank >= 0 ? norm.slice(0, blank) : norm.replace(/\n$/, "");
  const body = blank >= 0 ? norm.slice(blank + 2) : "";
  const lines = head.split("\n");
  const d: MessageDraft = { ...base, headers: [] };
  const first = lines[0]?.trim() ?? "";
  if (phase === "request") {
    const m = /^(\S+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/.exec(first);
    if (!m) throw new Error(`line 1: want "METHOD URL", got ${JSON.stringify(first)}`);
    d.method = m[1];
    d.url = m[2];
  } else {
    const m = /^(?:HTTP\/\d(?:\.\d)?\s+)?(\d{3})(?:\s.*)?$/.exec(first);
    if (!m) throw new Error(`line 1: want a status such as "HTTP/1.1 200", got ${JSON.stringify(first)}`);
    d.status = Number(m[1]);
  }
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`line ${i + 1}: want "Name: value", got ${JSON.stringify(line)}`);
    d.headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  if (bodyEditable(base)) d.body = body;
  else if (body.trim() !== BODY_KEPT && body.trim() !== "") throw new Error("the body cannot be edited here (binary, or longer than Loupe holds): leave its placeholder");
  return d;
}
