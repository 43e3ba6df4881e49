// The dashboard's side of breakpoints: the queue of held exchanges (fed by
// GET /api/held on every (re)connect and by held/update messages), whether
// the panel is open, and the actions that release them.

import { computed, signal } from "@preact/signals";
import { api, ApiError } from "./api/client";
import type { FlowID, Held, HeldEdit } from "./api/types";
import { applyHeld, arrivals, emptyHeld, omitted, released, releasedAll, selectHeld, withHeld, type HeldState } from "./store/held";
import { reportError, toast } from "./state";

export const held = signal<HeldState>(emptyHeld());
/** False once the server answered that it has no breakpoints (GET /api/held is 404). */
export const heldSupported = signal(true);
export const heldOpen = signal(false);
/** The IDs of the flows held now, for the list's "held" badge. */
export const heldIds = computed(() => new Set(held.value.items.map((it) => it.held.id)));

/** setHeld applies a list from the server; a first hit opens the panel and the editor, later ones never move them. */
export function setHeld(list: Held[] | null | undefined): void {
  const prev = held.value;
  let next = applyHeld(prev, list, Date.now());
  const added = arrivals(prev, next);
  if (added.length && next.selected === null) {
    // No editor open: show the oldest. The keyboard focus stays where it is.
    next = selectHeld(next, next.items[0].held.id);
  }
  if (added.length && !heldOpen.value) heldOpen.value = true;
  held.value = next;
  fetchOmitted();
}

/** Exchanges whose whole bodies are being fetched. */
const fetching = new Set<FlowID>();

/** fetchOmitted gets the bodies a held/update left out, one exchange at a time each. */
function fetchOmitted(): void {
  for (const it of held.value.items) {
    const id = it.held.id;
    if (!omitted(it.held) || fetching.has(id)) continue;
    fetching.add(id);
    api
      .heldOne(id)
      .then((h) => {
        if (h) held.value = withHeld(held.value, h);
      })
      .catch(() => {}) // released meanwhile: the next list says so
      .finally(() => fetching.delete(id));
  }
}

export async function refreshHeld(): Promise<void> {
  try {
    const list = await api.held();
    heldSupported.value = true;
    setHeld(list ?? []);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 501)) {
      heldSupported.value = false;
      return;
    }
    reportError("Held exchanges", err);
  }
}

export function selectHeldId(id: FlowID | null): void {
  held.value = selectHeld(held.value, id);
}

const VERB: Record<string, string> = { continue: "Continued", execute: "Sent the edit of", respond: "Answered", abort: "Aborted" };

/** release lets one held exchange go; the editor moves to the next one. */
export async function release(id: FlowID, action: "continue" | "execute" | "respond" | "abort", body?: HeldEdit | { status: number }): Promise<boolean> {
  try {
    await api.release(id, action, body);
    held.value = released(held.value, id);
    toast(`${VERB[action]} #${id}`);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      // It left the queue meanwhile (timeout, another tab): say so, keep the edit on screen.
      toast(`#${id} is no longer held: ${err.message}`, "error");
      return false;
    }
    reportError(`${action[0].toUpperCase() + action.slice(1)} #${id}`, err);
    return false;
  }
}

export async function releaseAll(action: "continue-all" | "abort-all"): Promise<void> {
  try {
    await api.releaseAll(action);
    held.value = releasedAll(held.value);
    toast(action === "continue-all" ? "Continued every held exchange" : "Aborted every held exchange");
  } catch (err) {
    reportError(action === "continue-all" ? "Continue all" : "Abort all", err);
  }
}
