// FlowStore holds the flow list the dashboard shows: a snapshot from
// GET /api/flows plus the websocket batches that follow it. It is plain data
// and logic (no DOM, no network), so the rules about sequence numbers and
// ordering are unit-tested on their own.

import type { BatchMessage, FlowID, Summary } from "../api/types";

export type SortKey = "id" | "method" | "host" | "path" | "status" | "type" | "size" | "duration";
export type SortDir = "asc" | "desc";

export class FlowStore {
  private byId = new Map<FlowID, Summary>();
  /** IDs in ascending order (IDs are monotonic, so this is arrival order). */
  private ids: FlowID[] = [];
  private sorted: { key: string; version: number; rows: Summary[] } | null = null;
  /** The seq of the snapshot: batches at or below it are already in it. */
  snapshotSeq = -1;
  /** Total matching flows on the server (may exceed what is held). */
  total = 0;
  /** Bumped on every change; views memoise on it. */
  version = 0;

  get size(): number {
    return this.ids.length;
  }

  get(id: FlowID): Summary | undefined {
    return this.byId.get(id);
  }

  /** Replaces everything with a snapshot taken at seq. */
  reset(seq: number, flows: Summary[], total = flows.length): void {
    this.byId.clear();
    for (const f of flows) this.byId.set(f.id, f);
    this.ids = [...this.byId.keys()].sort((a, b) => a - b);
    this.snapshotSeq = seq;
    this.total = Math.max(total, this.ids.length);
    this.version++;
  }

  /** Adds older flows (paging backwards) without touching newer ones. */
  prepend(flows: Summary[]): void {
    let added = false;
    for (const f of flows) {
      if (!this.byId.has(f.id)) {
        this.byId.set(f.id, f);
        added = true;
      }
    }
    if (added) {
      this.ids = [...this.byId.keys()].sort((a, b) => a - b);
      this.version++;
    }
  }

  clear(): void {
    this.reset(this.snapshotSeq, [], 0);
  }

  /**
   * Applies batches in order. A batch whose seq is at or below the snapshot's
   * is dropped (the snapshot already holds it). Returns true if anything changed.
   */
  applyBatches(batches: BatchMessage[], accept: (s: Summary) => boolean = () => true): boolean {
    let changed = false;
    let needSort = false;
    let removed: Set<FlowID> | null = null;
    for (const b of batches) {
      if (b.seq <= this.snapshotSeq) continue;
      for (const s of b.add ?? []) {
        if (!accept(s)) continue;
        if (!this.byId.has(s.id)) {
          const last = this.ids.length ? this.ids[this.ids.length - 1] : -Infinity;
          if (s.id < last) needSort = true;
          this.ids.push(s.id);
          this.total++;
        }
        this.byId.set(s.id, s);
        changed = true;
      }
      for (const s of b.update ?? []) {
        // An update for a flow we don't hold (filtered out, or evicted) is ignored.
        if (this.byId.has(s.id)) {
          this.byId.set(s.id, s);
          changed = true;
        }
      }
      for (const id of b.remove ?? []) {
        if (this.byId.delete(id)) {
          (removed ??= new Set()).add(id);
          this.total = Math.max(0, this.total - 1);
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

  /** The rows in display order, memoised per version and sort. */
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
