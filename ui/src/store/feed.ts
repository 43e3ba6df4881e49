// Feed keeps a FlowStore in step with the server: it opens the websocket
// first, subscribes with the filter, and once the server acknowledged the
// subscription fetches the newest page; it drops batches the page already
// holds, applies the rest once per animation frame, loads older pages by
// cursor when the list asks, and reconnects with backoff (resyncing) after
// a disconnect or a flows/reset. The server filters the live feed, so a
// filtered list never refetches on changes. A list shows one session of
// the capture (by default the recording one, following a new one), or all.

import { ApiError, type SessionView } from "../api/client";
import type { BatchMessage, FeedMessage, FlowPage } from "../api/types";
import { FlowStore } from "./flowstore";

/** Socket is the part of a WebSocket the feed uses. */
export interface Socket {
  close(): void;
  /** Sends a message to the server (a subscription). Absent: the feed cannot subscribe and fetches without one. */
  send?(data: string): void;
}

export interface FeedDeps {
  /** Opens the websocket; the callbacks fire as the browser's would. */
  connect(h: { open(): void; message(m: FeedMessage): void; close(): void }): Socket;
  /** One page of GET /api/flows: the newest limit matching flows below cursor, of one session (null: the recording one; "all": every one). */
  fetchPage(q: string, limit: number, cursor?: number, session?: SessionView): Promise<FlowPage>;
  /** Runs fn on the next animation frame. */
  frame(fn: () => void): void;
  /** setTimeout; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export type FeedStatus = "connecting" | "live" | "offline";

export interface FeedEvents {
  /** The store changed (after a snapshot, a page or a frame's batches). */
  changed(): void;
  status(s: FeedStatus): void;
  /** A snapshot fetch failed (e.g. a bad filter: ApiError with a term). */
  error(err: unknown): void;
  /** Non-flow messages (rules/update, rules/stats, state/update). */
  other(m: FeedMessage): void;
}

