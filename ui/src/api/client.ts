// Thin wrappers over the dashboard API (same origin; the token travels as the
// cookie set by opening /?token=T). Errors carry the server's JSON so callers
// can show a filter's bad term or a rule's field problems where they belong.

import type {
  AppState,
  BrowsersState,
  ComposeAnswer,
  ComposeRequest,
  Flow,
  FlowID,
  FlowPage,
  Held,
  HeldEdit,
  HostMapEntry,
  HostMapState,
  LaunchedBrowser,
  LaunchRequest,
  Problem,
  Rule,
  Summary,
} from "./types";

/** ApiError is a non-2xx answer, with the decoded JSON body when there was one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly data: { error?: string; term?: string; field?: string; problems?: Problem[] } | null,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: BodyInit | object): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    if (typeof body === "string" || body instanceof Blob || body instanceof ArrayBuffer || body instanceof FormData) {
      init.body = body as BodyInit;
    } else {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["Content-Type"] = "application/json";
    }
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const d = (data ?? null) as ApiError["data"];
    const msg = d?.error ?? (d?.problems ? "invalid rules" : text.trim() || res.statusText);
    throw new ApiError(res.status, msg, d);
  }
  return data as T;
}

export function flowsQuery(q: string, limit?: number, cursor?: FlowID): string {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  if (limit) p.set("limit", String(limit));
  if (cursor) p.set("cursor", String(cursor));
  const s = p.toString();
  return "/api/flows" + (s ? "?" + s : "");
}

export const api = {
  flows: (q: string, limit?: number, cursor?: FlowID) => request<FlowPage>("GET", flowsQuery(q, limit, cursor)),
  flow: (id: FlowID) => request<Flow>("GET", `/api/flows/${id}`),
  deleteFlow: (id: FlowID) => request<unknown>("DELETE", `/api/flows/${id}`),
  clear: () => request<unknown>("DELETE", "/api/flows"),
  replay: (id: FlowID) => request<{ id?: FlowID } | Summary | null>("POST", `/api/flows/${id}/replay`),
  importHar: (file: Blob) => request<unknown>("POST", "/api/flows/import", file),
  rules: () => request<Rule[] | null>("GET", "/api/rules"),
  replaceRules: (rs: Rule[]) => request<unknown>("PUT", "/api/rules", rs),
  addRule: (r: Rule) => request<Rule | null>("POST", "/api/rules", r),
  updateRule: (id: string, r: Rule) => request<unknown>("PUT", `/api/rules/${encodeURIComponent(id)}`, r),
  deleteRule: (id: string) => request<unknown>("DELETE", `/api/rules/${encodeURIComponent(id)}`),
  ruleStats: () => request<{ counts?: Record<string, number> } | null>("GET", "/api/rules/stats"),
  state: () => request<AppState>("GET", "/api/state"),
  setRecording: (on: boolean) => request<unknown>("POST", on ? "/api/recording/resume" : "/api/recording/pause"),
  compose: (r: ComposeRequest) => request<ComposeAnswer>("POST", "/api/compose", r),
  kill: (id: FlowID) => request<unknown>("POST", `/api/flows/${id}/kill`),
  held: () => request<Held[] | null>("GET", "/api/held"),
  /** One held exchange with its bodies whole (held/update may leave large ones out). */
  heldOne: (id: FlowID) => request<Held | null>("GET", `/api/held/${id}`),
  /** Releases a held exchange: continue (as it was), execute or respond (with edit), abort (optional status). */
  release: (id: FlowID, action: "continue" | "execute" | "respond" | "abort", body?: HeldEdit | { status: number }) =>
    request<unknown>("POST", `/api/held/${id}/${action}`, body ?? {}),
  releaseAll: (action: "continue-all" | "abort-all") => request<unknown>("POST", `/api/held/${action}`, {}),
  browsers: () => request<BrowsersState>("GET", "/api/browsers"),
  launchBrowser: (req: LaunchRequest) => request<LaunchedBrowser>("POST", "/api/browsers", req),
  closeBrowser: (id: number) => request<unknown>("DELETE", `/api/browsers/${id}`),
  hostMap: () => request<HostMapState>("GET", "/api/hostmap"),
  replaceHostMap: (entries: HostMapEntry[]) => request<HostMapState>("PUT", "/api/hostmap", { entries }),
};

/** URL of a body: decoded by default; raw wire bytes or the upstream variant on request. */
export function bodyURL(id: FlowID, side: "request" | "response", opts: { raw?: boolean; upstream?: boolean } = {}): string {
  const p = new URLSearchParams();
  if (opts.raw) p.set("raw", "1");
  if (opts.upstream) p.set("variant", "upstream");
  const s = p.toString();
  return `/api/flows/${id}/${side}/body` + (s ? "?" + s : "");
}

/** URL of a HAR export of the flows matching q. */
export function exportURL(q: string, secrets: boolean): string {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  if (secrets) p.set("secrets", "1");
  const s = p.toString();
  return "/api/flows/export.har" + (s ? "?" + s : "");
}
