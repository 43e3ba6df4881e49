import { describe, expect, it } from "vitest";
import type { SessionView } from "../api/client";
import type { FeedMessage, FlowPage, Summary } from "../api/types";
import { Feed, PAGE, type FeedDeps } from "./feed";
import { sum } from "./testdata";

/** A scripted world: a fake socket, a fake server, manual frames and timers. */
function world(pages: (q: string, limit: number, before?: number, session?: SessionView) => FlowPage | Promise<FlowPage>) {
  let handlers: Parameters<FeedDeps["connect"]>[0] | null = null;
  const frames: (() => void)[] = [];
  const timers: { ms: number; fn: () => void }[] = [];
  const calls: { q: string; before?: number; session?: SessionView }[] = [];
  let connects = 0;
  let changes = 0;
  const statuses: string[] = [];
  const errors: unknown[] = [];
  const deps: FeedDeps = {
    connect(h) {
      connects++;
      handlers = h;
      return { close: () => h.close() };
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
    w.send({ type: "flows/batch", seq: 5, add: [sum(2)] });
    w.send({ type: "flows/batch", seq: 6, add: [sum(3)] });
    resolve({ seq: 5, flows: [sum(1), sum(2)], total: 2 });
    await tick();
    w.runFrames();
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it("applies the batches of one frame together", async () => {
    const w = world(() => ({ seq: 0, flows: [], total: 0 }));
    w.feed.start();
    w.open();
    await tick();
    const before = w.changes;
    for (let i = 1; i <= 50; i++) w.send({ type: "flows/batch", seq: i, add: [sum(i)] });
    expect(w.frames.length).toBe(1);
    expect(w.feed.store.size).toBe(0);
    w.runFrames();
    expect(w.feed.store.size).toBe(50);
    expect(w.changes).toBe(before + 1);
  });

  it("reconnects with growing backoff and resyncs after a disconnect", async () => {
    let n = 0;
    const w = world(() => ({ seq: 10 * ++n, flows: [sum(n)], total: 1 }));
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
    const w = world(() => (++n === 1 ? { seq: 3, flows: [sum(1), sum(2)], total: 2 } : { seq: 9, flows: [], total: 0 }));
    w.feed.start();
    w.open();
    await tick();
    expect(w.feed.store.size).toBe(2);
    w.send({ type: "flows/reset", seq: 9 });
    await tick();
    expect(w.feed.store.size).toBe(0);
    expect(w.calls.length).toBe(2);
  });

  it("pages backwards with before= until it holds the total", async () => {
    const all: Summary[] = [];
    for (let i = 1; i <= PAGE * 2 + 5; i++) all.push(sum(i));
    const w = world((_q, limit, before) => {
      const upto = before ? all.filter((f) => f.id < before) : all;
      return { seq: 1, flows: upto.slice(-limit), total: upto.length };
    });
    w.feed.start();
    w.open();
    for (let i = 0; i < 5; i++) await tick();
    expect(w.feed.store.size).toBe(all.length);
    expect(w.calls.map((c) => c.before)).toEqual([undefined, PAGE + 6, 6]);
  });

  it("with a filter, refetches (throttled) instead of trusting adds, and keeps the old filter on a bad one", async () => {
    const w = world((q) => {
      if (q === "bad:") throw Object.assign(new Error("unknown key"), { status: 400 });
      return { seq: 1, flows: q ? [sum(2)] : [sum(1), sum(2)], total: q ? 1 : 2 };
    });
    w.feed.start();
    w.open();
    await tick();
    await w.feed.setFilter("status:200");
    expect(w.feed.store.size).toBe(1);
    w.send({ type: "flows/batch", seq: 2, add: [sum(3)] });
    w.send({ type: "flows/batch", seq: 3, add: [sum(4)] });
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

  it("lists one session: asks for it, keeps only its new flows, pages within it", async () => {
    const w = world((_q, _limit, before, session) => {
      const id = session === null || session === undefined ? 3 : (session as number);
      const flows = before ? [sum(1, { session: id })] : [sum(2, { session: id })];
      return { seq: 1, flows, total: 2, session: id };
    });
    w.feed.start();
    w.open();
    await tick();
    await tick();
    expect(w.feed.listedSession).toBe(3);
    expect(w.calls[0].session).toBe(null);
    // Older pages come from the session the first page was of.
    expect(w.calls[1]).toEqual({ q: "", before: 2, session: 3 });
    w.send({ type: "flows/batch", seq: 2, add: [sum(10, { session: 3 }), sum(11, { session: 4 })] });
    w.runFrames();
    expect(w.feed.store.rows().map((r) => r.id)).toEqual([1, 2, 10]);

    await w.feed.setSession(7);
    expect(w.calls.at(-1)!.session).toBe(7);
    expect(w.feed.listedSession).toBe(7);
    expect(w.feed.session).toBe(7);
  });

  it("follows the recording session: another one taking over resyncs the list, an explicit one stays", async () => {
    let recording = 3;
    const w = world((_q, _limit, _before, session) => {
      const id = session === null || session === undefined ? recording : (session as number);
      return { seq: 1, flows: [], total: 0, session: id };
    });
    w.feed.start();
    w.open();
    await tick();
    const calls = w.calls.length;
    w.feed.recordingIs(3);
    expect(w.calls.length).toBe(calls);
    recording = 4;
    w.feed.recordingIs(4);
    await tick();
    expect(w.calls.length).toBe(calls + 1);
    expect(w.feed.listedSession).toBe(4);
    await w.feed.setSession(2);
    const after = w.calls.length;
    w.feed.recordingIs(5);
    await tick();
    expect(w.calls.length).toBe(after);
    expect(w.feed.listedSession).toBe(2);
  });

  it("with every session listed, keeps every new flow", async () => {
    const w = world(() => ({ seq: 1, flows: [], total: 0, session: 0 }));
    w.feed.start();
    w.open();
    await tick();
    await w.feed.setSession("all");
    expect(w.calls.at(-1)!.session).toBe("all");
    w.send({ type: "flows/batch", seq: 2, add: [sum(1, { session: 1 }), sum(2, { session: 2 })] });
    w.runFrames();
    expect(w.feed.store.size).toBe(2);
  });
});