/** PAGE is how many flows one page holds; MAX_HELD bounds how many the list keeps loaded. */
export const PAGE = 500;
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
  /** The filter the stream's batches are filtered by (null until the server acknowledged one). */
  private streamQ: string | null = null;
  /** The session the stream is narrowed to, as subscribed (see wireSession). */
  private streamSession: string | null = null;
  private pending: { q: string; session: string; resolve: () => void; reject: (e: unknown) => void } | null = null;
  private loading: Promise<void> | null = null;
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

  /** The session the list holds (0: every session; -1 until the first page). */
  get listedSession(): number {
    return this.listed;
  }

  /** Shows another session (null: follow the recording one): subscribes to it and fetches its first page. */
  setSession(s: SessionView): Promise<void> {
    this.view = s;
    return this.subscribe();
  }

  /**
   * Tells the feed which session records now: a list that follows the
   * recording session starts over when another one takes over (the
   * server's feed follows it by itself).
   */
  recordingIs(id: number): void {
    if (this.view === null && this.listed > 0 && id !== this.listed) void this.resync().catch(() => {});
  }

  /** The session as a subscription names it. */
  private wireSession(): string {
    return this.view === null ? "recording" : String(this.view);
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

  /** Changes the filter: subscribes with it and fetches its first page. Rejects with the server's error for a bad filter. */
  setFilter(q: string): Promise<void> {
    const prev = this.query;
    this.query = q.trim();
    return this.subscribe().catch((err) => {
      // Keep showing (and following) what the last good filter selected.
      if (this.query === q.trim()) this.query = prev;
      throw err;
    });
  }

  /** Subscribes the stream to the current filter, then resyncs; without a socket, only resyncs. */
  private subscribe(): Promise<void> {
    const q = this.query;
    const session = this.wireSession();
    if (!this.sock?.send) return this.resync();
    this.pending?.reject(new Error("superseded"));
    return new Promise<void>((resolve, reject) => {
      this.pending = { q, session, resolve, reject };
      const wire = this.view === null || this.view === "all" ? this.view ?? "recording" : this.view;
      this.sock!.send!(JSON.stringify({ type: "subscribe", q, session: wire }));
    });
  }

  private open(): void {
    if (this.stopped) return;
    this.ev.status("connecting");
    let closed = false;
    this.streamQ = null;
    this.streamSession = null;
    this.sock = this.deps.connect({
      open: () => {
        this.attempt = 0;
        this.ev.status("live");
        void this.subscribe().catch(() => {});
      },
      message: (m) => this.onMessage(m),
      close: () => {
        if (closed) return;
        closed = true;
        this.sock = null;
        this.streamQ = null;
        this.streamSession = null;
        this.pending?.reject(new Error("disconnected"));
        this.pending = null;
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
        // Batches for a filter other than the one shown are dropped: a
        // resync follows the acknowledgement of the new one.
        if (this.sock?.send && (this.streamQ !== this.query || this.streamSession !== this.wireSession())) return;
        this.queue.push(m);
        if (!this.syncing) this.scheduleFrame();
        return;
      case "flows/reset":
        this.queue = [];
        void this.resync().catch(() => {});
        return;
      case "subscribed": {
        const p = this.pending;
        // A server that names no session in its answer does not narrow by one.
        if (!p || p.q !== m.q || (m.session !== undefined && p.session !== String(m.session))) return;
        this.pending = null;
        this.streamQ = m.q;
        this.streamSession = p.session;
        this.queue = [];
        this.resync().then(p.resolve, p.reject);
        return;
      }
      case "subscribe/error": {
        const p = this.pending;
        if (!p || p.q !== m.q) return;
        this.pending = null;
        p.reject(new ApiError(400, m.error, { error: m.error, term: m.term }));
        return;
      }
      case "flows/stale":
        this.scheduleRefresh();
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
    // A subscribed stream is filtered by the server (its session too);
    // without a socket that can subscribe, batches are unfiltered: they fit
    // an unfiltered list once the flows of other sessions are left out.
    const subscribed = this.streamQ !== null;
    const filtered = subscribed && (this.streamQ !== "" || this.streamSession !== "all");
    if (!subscribed && this.query !== "") {
      this.scheduleRefresh();
      return;
    }
    const listed = this.listed;
    const mine = subscribed || listed <= 0 ? batches : batches.map((b) => ({ ...b, add: (b.add ?? []).filter((s) => s.session === undefined || s.session === listed) }));
    if (this.store.applyBatches(mine, filtered)) this.ev.changed();
  }

  private scheduleRefresh(): void {
    if (this.cancelRefresh) return;
    this.cancelRefresh = this.deps.after(400, () => {
      this.cancelRefresh = null;
      void this.resync().catch(() => {});
    });
  }

  /** Fetches the newest page and applies queued batches newer than it. */
  resync(): Promise<void> {
    const gen = ++this.syncGen;
    this.syncing = true;
    this.loading = null;
    const q = this.query;
    const view = this.view;
    const done = () => {
      if (gen !== this.syncGen) return;
      this.syncing = false;
      this.flush();
    };
    return this.deps.fetchPage(q, PAGE, undefined, view).then(
      (page) => {
        if (gen !== this.syncGen) return;
        this.listed = page.session ?? 0;
        this.store.reset(page.seq, page.flows ?? [], page.total, page);
        // Batches already queued at or below page.seq are dropped by applyBatches.
        done();
        this.ev.changed();
      },
      (err) => {
        done();
        this.ev.error(err);
        throw err;
      },
    );
  }

  /** Whether older flows can be loaded (the list shows a loading row for them). */
  get hasMore(): boolean {
    return this.store.next !== 0 && this.store.size < MAX_HELD;
  }

  /** Loads the next older page by cursor; one at a time, and none while a resync runs. */
  loadMore(): Promise<void> {
    if (this.loading) return this.loading;
    if (!this.hasMore || this.syncing) return Promise.resolve();
    const gen = this.syncGen;
    const q = this.query;
    const cursor = this.store.next;
    // Older pages come from the session the first one was of, even if
    // another one took over the recording meanwhile.
    const session: SessionView = this.listed > 0 ? this.listed : this.view;
    this.loading = this.deps.fetchPage(q, PAGE, cursor, session).then(
      (page) => {
        this.loading = null;
        if (gen !== this.syncGen || this.store.next !== cursor) return;
        this.store.prepend(page.flows ?? [], page.next ?? 0);
        if (page.complete === false) {
          this.store.complete = false;
          this.store.scanned = Math.max(this.store.scanned, page.scanned ?? 0);
        }
        this.ev.changed();
      },
      (err) => {
        this.loading = null;
        this.ev.error(err);
      },
    );
    return this.loading;
  }
}
