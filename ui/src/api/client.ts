// Thin wrappers over the dashboard API (same origin; the token travels as the
// cookie set by opening /?token=T). Errors carry the server's JSON so callers
// can show a filter's bad term or a rule's field problems where they belong.

import type {
  AbortRequest,
  ActionSpec,
  AnnotationPatch,
  AppState,
  BrowsersState,
  ComposeAnswer,
  ComposeRequest,
  ErrorBody,
  Flow,
  FlowID,
  FlowPage,
  FlowTree,
  Held,
  HeldEdit,
  HostMapEntry,
  HostMapRequest,
  HostMapState,
  ImportAnswer,
  LaunchedBrowser,
  LaunchRequest,
  NewSessionRequest,
  ReleasedAnswer,
  ReplayAnswer,
  Rule,
  RuleStats,
  Session,
  Summary,
  SessionID,
  SessionPatch,
} from "./types";

/** ApiError is a non-2xx answer, with the decoded JSON body when there was one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly data: Partial<ErrorBody> | null,
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

/** Which session a list shows: one by ID, every one, or (null) the recording one. */
export type SessionView = SessionID | "all" | null;

export function flowsQuery(q: string, limit?: number, cursor?: FlowID, session: SessionView = null): string {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  if (limit) p.set("limit", String(limit));
  if (cursor) p.set("cursor", String(cursor));
  if (session !== null) p.set("session", String(session));
  const s = p.toString();
  return "/api/flows" + (s ? "?" + s : "");
}

function parseBody(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * upload POSTs a file with XMLHttpRequest, which (unlike fetch) reports the
 * upload's progress: onProgress(sent, total) as the bytes leave.
 */
export function upload<T>(path: string, file: Blob, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      const data = parseBody(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data as T);
        return;
      }
      const d = (data ?? null) as ApiError["data"];
      reject(new ApiError(xhr.status, d?.error ?? (xhr.responseText.trim() || xhr.statusText), d));
    };
    xhr.onerror = () => reject(new ApiError(0, "the upload failed (connection lost?)", null));
    xhr.send(file);
  });
}

