// Parsing for the detail pane's tables: a URL's query, a form body, a
// multipart body's parts, the request's cookies and the response's
// Set-Cookie headers. Pure functions over strings and bytes; none of them
// throws: malformed input gives what can be read, marked, never an error.

import type { Field } from "../api/types";

/** One name and value, decoded, in the order they came; repeated names stay. */
export interface Param {
  name: string;
  value: string;
  /** The pair had no "=" ("?flag"): value is "". */
  bare?: boolean;
  /** A percent escape could not be decoded: the text is shown as it was sent. */
  malformed?: boolean;
}

/** decodePart undoes form encoding ("+" is a space, %XX escapes); a bad escape leaves the text as sent. */
function decodePart(s: string): { text: string; ok: boolean } {
  const plus = s.replace(/\+/g, " ");
  try {
    return { text: decodeURIComponent(plus), ok: true };
  } catch {
    return { text: plus, ok: false };
  }
}

/** parseParams reads an application/x-www-form-urlencoded string (a query without its "?"). */
export function parseParams(text: string): Param[] {
  const out: Param[] = [];
  if (!text) return out;
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? "" : pair.slice(eq + 1);
    const n = decodePart(rawName);
    const v = decodePart(rawValue);
    const p: Param = { name: n.text, value: v.text };
    if (eq < 0) p.bare = true;
    if (!n.ok || !v.ok) p.malformed = true;
    out.push(p);
  }
  return out;
}

/** queryParams reads the query of a URL (absolute or not); the fragment is not part of it. */
export function queryParams(url: string): Param[] {
  const q = url.indexOf("?");
  if (q < 0) return [];
  let query = url.slice(q + 1);
  const hash = query.indexOf("#");
  if (hash >= 0) query = query.slice(0, hash);
  return parseParams(query);
}

/** isForm reports whether a content type is application/x-www-form-urlencoded. */
export function isForm(contentType: string): boolean {
  return mediaType(contentType) === "application/x-www-form-urlencoded";
}

/** mediaType is the lower-case type/subtype of a Content-Type value. */
export function mediaType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

/** headerParams reads the parameters of a header value (`type; a=1; b="x y"`), names lower-cased. */
export function headerParams(value: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /;\s*([^\s=;]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]*)/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const name = m[1].toLowerCase();
    const v = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : m[2].trim();
    if (!out.has(name)) out.set(name, v);
  }
  return out;
}

/** multipartBoundary returns the boundary of a multipart/form-data content type, or null. */
export function multipartBoundary(contentType: string): string | null {
  if (mediaType(contentType) !== "multipart/form-data") return null;
  const b = headerParams(contentType).get("boundary");
  return b ? b : null;
}

/** One part of a multipart/form-data body. */
export interface Part {
  name: string;
  /** The file's name, when the part is a file (even an empty one: filename=""). */
  filename?: string;
  /** The part's Content-Type ("" when it has none: text/plain). */
  contentType: string;
  /** Bytes of the part's content. */
  size: number;
  /** The value as text, for a part that is not a file and is valid UTF-8 text of at most MAX_TEXT bytes. */
  text?: string;
}

/** The parts of a multipart body, and why reading stopped early, if it did. */
export interface Multipart {
  parts: Part[];
  /** Says what was wrong ("no closing boundary", "part 2 has no blank line after its headers"). */
  problem?: string;
}

