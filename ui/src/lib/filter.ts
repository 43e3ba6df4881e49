// Client-side help for the server's filter language (web/filter): the key
// reference shown under the filter bar, and the quick toggles, which only
// edit the query text; the server does all the matching.

export interface KeyHelp {
  key: string;
  example: string;
  text: string;
}

export const FILTER_KEYS: KeyHelp[] = [
  { key: "", example: "api/v1", text: "text without a key matches anywhere in the URL" },
  { key: "method", example: "method:POST,PUT", text: "request method; commas mean any of" },
  { key: "status", example: "status:4xx", text: "response status: a code (404) or a class (4xx)" },
  { key: "host", example: "host:*.example.com", text: "host without port; * any run (dots too), ? one character, \\ escapes (as in rules)" },
  { key: "path", example: "path:/v1/*", text: "path and query; * may cross /" },
  { key: "port", example: "port:>8000", text: "port the URL addresses (80 for http, 443 for https when none is written): 8080, >8000, <=1024, 8000-9000" },
  { key: "duration", example: "duration:>1s", text: "total time of a finished flow (flows in flight have none): >1s, <200ms, >=1.5s, 100ms-2s; a bare number is ms" },
  { key: "size", example: "size:>10kb", text: "response body size as transferred: >10kb, <=512, 1mb-5mb (kb = 1024 bytes)" },
  { key: "type", example: "type:json", text: "part of the response Content-Type" },
  { key: "header", example: "header:content-type=*json*", text: "a request or response header with this name; =glob also matches its value" },
  { key: "reqheader", example: "reqheader:authorization", text: "like header:, in the request only" },
  { key: "resheader", example: "resheader:set-cookie", text: "like header:, in the response only" },
  { key: "body", example: 'body:"user id"', text: "text in the request or response body (slower)" },
  { key: "rule", example: "rule:mock-1", text: "touched by this rule; rule: alone means any rule" },
  { key: "error", example: "error:refused", text: "failed flows (gRPC calls with a status other than OK too) whose error or status says this; error: alone, any failure" },
  { key: "ws", example: "ws:", text: "WebSocket flows" },
  { key: "kind", example: "kind:tunnel,tls-error", text: "CONNECT tunnels Loupe did not decrypt (tunnel) and clients that broke off the TLS handshake (tls-error); -kind:tunnel hides them, kind:http keeps only requests" },
  { key: "grpc", example: "grpc:NOT_FOUND", text: "gRPC calls with this status (a name or a number: grpc:5); grpc:error, any status but OK; grpc: alone, every gRPC call" },
  { key: "marked", example: "marked:", text: "flows you marked (m in the list); -marked: the others" },
  { key: "color", example: "color:red", text: "flows you coloured red, orange, yellow, green, blue or purple; color: alone, any colour" },
  { key: "comment", example: "comment:retry", text: "flows whose comment contains this; comment: alone, any comment" },
  { key: "composed", example: "composed:", text: "requests you wrote or edited and sent from the dashboard; composed:42, those edited from flow 42" },
  { key: "replay", example: "replay:42", text: "replays of flow 42; replay: alone, every replay" },
];

export const FILTER_SYNTAX =
  'Terms separated by spaces must all match; "or" (or |) between them means either, and binds looser: status:404 or status:500. Parentheses group: (host:a.com or host:b.com) -method:OPTIONS. Prefix - negates a term or a group. Quote values with spaces or ( ) | ("a b"), and "or" to search for the word.';

/** A quick toggle: a term it adds or removes; toggles of one group replace each other. */
export interface Toggle {
  label: string;
  term: string;
  group: string;
}

export const TOGGLES: Toggle[] = [
  { label: "JSON", term: "type:json", group: "type" },
  { label: "HTML", term: "type:html", group: "type" },
  { label: "JS", term: "type:javascript", group: "type" },
  { label: "CSS", term: "type:css", group: "type" },
  { label: "Images", term: "type:image", group: "type" },
  { label: "Errors", term: "error:", group: "error" },
  { label: "WS", term: "ws:", group: "ws" },
  { label: "Rules", term: "rule:", group: "rule" },
  { label: "Tunnels", term: "kind:tunnel,tls-error", group: "kind" },
  { label: "Marked", term: "marked:", group: "marked" },
];

/** Splits a query into terms the way the server does (spaces outside quotes). */
export function splitTerms(q: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inQuote = false;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (inQuote && c === "\\" && i + 1 < q.length) {
      cur += c + q[++i];
      continue;
    }
    if (c === '"') inQuote = !inQuote;
    if (!inQuote && /\s/.test(c)) {
      if (cur) out.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

export function hasTerm(q: string, term: string): boolean {
  const t = term.toLowerCase();
  return splitTerms(q).some((x) => x.toLowerCase() === t);
}

/** Toggles t in q: removes it if present, else adds it and drops the other terms of its group. */
export function toggleTerm(q: string, t: Toggle, all: Toggle[] = TOGGLES): string {
  const terms = splitTerms(q);
  const low = t.term.toLowerCase();
  if (terms.some((x) => x.toLowerCase() === low)) {
    return terms.filter((x) => x.toLowerCase() !== low).join(" ");
  }
  const sameGroup = new Set(all.filter((o) => o.group === t.group).map((o) => o.term.toLowerCase()));
  return [...terms.filter((x) => !sameGroup.has(x.toLowerCase())), t.term].join(" ");
}

/** Builds a filter term, quoting the value when it needs it. */
export function term(key: string, value: string): string {
  if (value === "" || /[\s"]/.test(value)) return `${key}:"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  return `${key}:${value}`;
}
