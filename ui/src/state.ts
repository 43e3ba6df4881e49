// The dashboard's state: signals shared by the components, and the actions
// that change them. The flow list itself lives in the Feed's FlowStore;
// `flowsVersion` tells views when it changed.

import { batch, signal } from "@preact/signals";
import { api, ApiError, type SessionView } from "./api/client";
import type { ActionSpec, AppState, Flow, FlowID, Problem, Rule, Session, Summary } from "./api/types";
import { followKey } from "./lib/presence";
import { Feed, type FeedStatus } from "./store/feed";
import type { SortDir, SortKey } from "./store/flowstore";

export type Page = "flows" | "sessions" | "rules" | "compose" | "modes";

/** pageOf maps the address's hash to a page. */
export function pageOf(hash: string): Page {
  switch (hash) {
    case "#sessions":
      return "sessions";
    case "#rules":
      return "rules";
    case "#compose":
      return "compose";
    case "#modes":
      return "modes";
  }
  return "flows";
}

export const page = signal<Page>(pageOf(location.hash));

/** Shows a page and puts it in the address. */
export function goTo(p: Page): void {
  page.value = p;
  history.replaceState(null, "", p === "flows" ? "#" : "#" + p);
}
export const feedStatus = signal<FeedStatus>("connecting");
export const flowsVersion = signal(0);
export const unauthorized = signal(false);

export const filterText = signal("");
export const filterError = signal<{ message: string; term?: string } | null>(null);
export const sort = signal<{ key: SortKey; dir: SortDir }>({ key: "id", dir: "asc" });

export const selectedId = signal<FlowID | null>(null);
export const detail = signal<Flow | null>(null);
export const detailOpen = signal(true);
/** The selected flow's ID when the capture answered that it no longer has it (deleted, cleared, evicted). */
export const detailGone = signal<FlowID | null>(null);

/** The state as last answered; empty until the first answer. */
export const appState = signal<Partial<AppState>>({});

/** The capture's sessions, as last fetched (the Sessions page and the session bar). */
export const sessions = signal<Session[]>([]);
/** The session the list shows: an ID, "all", or null for the recording one. */
export const viewSession = signal<SessionView>(null);
/** The session the list holds, as the server said (0: every session; -1: not known yet). */
export const listedSession = signal(-1);
/** A file being sent to the server (Open file), with the bytes sent so far. */
export const uploading = signal<{ name: string; sent: number; total: number } | null>(null);
export const rules = signal<Rule[]>([]);
export const ruleCounts = signal<Record<string, number>>({});
/** The rules' table of action types (GET /api/rules/actions), from which the editor builds its forms; empty until loaded. */
export const actionSpecs = signal<ActionSpec[]>([]);
let specsLoading: Promise<void> | null = null;

/** loadActionSpecs fetches the table of action types once (again after a failure). */
export function loadActionSpecs(): Promise<void> {
  if (actionSpecs.value.length) return Promise.resolve();
  specsLoading ??= api
    .ruleActions()
    .then((t) => {
      actionSpecs.value = t ?? [];
    })
    .catch((err) => reportError("Rule actions", err))
    .finally(() => (specsLoading = null));
  return specsLoading;
}

/** The rule being edited: a copy, with the server's problems from the last save. */
export const editing = signal<{ rule: Rule; isNew: boolean; problems: Problem[] } | null>(null);

export const toasts = signal<{ id: number; text: string; kind: "info" | "error" }[]>([]);
let toastSeq = 0;

export function toast(text: string, kind: "info" | "error" = "info"): void {
  const id = ++toastSeq;
  toasts.value = [...toasts.value.slice(-3), { id, text, kind }];
  setTimeout(() => (toasts.value = toasts.value.filter((t) => t.id !== id)), kind === "error" ? 6000 : 2500);
}

export function reportError(what: string, err: unknown): void {
  if (err instanceof ApiError && err.status === 401) {
    unauthorized.value = true;
    return;
  }
  toast(`${what}: ${err instanceof Error ? err.message : String(err)}`, "error");
}

let feed: Feed | null = null;

export function setFeed(f: Feed): void {
  feed = f;
}

export function getFeed(): Feed {
  if (!feed) throw new Error("feed not started");
  return feed;
}

export async function applyFilter(q: string): Promise<void> {
  filterText.value = q;
  try {
    await getFeed().setFilter(q);
    filterError.value = null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 400) {
      filterError.value = { message: err.message, term: err.data?.term };
    } else {
      reportError("Filter", err);
    }
  }
}

let detailReq = 0;

/** Selects a flow and loads its details. */
export function select(id: FlowID | null): void {
  if (selectedId.value === id) return;
  selectedId.value = id;
  void loadDetail();
}

/** The flow whose details are being fetched, if any. */
let detailLoading: FlowID | null = null;

export async function loadDetail(): Promise<void> {
  const id = selectedId.value;
  const n = ++detailReq;
  if (id === null) {
    detail.value = null;
    return;
  }
  detailLoading = id;
  try {
    const f = await api.flow(id);
    if (n === detailReq) {
      batch(() => {
        detail.value = f;
        detailGone.value = null;
      });
    }
  } catch (err) {
    if (n !== detailReq) return;
    if (err instanceof ApiError && err.status === 404) {
      // Gone from the capture: what was shown stays, marked as gone.
      batch(() => {
        if (detail.value?.id !== id) detail.value = null;
        detailGone.value = id;
      });
      return;
    }
    detail.value = null;
    reportError("Load flow", err);
  } finally {
    if (n === detailReq) detailLoading = null;
  }
}

