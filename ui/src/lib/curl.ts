// "Copy as cURL": a command a person can paste into a POSIX shell.

import type { Field } from "../api/types";

/** Quotes s for a POSIX shell: single quotes, with ' written as '\''. */
export function shellQuote(s: string): string {
  if (s !== "" && /^[A-Za-z0-9_\/:=.,@%+-]+$/.test(s)) return s;
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

/** Headers curl computes itself or that would break a replay. */
const SKIP = new Set(["content-length", "host", "connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "upgrade"]);

export interface CurlInput {
  method: string;
  url: string;
  headers: Field[] | null | undefined;
  /** Request body as text, or null when there is none or it is binary. */
  body?: string | null;
  /** True when the body exists but is binary (written as a placeholder file). */
  binaryBody?: boolean;
}

export function toCurl(r: CurlInput): string {
  const parts = ["curl"];
  const method = r.method.toUpperCase();
  const hasBody = (r.body !== undefined && r.body !== null && r.body !== "") || r.binaryBody;
  if (method !== "GET" && !(method === "POST" && hasBody)) parts.push("-X", shellQuote(method));
  if (method === "HEAD") parts.splice(1, 2, "--head");
  parts.push(shellQuote(r.url));
  let compressed = false;
  for (const h of r.headers ?? []) {
    const name = h.name.toLowerCase();
    if (SKIP.has(name)) continue;
    if (name === "accept-encoding") {
      compressed = true;
    }
    parts.push("-H", shellQuote(`${h.name}: ${h.value}`));
  }
  if (r.binaryBody) {
    parts.push("--data-binary", "@request-body.bin");
  } else if (hasBody) {
    parts.push("--data-raw", shellQuote(r.body!));
  }
  if (compressed) parts.push("--compressed");
  return parts.join(" ");
}
