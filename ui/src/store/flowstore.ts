// FlowStore holds the window of the flow list the dashboard has loaded: the
// newest page from GET /api/flows, older pages fetched by cursor as the user
// scrolls, and the websocket batches that follow. It is plain data and logic
// (no DOM, no network), so the rules about sequence numbers, ordering and
// paging are unit-tested on their own.

import type { BatchMessage, FlowID, FlowPage, Summary } from "../api/types";

export type SortKey = "id" | "method" | "host" | "path" | "status" | "type" | "size" | "duration";
export type SortDir = "asc" | "desc";

export class FlowStore {
  private byId = new Map<FlowID, Summary>();
  /** IDs in ascending order (IDs are monotonic, so this is arrival order). */
  private ids: FlowID[] = [];
  private sorted: { key: string; version: number; rows: Summary[] } | null = null;
  /** The seq of the snapshot: batches at or below it are already in it. */
  snapshotSeq = -1;
  /** Total matching flows on the server (the loaded window holds the newest of them). */
  total = 0;
  /** Cursor of the next older page; 0 when the window reaches the oldest match. */
  next: FlowID = 0;
  /** False when the server's count comes from a bounded scan (see scanned). */
  complete = true;
  /** How many flows the server's bounded scan examined. */
  scanned = 0;
  /** Bumped on every change; views memoise on it. */
  version = 0;
  /** Bumped on every snapshot (a new filter or session, a clear, a reconnect): what the list holds was fetched anew. */
  snapshots = 0;

  get size(): number {
    return this.ids.length;
  }

  /** The oldest loaded ID (0 when empty). */
  get oldest(): FlowID {
    return this.ids.length ? this.ids[0] : 0;
  }

  get(id: FlowID): Summary | undefined {
    return this.byId.get(id);
  }

  /** Replaces everything with a snapshot (the newest page) taken at seq. */
  reset(seq: number, flows: Summary[], total = flows.length, page: Partial<FlowPage> = {}): void {
    this.byId.clear();
    for (const f of flows) this.byId.set(f.id, f);
    this.ids = [...this.byId.keys()].sort((a, b) => a - b);
    this.snapshotSeq = seq;
    this.total = Math.max(total, this.ids.length);
    this.next = page.next ?? 0;
    this.complete = page.complete ?? true;
    this.scanned = page.scanned ?? 0;
    this.version++;
    this.snapshots++;
  }

  /** Adds an older page (paging backwards) and takes its cursor. */
  prepend(flows: Summary[], next: FlowID = 0): void {
    let added = false;
    for (const f of flows) {
      if (!this.byId.has(f.id)) {
        this.byId.set(f.id, f);
        added = true;
      }
    }
    this.next = next;
    if (added) this.ids = [...this.byId.keys()].sort((a, b) => a - b);
    this.version++;
  }

  clear(): void {
    this.reset(this.snapshotSeq, [], 0);
  }

  /** Whether id falls inside the loaded window (newer than the oldest loaded flow, or no older pages). */
  private inWindow(id: FlowID): boolean {
    return this.next === 0 || this.ids.length === 0 || id > this.ids[0];
  }

  /**
   * Applies batches in order. A batch whose seq is at or below the snapshot's
   * is dropped (the snapshot already holds it). Returns true if anything changed.
   *
   * Unfiltered, batches carry every change: add inserts, update replaces a
   * held flow, remove deletes (and counts down a flow beyond the window).
   * Filtered (the server matched the batch against the subscribed filter),
   * add and update carry flows that match now: held ones are replaced, new
   * ones in the window inserted; remove names flows that do not match (or
   * are gone) and drops those held.
   */
  applyBatches(batches: BatchMessage[], filtered = false): boolean {
    let changed = false;
    let needSort = false;
    let removed: Set<FlowID> | null = null;
    const upsert = (s: Summary, insert: boolean) => {
      if (this.byId.has(s.id)) {
        this.byId.set(s.id, s);
        changed = true;
        return;
      }
      if (!insert || !this.inWindow(s.id)) return;
      const last = this.ids.length ? this.ids[this.ids.length - 1] : -Infinity;
      if (s.id < last) needSort = true;
      this.ids.push(s.id);
      this.byId.set(s.id, s);
      this.total++;
      changed = true;
    };
    for (const b of batches) {
      if (b.seq <= this.snapshotSeq) continue;
      for (const s of b.add ?? []) upsert(s, true);
      // An update for a flow we don't hold is ignored, unless the server
      // filtered it: then the flow just started to match.
      for (const s of b.update ?? []) upsert(s, filtered);
      for (const id of b.remove ?? []) {
        if (this.byId.delete(id)) {
          (removed ??= new Set()).add(id);
          this.total = Math.max(0, this.total - 1);
          changed = true;
        } else if (!filtered && !this.inWindow(id)) {
          this.total = Math.max(0, this.total - 1); // an older flow, counted but not loaded
          changed = true;
        }
      }
      // snapshotSeq stays the snapshot's: batches are compared with the
      // snapshot only, so two batches that report the same seq are both applied.
    }
    if (removed) this.ids = this.ids.filter((id) => !removed!.has(id));
    if (needSort) this.ids.sort((a, b) => a - b);
    if (changed) this.version++;
    return changed;
  }

  /** Removes one flow locally (after a successful DELETE). */
  remove(id: FlowID): void {
    if (this.byId.delete(id)) {
      this.ids = this.ids.filter((x) => x !== id);
      this.total = Math.max(0, this.total - 1);
      this.version++;
    }
  }

  /**
   * The loaded rows in display order, memoised per version and sort. The
   * server pages by ID; another key sorts only the loaded window.
   */
  rows(key: SortKey = "id", dir: SortDir = "asc"): Summary[] {
    const k = key + ":" + dir;
    if (this.sorted && this.sorted.key === k && this.sorted.version === this.version) {
      return this.sorted.rows;
    }
    const rows = this.ids.map((id) => this.byId.get(id)!);
    if (key !== "id") {
      const get = sortValue[key];
      rows.sort((a, b) => {
        const va = get(a);
        const vb = get(b);
        return va < vb ? -1 : va > vb ? 1 : a.id - b.id;
      });
    }
    if (dir === "desc") rows.reverse();
    this.sorted = { key: k, version: this.version, rows };
    return rows;
  }
}

const sortValue: Record<Exclude<SortKey, "id">, (s: Summary) => string | number> = {
  method: (s) => s.method,
  host: (s) => s.host,
  path: (s) => s.path,
  status: (s) => s.status,
  type: (s) => shortType(s.contentType),
  size: (s) => s.size,
  duration: (s) => s.duration,
};

/** "application/json; charset=utf-8" -> "json"; the short label the list shows. */
export function shortType(ct: string | undefined): string {
  if (!ct) return "";
  const base = ct.split(";")[0].trim().toLowerCase();
  const sub = base.split("/")[1] ?? base;
  if (base === "image/svg+xml") return "svg";
  if (sub.endsWith("+json") || sub === "json") return "json";
  if (sub.endsWith("+xml") || sub === "xml") return "xml";
  if (sub === "javascript" || sub === "ecmascript" || sub === "x-javascript") return "js";
  if (sub === "plain") return "text";
  if (base.startsWith("image/")) return sub;
  if (sub === "octet-stream") return "binary";
  if (sub === "x-www-form-urlencoded") return "form";
  if (sub === "event-stream") return "sse";
  return sub;
}