/**
 * ensureDetail loads the selected flow's details when they are missing: a
 * flow selected before the capture could serve it (a replay is selected
 * as soon as it is sent; the durable capture writes it a moment later)
 * loads once its row arrives.
 */
export function ensureDetail(listed: boolean): void {
  const id = selectedId.value;
  if (id === null || !listed || detailLoading === id) return;
  if (detail.value?.id !== id) void loadDetail();
}

/** The list row (or the snapshot missing it) the shown details were last checked against: any change reloads them. */
let followed: { id: FlowID; key: string } | null = null;

/**
 * followDetail keeps the shown details true to the list: called with the
 * selected flow's row after every change of the list (undefined when the
 * list does not hold it) and the list's snapshot count, it reloads the
 * details when the row changed (state, status, size, rules, error,
 * breakpoint: what the badges and the overview show), when the row left
 * the list (the flow stopped matching the filter, or was deleted or
 * evicted: the reload tells which), and when a new snapshot of the list
 * still misses it (see followKey).
 */
export function followDetail(s: Summary | undefined, snapshot: number): void {
  const id = selectedId.value;
  const d = detail.value;
  if (id === null || !d || d.id !== id) return;
  const key = followKey(s, snapshot);
  if (followed?.id !== id) {
    followed = { id, key };
    // The row may already be newer than the details loaded with it.
    if (s && (s.state !== d.state || s.size !== d.responseBody.size || (s.status || 0) !== (d.response?.status ?? 0))) void loadDetail();
    return;
  }
  if (followed.key === key) return;
  followed = { id, key };
  void loadDetail();
}

export async function refreshState(): Promise<void> {
  try {
    appState.value = await api.state();
  } catch (err) {
    reportError("State", err);
  }
}

export async function refreshRules(): Promise<void> {
  try {
    const [rs, stats] = await Promise.all([api.rules(), api.ruleStats().catch(() => null)]);
    batch(() => {
      rules.value = rs ?? [];
      if (stats?.counts) ruleCounts.value = stats.counts;
    });
  } catch (err) {
    reportError("Rules", err);
  }
}

export async function refreshRuleCounts(): Promise<void> {
  try {
    const stats = await api.ruleStats();
    if (stats?.counts) ruleCounts.value = stats.counts;
  } catch {
    // Counts are a nicety; the list still works without them.
  }
}

export function isPaused(s: Partial<AppState>): boolean {
  if (typeof s.paused === "boolean") return s.paused;
  if (typeof s.recording === "boolean") return !s.recording;
  return false;
}

export async function refreshSessions(): Promise<void> {
  try {
    sessions.value = (await api.sessions()) ?? [];
  } catch (err) {
    reportError("Sessions", err);
  }
}

/** Shows a session's flows in the list (null: follow the recording session). */
export async function showSession(s: SessionView): Promise<void> {
  batch(() => {
    viewSession.value = s;
    select(null);
  });
  goTo("flows");
  try {
    await getFeed().setSession(s);
  } catch (err) {
    reportError("Load flows", err);
  }
}

/** Starts a new session, which records from now on; a list that follows the recording session switches to it. */
export async function startSession(name = ""): Promise<Session | null> {
  try {
    const s = await api.newSession(name);
    getFeed().recordingIs(s.id);
    toast(`Recording into the new session ${s.name}`);
    void refreshState();
    void refreshSessions();
    return s;
  } catch (err) {
    reportError("New session", err);
    return null;
  }
}

/** Opens a Loupe session file or a HAR as a new session, showing the upload's progress, then shows it. */
export async function openSessionFile(file: File): Promise<void> {
  uploading.value = { name: file.name, sent: 0, total: file.size };
  try {
    const s = await api.importSession(file, (sent, total) => (uploading.value = { name: file.name, sent, total }));
    toast(`Opened ${file.name}: ${s.flows.toLocaleString()} ${s.flows === 1 ? "flow" : "flows"}`);
    await refreshSessions();
    await showSession(s.id);
  } catch (err) {
    reportError("Open " + file.name, err);
  } finally {
    uploading.value = null;
  }
}

/** How many flows a session holds: the recording session's count comes from the live state, fresher than the session list. */
export function sessionFlows(s: Session): number {
  const rec = appState.value.session;
  return rec && rec.id === s.id ? rec.flows : s.flows;
}

/** The sessions as last fetched, the recording one's counts taken from the live state. */
export function freshSessions(): Session[] {
  const rec = appState.value.session;
  return sessions.value.map((s) => (rec && rec.id === s.id ? { ...s, flows: rec.flows, bytes: rec.bytes } : s));
}

/** The name of the session the list shows, for saying which one it is. */
export function listedName(): string {
  const id = listedSession.value;
  if (id === 0) return "All sessions";
  const s = sessions.value.find((x) => x.id === id) ?? (appState.value.session?.id === id ? appState.value.session : undefined);
  return s ? s.name : "";
}
