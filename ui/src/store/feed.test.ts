import { describe, expect, it } from "vitest";
import type { SessionView } from "../api/client";
import type { FeedMessage, FlowPage, Summary } from "../api/types";
import { Feed, PAGE, type FeedDeps } from "./feed";
import { batch, page, sum } from "./testdata";

/** A scripted world: a fake socket, a fake server, manual frames and timers. */
function world(pages: (q: string, limit: number, before?: number, session?: SessionView) => FlowPage | Promise<FlowPage>, opts: { subscribe?: boolean } = {}) {
  let handlers: Parameters<FeedDeps["connect"]>[0] | null = null;
  const frames: (() => void)[] = [];
  const timers: { ms: number; fn: () => void }[] = [];
  const calls: { q: string; before?: number; session?: SessionView }[] = [];
  const sent: { type: string; q: string; session?: number | string }[] = [];
  let connects = 0;
  let changes = 0;
  const statuses: string[] = [];
  const errors: unknown[] = [];
  const deps: FeedDeps = {
    connect(h) {
      connects++;
      handlers = h;
      const sock: { close(): void; send?(d: string): void } = { close: () => h.close() };
      if (opts.subscribe) {
        // The server acknowledges subscriptions at once, and refuses bad filters.
        sock.send = (d) => {
          const m = JSON.parse(d) as { type: string; q: string; session?: number | string };
          sent.push(m);
          if (m.q.startsWith("bad:")) h.message({ type: "subscribe/error", q: m.q, error: "unknown key", term: m.q });
          else h.message({ type: "subscribed", q: m.q, session: m.session, seq: 0 });
        };
      }
      return sock;
    },
    fetchPage: async (q, limit, before, session) => {
      calls.push({ q, before, session });
      return pages(q, limit, before, session);
    },
    frame: (fn) => frames.push(fn),
    after: (ms, fn) => {
      const t = { ms, fn };
      timers.push(t);
      return () => timers.splice(timers.indexOf(t), 1);
    },
  };
  const feed = new Feed(deps, {
    changed: () => changes++,
    status: (s) => statuses.push(s),
    error: (e) => errors.push(e),
    other: () => {},
  });
  return {
    feed,
    send: (m: FeedMessage) => handlers!.message(m),
    open: () => handlers!.open(),
    drop: () => handlers!.close(),
    runFrames: () => frames.splice(0).forEach((f) => f()),
    runTimers: () => timers.splice(0).forEach((t) => t.fn()),
    frames,
    timers,
    calls,
    sent,
    get connects() {
      return connects;
    },
    get changes() {
      return changes;
    },
    statuses,
    errors,
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("Feed", () => {
  it("opens the socket first, then fetches the snapshot, and drops batches it already holds", async () => {
    let resolve!: (p: FlowPage) => void;
    const w = world(() => new Promise((r) => (resolve = r)));
    w.feed.start();
    expect(w.connects).toBe(1);
    expect(w.calls.length).toBe(0);
    w.open();
    expect(w.calls.length).toBe(1);
    // Batches that arrive while the snapshot is in flight wait for it.
    w.send(batch({ seq: 5, add: [sum(2)] }));
    w.send(batch({ seq: 6, add: [sum(3)] }));
    resolve(page({ seq: 5, flows: [sum(1), sum(2)], total: 2 }));
    await tick();
    w.runFrames();
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it("applies the batches of one frame together", async () => {
    const w = world(() => page({ seq: 0, flows: [], total: 0 }));
    w.feed.start();
    w.open();
    await tick();
    const before = w.changes;
    for (let i = 1; i <= 50; i++) w.send(batch({ seq: i, add: [sum(i)] }));
    expect(w.frames.length).toBe(1);
    expect(w.feed.store.size).toBe(0);
    w.runFrames();
    expect(w.feed.store.size).toBe(50);
    expect(w.changes).toBe(before + 1);
  });

  it("reconnects with growing backoff and resyncs after a disconnect", async () => {
    let n = 0;
    const w = world(() => page({ seq: 10 * ++n, flows: [sum(n)], total: 1 }));
    w.feed.start();
    w.open();
    await tick();
    w.drop();
    expect(w.statuses.at(-1)).toBe("offline");
    expect(w.timers.length).toBe(1);
    const first = w.timers[0].ms;
    w.runTimers();
    expect(w.connects).toBe(2);
    w.drop();
    expect(w.timers[0].ms).toBeGreaterThan(first);
    w.runTimers();
    w.open();
    await tick();
    expect(w.statuses.at(-1)).toBe("live");
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([2]);
    expect(w.feed.store.snapshotSeq).toBe(20);
  });

  it("resyncs on flows/reset", async () => {
    let n = 0;
    const w = world(() => (++n === 1 ? page({ seq: 3, flows: [sum(1), sum(2)], total: 2 }) : page({ seq: 9, flows: [], total: 0 })));
    w.feed.start();
    w.open();
    await tick();
    expect(w.feed.store.size).toBe(2);
    w.send({ type: "flows/reset", seq: 9 });
    await tick();
    expect(w.feed.store.size).toBe(0);
    expect(w.calls.length).toBe(2);
  });

  it("fetches only the newest page, and older pages by cursor when asked", async () => {
    const all: Summary[] = [];
    for (let i = 1; i <= PAGE * 2 + 5; i++) all.push(sum(i));
    const w = world((_q, limit, before) => {
      const upto = before ? all.filter((f) => f.id < before) : all;
      const flows = upto.slice(-limit);
      return page({ seq: 1, flows, total: all.length, next: upto.length > limit ? flows[0].id : undefined });
    });
    w.feed.start();
    w.open();
    await tick();
    expect(w.feed.store.size).toBe(PAGE);
    expect(w.feed.store.total).toBe(all.length);
    expect(w.feed.hasMore).toBe(true);
    // Two calls at once load one page.
    await Promise.all([w.feed.loadMore(), w.feed.loadMore()]);
    expect(w.feed.store.size).toBe(PAGE * 2);
    await w.feed.loadMore();
    expect(w.feed.store.size).toBe(all.length);
    expect(w.feed.hasMore).toBe(false);
    await w.feed.loadMore();
    expect(w.calls.map((c) => c.before)).toEqual([undefined, PAGE + 6, 6]);
  });

  it("subscribes with its filter, fetches after the server's acknowledgement, and applies the filtered stream", async () => {
    const w = world(
      (q) => page({ seq: 1, flows: q ? [sum(2)] : [sum(1), sum(2)], total: q ? 1 : 2 }),
      { subscribe: true },
    );
    w.feed.start();
    w.open();
    await tick();
    expect(w.sent).toEqual([{ type: "subscribe", q: "", session: "recording" }]);
    await w.feed.setFilter("status:200");
    expect(w.sent.at(-1)).toEqual({ type: "subscribe", q: "status:200", session: "recording" });
    expect(w.feed.store.size).toBe(1);
    // The server sends only what matches: adds are taken, removals drop held rows; no refetch.
    const calls = w.calls.length;
    w.send(batch({ seq: 2, add: [sum(3)] }));
    w.send(batch({ seq: 3, add: [sum(4)], remove: [2] }));
    w.runFrames();
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([3, 4]);
    expect(w.timers.length).toBe(0);
    expect(w.calls.length).toBe(calls);
    // A bad filter is refused by the server, naming its term; the old one stays.
    await expect(w.feed.setFilter("bad: x")).rejects.toMatchObject({ status: 400, data: { term: "bad: x" } });
    expect(w.feed.filter).toBe("status:200");
    w.send(batch({ seq: 4, add: [sum(5)] }));
    w.runFrames();
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([3, 4, 5]);
  });

  it("drops batches of the previous filter until the new one is acknowledged", async () => {
    let ack: (() => void) | null = null;
    const w = world((q) => page({ seq: 5, flows: q ? [] : [sum(1)], total: q ? 0 : 1 }), { subscribe: true });
    w.feed.start();
    w.open();
    await tick();
    // Hold the next acknowledgement back.
    const sock = (w.feed as unknown as { sock: { send(d: string): void } }).sock;
    const send = sock.send;
    sock.send = (d) => (ack = () => send(d));
    const done = w.feed.setFilter("method:POST");
    w.send(batch({ seq: 6, add: [sum(7)] })); // filtered by the old (empty) filter
    w.runFrames();
    expect(w.feed.store.get(7)).toBeUndefined();
    ack!();
    await done;
    w.send(batch({ seq: 7, add: [sum(8)] }));
    w.runFrames();
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([8]);
  });

  it("refetches the first page (throttled) when the server says the stream is stale", async () => {
    const w = world(() => page({ seq: 1, flows: [sum(1)], total: 1 }), { subscribe: true });
    w.feed.start();
    w.open();
    await tick();
    const calls = w.calls.length;
    w.send({ type: "flows/stale", seq: 2 });
    w.send({ type: "flows/stale", seq: 3 });
    expect(w.timers.length).toBe(1);
    w.runTimers();
    await tick();
    expect(w.calls.length).toBe(calls + 1);
  });

  it("without a socket that can subscribe, a filtered list refetches (throttled) instead of trusting adds", async () => {
    const w = world((q) => {
      if (q === "bad:") throw Object.assign(new Error("unknown key"), { status: 400 });
      return page({ seq: 1, flows: q ? [sum(2)] : [sum(1), sum(2)], total: q ? 1 : 2 });
    });
    w.feed.start();
    w.open();
    await tick();
    await w.feed.setFilter("status:200");
    expect(w.feed.store.size).toBe(1);
    w.send(batch({ seq: 2, add: [sum(3)] }));
    w.send(batch({ seq: 3, add: [sum(4)] }));
    w.runFrames();
    expect(w.feed.store.size).toBe(1);
    expect(w.timers.length).toBe(1);
    const calls = w.calls.length;
    w.runTimers();
    await tick();
    expect(w.calls.length).toBe(calls + 1);
    expect(w.calls.at(-1)!.q).toBe("status:200");
    await expect(w.feed.setFilter("bad:")).rejects.toThrow("unknown key");
    expect(w.feed.filter).toBe("status:200");
  });

  it("lists one session: subscribes to it, fetches its pages, and follows the recording one", async () => {
    let recording = 3;
    const w = world(
      (_q, _limit, before, session) => {
        const id = session === null || session === undefined ? recording : (session as number);
        return page({ seq: 1, flows: before ? [sum(1, { session: id })] : [sum(2, { session: id })], total: 2, next: before ? 0 : 2, session: id });
      },
      { subscribe: true },
    );
    w.feed.start();
    w.open();
    await tick();
    expect(w.sent[0]).toEqual({ type: "subscribe", q: "", session: "recording" });
    expect(w.calls[0].session).toBe(null);
    expect(w.feed.listedSession).toBe(3);
    // Older pages come from the session the first page was of.
    await w.feed.loadMore();
    expect(w.calls.at(-1)).toEqual({ q: "", before: 2, session: 3 });
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([1, 2]);

    // Another session takes over the recording: the list follows it.
    const calls = w.calls.length;
    w.feed.recordingIs(3);
    expect(w.calls.length).toBe(calls);
    recording = 4;
    w.feed.recordingIs(4);
    await tick();
    expect(w.calls.length).toBe(calls + 1);
    expect(w.feed.listedSession).toBe(4);

    // One session by its ID: subscribed to it, not following the recording one.
    await w.feed.setSession(7);
    expect(w.sent.at(-1)).toEqual({ type: "subscribe", q: "", session: 7 });
    expect(w.calls.at(-1)!.session).toBe(7);
    expect(w.feed.listedSession).toBe(7);
    const after = w.calls.length;
    w.feed.recordingIs(5);
    await tick();
    expect(w.calls.length).toBe(after);
    await w.feed.setSession("all");
    expect(w.sent.at(-1)).toEqual({ type: "subscribe", q: "", session: "all" });
  });

  it("without a socket that subscribes, keeps only the new flows of the session listed", async () => {
    const w = world(() => page({ seq: 1, flows: [], total: 0, session: 3 }));
    w.feed.start();
    w.open();
    await tick();
    w.send(batch({ seq: 2, add: [sum(10, { session: 3 }), sum(11, { session: 4 })] }));
    w.runFrames();
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([10]);
  });
});
