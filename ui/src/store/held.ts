// The queue of exchanges a breakpoint holds, as the dashboard keeps it: the
// server sends the whole list (GET /api/held, held/update); this turns each
// list into the queue the panel shows, with a deadline on the browser's own
// clock for the countdown, and decides which one the editor shows. The rule
// that matters: a new hit never changes the selection, so it never takes
// the editor (or the keyboard) from the one being edited.

import type { FlowID, Held } from "../api/types";

export interface HeldItem {
  held: Held;
  /** When its timeout action happens, in this browser's ms (Date.now()). */
  until: number;
}

export interface HeldState {
  /** Oldest first: the order in which they were first seen. */
  items: HeldItem[];
  /** The one the editor shows; it may have left the queue (released elsewhere, timed out). */
  selected: FlowID | null;
}

export const emptyHeld = (): HeldState => ({ items: [], selected: null });

/**
 * untilOf places a deadline on the local clock: remainingMs counted from
 * now, so a browser whose clock is off still counts down right; the
 * RFC 3339 deadline only when remainingMs is missing.
 */
function untilOf(h: Held, now: number): number {
  if (typeof h.remainingMs === "number" && Number.isFinite(h.remainingMs)) return now + Math.max(0, h.remainingMs);
  const t = Date.parse(h.deadline);
  return Number.isFinite(t) ? t : now;
}

/**
 * keepBodies fills the bodies a held/update message left out (bodyOmitted:
 * it carries 1 MiB of bodies at most) from what was known of the same
 * exchange before.
 */
function keepBodies(h: Held, before: Held): Held {
  const keep = <M extends { body?: string; bodyBase64?: string; bodyOmitted?: boolean }>(m: M | undefined, old: M | undefined): M | undefined =>
    m?.bodyOmitted && old && !old.bodyOmitted ? { ...m, body: old.body, bodyBase64: old.bodyBase64, bodyOmitted: false } : m;
  if (!h.request?.bodyOmitted && !h.response?.bodyOmitted) return h;
  return { ...h, request: keep(h.request, before.request) ?? h.request, response: keep(h.response, before.response) };
}

/** omitted says whether an exchange's bodies were left out of the list it came in. */
export function omitted(h: Held): boolean {
  return !!(h.request?.bodyOmitted || h.response?.bodyOmitted);
}

/** withHeld puts h (GET /api/held/{id}, bodies whole) in place of the entry of the same id. */
export function withHeld(s: HeldState, h: Held): HeldState {
  return { ...s, items: s.items.map((it) => (it.held.id === h.id ? { ...it, held: h } : it)) };
}

/**
 * applyHeld replaces the queue with the server's list received at now.
 * Entries already shown keep their place; new ones go to the end in the
 * server's order. The selection never changes here.
 */
export function applyHeld(prev: HeldState, list: Held[] | null | undefined, now: number): HeldState {
  const incoming = new Map<FlowID, Held>();
  for (const h of list ?? []) if (h && typeof h.id === "number") incoming.set(h.id, h);
  const items: HeldItem[] = [];
  for (const it of prev.items) {
    const got = incoming.get(it.held.id);
    if (!got) continue;
    const h = keepBodies(got, it.held);
    items.push({ held: h, until: untilOf(h, now) });
    incoming.delete(h.id);
  }
  for (const h of incoming.values()) items.push({ held: h, until: untilOf(h, now) });
  return { items, selected: prev.selected };
}

/** select shows id in the editor (null closes it). */
export function selectHeld(s: HeldState, id: FlowID | null): HeldState {
  return { ...s, selected: id };
}

/**
 * released removes id at once (the user released it; the server's next list
 * agrees) and, when it was the one in the editor, moves the editor to the
 * next one in the queue (or the previous, or none): the user asked for this
 * one to go, so the next is what they want to see.
 */
export function released(s: HeldState, id: FlowID): HeldState {
  const i = s.items.findIndex((it) => it.held.id === id);
  const items = i >= 0 ? [...s.items.slice(0, i), ...s.items.slice(i + 1)] : s.items;
  let selected = s.selected;
  if (selected === id) {
    const at = i >= 0 ? i : 0;
    selected = items.length === 0 ? null : items[Math.min(at, items.length - 1)].held.id;
  }
  return { items, selected };
}

/** releasedAll empties the queue and closes the editor. */
export function releasedAll(_: HeldState): HeldState {
  return { items: [], selected: null };
}

/** item returns the queue entry of id, or undefined when it is no longer held. */
export function itemOf(s: HeldState, id: FlowID | null): HeldItem | undefined {
  return id === null ? undefined : s.items.find((it) => it.held.id === id);
}

/** remaining is the time left, never negative. */
export function remaining(it: HeldItem, now: number): number {
  return Math.max(0, it.until - now);
}

/** countdown writes a time left as m:ss (h:mm:ss past an hour), rounding up so 0:00 means over. */
export function countdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** urgent says a countdown should draw the eye: the last ten seconds. */
export function urgent(ms: number): boolean {
  return ms <= 10_000;
}

/** arrivals lists the ids in next that prev did not have (for a notice). */
export function arrivals(prev: HeldState, next: HeldState): FlowID[] {
  const had = new Set(prev.items.map((it) => it.held.id));
  return next.items.filter((it) => !had.has(it.held.id)).map((it) => it.held.id);
}
