// The dashboard's state: signals shared by the components, and the actions
// that change them. The flow list itself lives in the Feed's FlowStore;
// `flowsVersion` tells views when it changed.

import { batch, signal } from "@preact/signals";
import { api, ApiError } from "./api/client";
import type { AppState, Flow, FlowID, Problem, Rule } from "./api/types";
import { Feed, type FeedStatus } from "./store/feed";
import type { SortDir, SortKey } from "./store/flowstore";

export type Page = "flows" | "rules" | "compose" | "modes";

/** The page a location hash names. */
export function pageOf(hash: string): Page {
  return hash === "#rules" ? "rules" : hash === "#compose" ? "compose" : hash === "#modes" ? "modes" : "flows";
}

export const page = signal<Page>(pageOf(location.hash));
export const feedStatus = signal<FeedStatus>("connecting");
export const flowsVersion = signal(0);
export const unauthorized = signal(false);

export const filterText = signal("");
export const filterError = signal<{ message: string; term?: string } | null>(null);
export const sort = signal<{ key: SortKey; dir: SortDir }>({ key: "id", dir: "asc" });

export const selectedId = signal<FlowID | null>(null);
export const detail = signal<Flow | null>(null);
export const detailOpen = signal(true);

export const appState = signal<AppState>({});
export const rules = signal<Rule[]>([]);
export const ruleCounts = signal<Record<string, number>>({});

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

export async function loadDetail(): Promise<void> {
  const id = selectedId.value;
  const n = ++detailReq;
  if (id === null) {
    detail.value = null;
    return;
  }
  try {
    const f = await api.flow(id);
    if (n === detailReq) detail.value = f;
  } catch (err) {
    if (n !== detailReq) return;
    detail.value = null;
    if (err instanceof ApiError && err.status === 404) return;
    reportError("Load flow", err);
  }
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

export function isPaused(s: AppState): boolean {
  if (typeof s.paused === "boolean") return s.paused;
  if (typeof s.recording === "boolean") return !s.recording;
  return false;
}
