import { describe, expect, it } from "vitest";
import type { BatchMessage } from "../api/types";
import { FlowStore, shortType } from "./flowstore";
import { sum } from "./testdata";

const batch = (seq: number, b: Partial<BatchMessage>): BatchMessage => ({ type: "flows/batch", seq, add: [], update: [], remove: [], ...b });

describe("FlowStore", () => {
  it("drops batches at or below the snapshot seq and applies newer ones", () => {
    const s = new FlowStore();
    s.reset(10, [sum(1), sum(2)], 2);
    const changed = s.applyBatches([
      batch(9, { add: [sum(99)] }),
      batch(10, { update: [sum(1, { status: 500 })] }),
      batch(11, { add: [sum(3)], update: [sum(2, { status: 404 })] }),
    ]);
    expect(changed).toBe(true);
    expect(s.rows().map((r) => r.id)).toEqual([1, 2, 3]);
    expect(s.get(1)!.status).toBe(200); // seq 10 was in the snapshot
    expect(s.get(2)!.status).toBe(404);
    expect(s.get(99)).toBeUndefined();
    expect(s.snapshotSeq).toBe(10);
    expect(s.total).toBe(3);
  });

  it("applies every batch newer than the snapshot, even two with the same seq", () => {
    const s = new FlowStore();
    s.reset(10, [], 0);
    s.applyBatches([batch(12, { add: [sum(1)] })]);
    s.applyBatches([batch(12, { add: [sum(2)] })]);
    expect(s.rows().map((r) => r.id)).toEqual([1, 2]);
  });

  it("removes flows and ignores updates for flows it does not hold", () => {
    const s = new FlowStore();
    s.reset(0, [sum(1), sum(2), sum(3)]);
    s.applyBatches([batch(1, { remove: [1, 3, 42], update: [sum(7)] })]);
    expect(s.rows().map((r) => r.id)).toEqual([2]);
    expect(s.total).toBe(1);
  });

  it("returns false and keeps the version when nothing changed", () => {
    const s = new FlowStore();
    s.reset(5, [sum(1)]);
    const v = s.version;
    expect(s.applyBatches([batch(4, { add: [sum(2)] })])).toBe(false);
    expect(s.version).toBe(v);
  });

  it("counts snapshots, not batches or pages", () => {
    const s = new FlowStore();
    s.reset(5, [sum(1)]);
    const n = s.snapshots;
    s.applyBatches([batch(6, { add: [sum(2)], remove: [1] })]);
    s.prepend([sum(0)]);
    expect(s.snapshots).toBe(n);
    s.reset(5, [sum(1)]);
    expect(s.snapshots).toBe(n + 1);
  });

  it("keeps ID order when an add arrives out of order and after paging", () => {
    const s = new FlowStore();
    s.reset(0, [sum(10), sum(11)]);
    s.applyBatches([batch(1, { add: [sum(13), sum(12)] })]);
    s.prepend([sum(5), sum(6)]);
    expect(s.rows().map((r) => r.id)).toEqual([5, 6, 10, 11, 12, 13]);
  });

  it("sorts by a column, ties by ID, and memoises per version", () => {
    const s = new FlowStore();
    s.reset(0, [sum(1, { status: 404 }), sum(2, { status: 200 }), sum(3, { status: 404 })]);
    expect(s.rows("status", "asc").map((r) => r.id)).toEqual([2, 1, 3]);
    expect(s.rows("status", "desc").map((r) => r.id)).toEqual([3, 1, 2]);
    expect(s.rows("size", "asc")).toBe(s.rows("size", "asc"));
    const before = s.rows("size", "asc");
    s.applyBatches([batch(1, { add: [sum(4)] })]);
    expect(s.rows("size", "asc")).not.toBe(before);
  });

  it("filtered batches upsert matching flows and drop the others it holds", () => {
    const s = new FlowStore();
    s.reset(0, [sum(1), sum(2)], 2);
    // 3 is new and matches; 1 changed and matches; 2 stopped matching; 9 never held.
    s.applyBatches([batch(1, { add: [sum(3), sum(1, { status: 503 })], remove: [2, 9] })], true);
    expect(s.rows().map((r) => r.id)).toEqual([1, 3]);
    expect(s.get(1)!.status).toBe(503);
    expect(s.total).toBe(2);
    // An update for a flow not held, from a filtered stream, is a flow that started matching.
    s.applyBatches([batch(2, { update: [sum(4)] })], true);
    expect(s.rows().map((r) => r.id)).toEqual([1, 3, 4]);
    expect(s.total).toBe(3);
  });

  it("pages backwards by cursor and keeps flows beyond the window out", () => {
    const s = new FlowStore();
    s.reset(5, [sum(8), sum(9), sum(10)], 10, { next: 8 });
    expect(s.oldest).toBe(8);
    // A filtered add older than the window is not inserted: its page is not loaded.
    s.applyBatches([batch(6, { add: [sum(2)] })], true);
    expect(s.size).toBe(3);
    s.prepend([sum(5), sum(6), sum(7)], 5);
    expect(s.rows().map((r) => r.id)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(s.next).toBe(5);
    // Unfiltered, a removal beyond the window still counts down the total.
    s.applyBatches([batch(7, { remove: [1] })]);
    expect(s.total).toBe(9);
    s.prepend([sum(1), sum(3)], 0);
    expect(s.next).toBe(0);
    expect(s.size).toBe(8);
  });

  it("handles 100,000 flows in batches quickly", () => {
    const s = new FlowStore();
    s.reset(0, []);
    const t0 = performance.now();
    for (let seq = 1; seq <= 100; seq++) {
      const add = [];
      for (let i = 0; i < 1000; i++) add.push(sum((seq - 1) * 1000 + i + 1));
      s.applyBatches([batch(seq, { add })]);
    }
    expect(s.size).toBe(100000);
    expect(s.rows().length).toBe(100000);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("shortType", () => {
  it.each([
    ["application/json; charset=utf-8", "json"],
    ["application/problem+json", "json"],
    ["text/html", "html"],
    ["text/javascript", "js"],
    ["image/png", "png"],
    ["image/svg+xml", "svg"],
    ["text/plain", "text"],
    ["application/octet-stream", "binary"],
    ["", ""],
  ])("%s -> %s", (ct, want) => expect(shortType(ct)).toBe(want));
});