/** MAX_TEXT bounds a value shown as text. */
export const MAX_TEXT = 64 << 10;

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const n = needle.length;
  if (n === 0) return from;
  const first = needle[0];
  outer: for (let i = from; i + n <= hay.length; i++) {
    if (hay[i] !== first) continue;
    for (let j = 1; j < n; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const latin1 = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
};

/**
 * multipartParts lists the parts of a multipart/form-data body with the
 * given boundary (RFC 7578). A body cut short (the capture cap) or broken
 * gives the parts read before the break and says what was wrong.
 */
export function multipartParts(body: Uint8Array, boundary: string): Multipart {
  const enc = new TextEncoder();
  const delim = enc.encode("--" + boundary);
  const parts: Part[] = [];
  let at = indexOf(body, delim, 0);
  if (at < 0) return { parts, problem: "the boundary does not occur in the body" };
  const next = enc.encode("\r\n--" + boundary);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  for (let n = 1; ; n++) {
    at += delim.length;
    // "--" after a delimiter closes the body.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return { parts };
    // The rest of the delimiter line (transport padding) up to CRLF.
    const eol = indexOf(body, enc.encode("\r\n"), at);
    if (eol < 0) return { parts, problem: "no closing boundary" };
    // The headers end at a blank line; a part with none has it right
    // after the delimiter line (the search starts at that line's CRLF).
    const blank = indexOf(body, enc.encode("\r\n\r\n"), eol);
    if (blank < 0) return { parts, problem: `part ${n} has no blank line after its headers` };
    const head = latin1(body.subarray(eol + 2, blank));
    const start = blank + 4;
    const end = indexOf(body, next, start);
    const stop = end < 0 ? body.length : end;
    const part: Part = { name: "", contentType: "", size: stop - start };
    for (const line of head.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const hn = line.slice(0, colon).trim().toLowerCase();
      const hv = line.slice(colon + 1).trim();
      if (hn === "content-type") part.contentType = hv;
      if (hn === "content-disposition") {
        const ps = headerParams(hv);
        part.name = utf8Of(ps.get("name") ?? "");
        const fn = ps.get("filename*") ?? ps.get("filename");
        if (fn !== undefined) part.filename = fn.startsWith("UTF-8''") ? safeDecode(fn.slice(7)) : utf8Of(fn);
      }
    }
    if (part.filename === undefined && part.size <= MAX_TEXT && (!part.contentType || mediaType(part.contentType).startsWith("text/"))) {
      try {
        part.text = utf8.decode(body.subarray(start, stop));
      } catch {
        // Not UTF-8: listed with its size only.
      }
    }
    parts.push(part);
    if (end < 0) return { parts, problem: "no closing boundary" };
    at = end + 2; // at the "--" of the next delimiter
  }
}

/** utf8Of reads a header parameter that arrived as UTF-8 bytes (read as Latin-1). */
function utf8Of(s: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff));
  } catch {
    return s;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** requestCookies reads every Cookie header of a request as name/value pairs, in order. */
export function requestCookies(headers: Field[] | null | undefined): Param[] {
  const out: Param[] = [];
  for (const h of headers ?? []) {
    if (h.name.toLowerCase() !== "cookie") continue;
    for (const raw of h.value.split(";")) {
      const pair = raw.trim();
      if (!pair) continue;
      const eq = pair.indexOf("=");
      if (eq < 0) {
        // A pair without "=" is a value with an empty name (as browsers read it).
        out.push({ name: "", value: pair, bare: true });
        continue;
      }
      out.push({ name: pair.slice(0, eq).trim(), value: unquote(pair.slice(eq + 1).trim()) });
    }
  }
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** One Set-Cookie header, its attributes read (RFC 6265 section 5.2). */
export interface SetCookie {
  name: string;
  value: string;
  domain?: string;
  path?: string;
  expires?: string;
  /** Max-Age in seconds; a value that is not a number stays in `other`. */
  maxAge?: number;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: string;
  partitioned: boolean;
  /** Attributes Loupe does not know, or could not read, as sent. */
  other: string[];
  /** The header had no "name=value" first: the browser ignores it. */
  malformed?: boolean;
}

/** setCookies reads every Set-Cookie header of a response, in order. */
export function setCookies(headers: Field[] | null | undefined): SetCookie[] {
  const out: SetCookie[] = [];
  for (const h of headers ?? []) {
    if (h.name.toLowerCase() !== "set-cookie") continue;
    const [first, ...attrs] = h.value.split(";");
    const eq = first.indexOf("=");
    const c: SetCookie = { name: "", value: "", secure: false, httpOnly: false, partitioned: false, other: [] };
    if (eq < 0) {
      c.value = first.trim();
      c.malformed = true;
    } else {
      c.name = first.slice(0, eq).trim();
      c.value = unquote(first.slice(eq + 1).trim());
      if (!c.name && !c.value) c.malformed = true;
    }
    for (const a of attrs) {
      const t = a.trim();
      if (!t) continue;
      const aeq = t.indexOf("=");
      const an = (aeq < 0 ? t : t.slice(0, aeq)).trim().toLowerCase();
      const av = aeq < 0 ? "" : t.slice(aeq + 1).trim();
      switch (an) {
        case "domain":
          c.domain = av.replace(/^\./, "");
          break;
        case "path":
          c.path = av;
          break;
        case "expires":
          c.expires = av;
          break;
        case "max-age":
          if (/^-?\d+$/.test(av)) c.maxAge = Number(av);
          else c.other.push(t);
          break;
        case "secure":
          c.secure = true;
          break;
        case "httponly":
          c.httpOnly = true;
          break;
        case "samesite":
          c.sameSite = av;
          break;
        case "partitioned":
          c.partitioned = true;
          break;
        default:
          c.other.push(t);
      }
    }
    out.push(c);
  }
  return out;
}

/** expiryOf says when a Set-Cookie expires, in words: Max-Age wins over Expires (RFC 6265). */
export function expiryOf(c: SetCookie): string {
  if (c.maxAge !== undefined) return c.maxAge <= 0 ? "deleted (Max-Age " + c.maxAge + ")" : `Max-Age ${c.maxAge}s`;
  if (c.expires !== undefined) return c.expires;
  return "session";
}
