import { describe, expect, it } from "vitest";
import type { FlowTree } from "../api/types";
import { baseOf, childRef, nodeKey, rows, withNode } from "./tree";

const answer = (t: Partial<FlowTree>): FlowTree => ({ seq: 0, children: [], more: 0, moreCount: 0, self: 0, total: 0, complete: true, session: 1, ...t });

describe("tree rows", () => {
  it("shows expanded nodes' children under them, with the prefix's own flows and the rest summed", () => {
    const answers = new Map<string, FlowTree>([
      ["", answer({ children: [{ name: "a.test", count: 3, leaf: false, filter: "host:a.test" }, { name: "b.test", count: 1, leaf: false, filter: "host:b.test" }], more: 2, moreCount: 5 })],
      [nodeKey({ host: "a.test", prefix: "/" }), answer({ host: "a.test", prefix: "/", self: 1, selfFilter: "host:a.test path:/", children: [{ name: "v1/", count: 1, leaf: false, filter: "host:a.test path:/v1/*" }, { name: "x", count: 1, leaf: true, filter: "host:a.test path:/x" }] })],
    ]);
    const r = rows(answers, new Set([nodeKey({ host: "a.test", prefix: "/" })]));
    expect(r.map((x) => [x.label, x.count, x.depth, x.note ?? "", x.expanded])).toEqual([
      ["a.test", 3, 0, "", true],
      ["/", 1, 1, "self", false],
      ["v1/", 1, 1, "", false],
      ["x", 1, 1, "", false],
      ["b.test", 1, 0, "", false],
      ["2 more", 5, 0, "more", false],
    ]);
    expect(r[2].node).toEqual({ host: "a.test", prefix: "/v1/" });
    expect(r[3].node).toBeUndefined();
  });
  it("names child nodes", () => {
    expect(childRef({}, "h", false)).toEqual({ host: "h", prefix: "/" });
    expect(childRef({ host: "h", prefix: "/a/" }, "b/", false)).toEqual({ host: "h", prefix: "/a/b/" });
    expect(childRef({ host: "h", prefix: "/a/" }, "b", true)).toBeUndefined();
  });
});

describe("tree filters", () => {
  it("adds the node's terms to the user's filter and replaces the previous node's", () => {
    const f1 = withNode("method:GET", "host:a.test");
    expect(f1).toBe("method:GET host:a.test");
    const base = baseOf(f1, "host:a.test");
    expect(base).toBe("method:GET");
    expect(withNode(base, "host:a.test path:/v1/*")).toBe("method:GET host:a.test path:/v1/*");
    expect(baseOf("host:a.test", "host:a.test")).toBe("");
    // The user edited the filter: it is all theirs.
    expect(baseOf("status:5xx", "host:a.test")).toBe("status:5xx");
    expect(withNode("", "host:b.test")).toBe("host:b.test");
    // An or in the user's filter binds looser than the node's terms: it is grouped first.
    expect(withNode("status:404 or status:500", "host:b.test")).toBe("(status:404 or status:500) host:b.test");
    expect(withNode("status:404 | status:500", "host:b.test")).toBe("(status:404 | status:500) host:b.test");
    expect(withNode("(status:404 or status:500) method:GET", "host:b.test")).toBe("(status:404 or status:500) method:GET host:b.test");
    expect(withNode('body:"this or that" origin', "host:b.test")).toBe('body:"this or that" origin host:b.test');
  });
});