export const api = {
  flows: (q: string, limit?: number, cursor?: FlowID, session: SessionView = null) => request<FlowPage>("GET", flowsQuery(q, limit, cursor, session)),
  flow: (id: FlowID) => request<Flow>("GET", `/api/flows/${id}`),
  /** Children of one node of the capture's structure (no host: the hosts). */
  tree: (q: string, node: { host?: string; prefix?: string }, session: SessionView = null) => {
    const p = new URLSearchParams({ q });
    if (node.host !== undefined) p.set("host", node.host);
    if (node.prefix) p.set("prefix", node.prefix);
    if (session !== null) p.set("session", String(session));
    return request<FlowTree>("GET", "/api/tree?" + p.toString());
  },
  deleteFlow: (id: FlowID) => request<unknown>("DELETE", `/api/flows/${id}`),
  /** Changes a flow's mark, colour or comment; answers its new summary. */
  annotate: (id: FlowID, patch: AnnotationPatch) => request<Summary>("PATCH", `/api/flows/${id}`, patch),
  /** Clears one session's flows, or with "all" every flow (those of pinned sessions stay in the durable capture). */
  clear: (session: SessionID | "all") => request<unknown>("DELETE", "/api/flows" + (session === "all" ? "" : `?session=${session}`)),
  sessions: () => request<Session[] | null>("GET", "/api/sessions"),
  newSession: (name = "") => request<Session>("POST", "/api/sessions", (name ? { name } : {}) satisfies NewSessionRequest),
  updateSession: (id: SessionID, patch: SessionPatch) => request<Session>("PATCH", `/api/sessions/${id}`, patch),
  deleteSession: (id: SessionID) => request<unknown>("DELETE", `/api/sessions/${id}`),
  /** Opens a file as a new session: a session file keeps the name saved in it, a HAR is named after the file. */
  importSession: (file: File, onProgress: (sent: number, total: number) => void) =>
    upload<Session>("/api/sessions/import" + (file.name.endsWith(".loupe") ? "" : "?name=" + encodeURIComponent(file.name)), file, onProgress),
  replay: (id: FlowID) => request<ReplayAnswer>("POST", `/api/flows/${id}/replay`),
  /** Imports a HAR into the recording session; onProgress follows the upload (the server's reading shows in the state's imports). */
  importHar: (file: Blob, onProgress: (sent: number, total: number) => void = () => {}) => upload<ImportAnswer>("/api/flows/import", file, onProgress),
  rules: () => request<Rule[] | null>("GET", "/api/rules"),
  replaceRules: (rs: Rule[]) => request<unknown>("PUT", "/api/rules", rs),
  addRule: (r: Rule) => request<Rule | null>("POST", "/api/rules", r),
  updateRule: (id: string, r: Rule) => request<unknown>("PUT", `/api/rules/${encodeURIComponent(id)}`, r),
  deleteRule: (id: string) => request<unknown>("DELETE", `/api/rules/${encodeURIComponent(id)}`),
  ruleStats: () => request<RuleStats>("GET", "/api/rules/stats"),
  ruleActions: () => request<ActionSpec[] | null>("GET", "/api/rules/actions"),
  state: () => request<AppState>("GET", "/api/state"),
  setRecording: (on: boolean) => request<unknown>("POST", on ? "/api/recording/resume" : "/api/recording/pause"),
  compose: (r: ComposeRequest) => request<ComposeAnswer>("POST", "/api/compose", r),
  kill: (id: FlowID) => request<unknown>("POST", `/api/flows/${id}/kill`),
  held: () => request<Held[] | null>("GET", "/api/held"),
  /** One held exchange with its bodies whole (held/update may leave large ones out). */
  heldOne: (id: FlowID) => request<Held | null>("GET", `/api/held/${id}`),
  /** Releases a held exchange: continue (as it was), execute or respond (with edit), abort (optional status). */
  release: (id: FlowID, action: "continue" | "execute" | "respond" | "abort", body?: HeldEdit | AbortRequest) =>
    request<unknown>("POST", `/api/held/${id}/${action}`, body ?? {}),
  releaseAll: (action: "continue-all" | "abort-all") => request<ReleasedAnswer>("POST", `/api/held/${action}`, {}),
  browsers: () => request<BrowsersState>("GET", "/api/browsers"),
  launchBrowser: (req: LaunchRequest) => request<LaunchedBrowser>("POST", "/api/browsers", req),
  closeBrowser: (id: number) => request<unknown>("DELETE", `/api/browsers/${id}`),
  hostMap: () => request<HostMapState>("GET", "/api/hostmap"),
  replaceHostMap: (entries: HostMapEntry[]) => request<HostMapState>("PUT", "/api/hostmap", { entries } satisfies HostMapRequest),
};

/** URL of a body: decoded by default; raw wire bytes or the upstream variant on request. */
export function bodyURL(id: FlowID, side: "request" | "response", opts: { raw?: boolean; upstream?: boolean } = {}): string {
  const p = new URLSearchParams();
  if (opts.raw) p.set("raw", "1");
  if (opts.upstream) p.set("variant", "upstream");
  const s = p.toString();
  return `/api/flows/${id}/${side}/body` + (s ? "?" + s : "");
}

/** URL of a HAR export of the flows matching q, of one session (0 or absent: every session). */
export function exportURL(q: string, secrets: boolean, session = 0): string {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  if (secrets) p.set("secrets", "1");
  if (session > 0) p.set("session", String(session));
  const s = p.toString();
  return "/api/flows/export.har" + (s ? "?" + s : "");
}

/** URL of a session's file (Loupe's own format; opens again with Open file). */
export function sessionExportURL(id: SessionID): string {
  return `/api/sessions/${id}/export`;
}
