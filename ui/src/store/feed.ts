// Feed keeps a FlowStore in step with the server: it opens the websocket
// first, then fetches the snapshot, drops batches the snapshot already holds,
// applies the rest once per animation frame, and reconnects with backoff
// (resyncing) after a disconnect or a flows/reset.

import type { SessionView } from "../api/client";
import type { BatchMessage, FeedMessage, FlowPage, Summary } from "../api/types";
import { FlowStore } from "./flowstore";

/** Socket is the part of a WebSocket the feed uses. */
export interface Socket {
  close(): void;
}

export interface FeedDeps {
  /** Opens the websocket; the callbacks fire as the browser's would. */
  connect(h: { open(): void; message(m: FeedMessage): void; close(): void }): Socket;
  /** One page of GET /api/flows, of one session (null: the recording one; "all": every one). */
  fetchPage(q: string, limit: number, before?: number, session?: SessionView): Promise<FlowPage>;
  /** Runs fn on the next animation frame. */
  frame(fn: () => void): void;
  /** setTimeout; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export type FeedStatus = "connecting" | "live" | "offline";

export interface FeedEvents {
  /** The store changed (after a snapshot or a frame's batches). */
  changed(): void;
  status(s: FeedStatus): void;
  /** A snapshot fetch failed (e.g. a bad filter: ApiError with a term). */
  error(err: unknown): void;
  /** Non-flow messages (rules/update, state/update). */
  other(m: FeedMessage): void;
}

/** PAGE is the snapshot page size; MAX_HELD bounds how many summaries the page keeps. */
export const PAGE = 10000;
export const MAX_HELD = 200000;

export class Feed {
  readonly store = new FlowStore();
  private sock: Socket | null = null;
  private queue: BatchMessage[] = [];
  private frameQueued = false;
  private syncing = false;
  private syncGen = 0;
  private attempt = 0;
  private cancelRetry: (() => void) | null = null;
  private cancelRefresh: (() => void) | null = null;
  private stopped = false;
  private query = "";
  private view: SessionView = null;
  /** The session the held list is of, as the server said: 0 every session, -1 not known yet. */
  private listed = -1;

  constructor(
    private deps: FeedDeps,
    private ev: FeedEvents,
  ) {}

  get filter(): string {
    return this.query;
  }

  /** The session asked for: an ID, "all", or null for the recording one. */
  get session(): SessionView {
    return this.view;
  }

  /** The session the list holds (0: every session; -1 until the first snapshot). */
  get listedSession(): number {
    return this.listed;
  }

  /** Shows another session (null: follow the recording one) and resyncs. */
  setSession(s: SessionView): Promise<void> {
    this.view = s;
    return this.resync();
  }

  /**
   * Tells the feed which session records now: a list that follows the
   * recording session starts over when another one takes over.
   */
  recordingIs(id: number): void {
    if (this.view === null && this.listed > 0 && id !== this.listed) void this.resync().catch(() => {});
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelRefresh?.();
    this.sock?.close();
    this.sock = null;
  }

  /** Changes the server-side filter and resyncs. Rejects with the server's error for a bad filter. */
  setFilter(q: string): Promise<void> {
    const prev = this.query;
    this.query = q.trim();
    return this.resync().catch((err) => {
      // Keep showing (and refreshing) what the last good filter selected.
      if (this.query === q.trim()) this.query = prev;
      throw err;
    });
  }

  private open(): void {
    if (this.stopped) return;
    this.ev.status("connecting");
    let closed = false;
    this.sock = this.deps.connect({
      open: () => {
        this.attempt = 0;
        this.ev.status("live");
        void this.resync().catch(() => {});
      },
      message: (m) => this.onMessage(m),
      close: () => {
        if (closed) return;
        closed = true;
        this.sock = null;
        if (this.stopped) return;
        this.ev.status("offline");
        // Backoff: 250 ms doubling to 8 s, with a little jitter.
        const ms = Math.min(8000, 250 * 2 ** this.attempt) * (0.8 + 0.4 * Math.random());
        this.attempt++;
        this.cancelRetry = this.deps.after(ms, () => this.open());
      },
    });
  }

  private onMessage(m: FeedMessage): void {
    switch (m.type) {
      case "flows/batch":
        this.queue.push(m);
        if (!this.syncing) this.scheduleFrame();
        return;
      case "flows/reset":
        this.queue = [];
        void this.resync().catch(() => {});
        return;
      default:
        this.ev.other(m);
    }
  }

  private scheduleFrame(): void {
    if (this.frameQueued) return;
    this.frameQueued = true;
    this.deps.frame(() => {
      this.frameQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.syncing || this.queue.length === 0) return;
    const batches = this.queue;
    this.queue = [];
    const filtered = this.query !== "";
    const listed = this.listed;
    let missed = false;
    // New flows of another session than the one shown are not this list's.
    // With a filter, only the server knows whether a new flow matches: keep
    // updating the rows we hold and refetch (throttled) when flows were added.
    const changed = this.store.applyBatches(batches, (s: Summary) => {
      if (listed > 0 && s.session !== undefined && s.session !== listed) return false;
      if (filtered) {
        missed = true;
        return false;
      }
      return true;
    });
    if (missed) this.scheduleRefresh();
    if (changed) this.ev.changed();
  }

  private scheduleRefresh(): void {
    if (this.cancelRefresh) return;
    this.cancelRefresh = this.deps.after(400, () => {
      this.cancelRefresh = null;
      void this.resync().catch(() => {});
    });
  }

  /** Fetches the snapshot (newest page first, then older pages) and applies queued batches newer than it. */
  resync(): Promise<void> {
    const gen = ++this.syncGen;
    this.syncing = true;
    const q = this.query;
    const view = this.view;
    const done = () => {
      if (gen !== this.syncGen) return;
      this.syncing = false;
      this.flush();
    };
    return this.deps.fetchPage(q, PAGE, undefined, view).then(
      async (page) => {
        if (gen !== this.syncGen) return;
        const flows = page.flows ?? [];
        this.listed = page.session ?? 0;
        // Older pages come from the session the first one was of, even if
        // another one took over the recording meanwhile.
        const pagesOf: SessionView = this.listed === 0 ? (view === null ? null : "all") : this.listed;
        this.store.reset(page.seq, flows, page.total);
        // Batches already queued at or below page.seq are dropped by applyBatches.
        done();
        this.ev.changed();
        let oldest = flows.length ? flows[0].id : 0;
        let held = flows.length;
        let more = flows.length > 0 && flows.length < page.total;
        while (more && held < MAX_HELD) {
          const older = await this.deps.fetchPage(q, PAGE, oldest, pagesOf);
          if (gen !== this.syncGen) return;
          const fs = older.flows ?? [];
          if (fs.length === 0) break;
          this.store.prepend(fs);
          this.ev.changed();
          oldest = fs[0].id;
          held += fs.length;
          more = fs.length === PAGE || held < older.total;
          if (fs.length < PAGE) break;
        }
      },
      (err) => {
        done();
        this.ev.error(err);
        throw err;
      },
    );
  }
}
