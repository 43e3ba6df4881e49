import { describe, expect, it } from "vitest";
import { canonical, diffFields, diffText, fold, sideBySide, sortKeys, valueRow, type DiffLine } from "./diff";

describe("diffFields", () => {
  it("matches names ignoring case and says what changed", () => {
    const rows = diffFields(
      [
        { name: "Content-Type", value: "application/json" },
        { name: "X-Old", value: "1" },
        { name: "Cache-Control", value: "no-cache" },
        { name: "Set-Cookie", value: "a=1" },
        { name: "Set-Cookie", value: "b=2" },
      ],
      [
        { name: "content-type", value: "application/json" },
        { name: "Cache-Control", value: "max-age=60" },
        { name: "set-cookie", value: "a=1" },
        { name: "SET-COOKIE", value: "b=2" },
        { name: "X-New", value: "2" },
      ],
    );
    expect(rows.map((r) => [r.name, r.kind])).toEqual([
      ["Content-Type", "same"],
      ["X-Old", "removed"],
      ["Cache-Control", "changed"],
      ["Set-Cookie", "same"],
      ["X-New", "added"],
    ]);
    expect(rows[2]).toMatchObject({ left: "no-cache", right: "max-age=60" });
  });
  it("compares repeated fields in order", () => {
    const rows = diffFields(
      [
        { name: "Via", value: "a" },
        { name: "Via", value: "b" },
      ],
      [
        { name: "via", value: "b" },
        { name: "via", value: "a" },
      ],
    );
    expect(rows).toEqual([{ name: "Via", kind: "changed", left: "a\nb", right: "b\na" }]);
  });
  it("takes absent field lists as empty", () => {
    expect(diffFields(null, undefined)).toEqual([]);
    expect(diffFields(null, [{ name: "A", value: "1" }])).toEqual([{ name: "A", kind: "added", right: "1" }]);
  });
});

describe("valueRow", () => {
  it("compares one value", () => {
    expect(valueRow("Status", "200", "200").kind).toBe("same");
    expect(valueRow("Status", "200", "404").kind).toBe("changed");
    expect(valueRow("Status", undefined, "404").kind).toBe("added");
    expect(valueRow("Status", "200", undefined).kind).toBe("removed");
  });
});

describe("canonical", () => {
  it("pretty-prints JSON with sorted keys, at every depth", () => {
    expect(sortKeys({ b: 1, a: [{ d: 1, c: 2 }] })).toEqual({ a: [{ c: 2, d: 1 }], b: 1 });
    const a = canonical('{"b":1,"a":{"y":2,"x":1}}', "application/json");
    const b = canonical('{ "a": { "x": 1, "y": 2 }, "b": 1 }', "");
    expect(a.json).toBe(true);
    expect(a.text).toBe(b.text);
    expect(a.text).toBe('{\n  "a": {\n    "x": 1,\n    "y": 2\n  },\n  "b": 1\n}\n');
  });
  it("keeps text, and JSON that does not parse (a body cut at the cap), as it is", () => {
    expect(canonical("hello {", "text/plain")).toEqual({ text: "hello {", json: false });
    expect(canonical('{"a": [1, 2', "application/json")).toEqual({ text: '{"a": [1, 2', json: false });
    expect(canonical("", "application/json")).toEqual({ text: "", json: false });
  });
  it("makes a JSON diff structural: a reordered object differs only in the changed value", () => {
    const a = canonical('{"id":1,"name":"a","tags":["x"]}').text;
    const b = canonical('{"tags":["x"],"name":"b","id":1}').text;
    const d = diffText(a, b)!;
    expect(d.filter((l) => l.kind !== "same").map((l) => [l.kind, l.text])).toEqual([
      ["removed", '  "name": "a",'],
      ["added", '  "name": "b",'],
    ]);
  });
});

describe("diffText", () => {
  it("numbers the lines of each side", () => {
    const d = diffText("a\nb\nc\n", "a\nB\nc\nd\n")!;
    expect(d).toEqual([
      { kind: "same", text: "a", oldNo: 1, newNo: 1 },
      { kind: "removed", text: "b", oldNo: 2, newNo: 0 },
      { kind: "added", text: "B", oldNo: 0, newNo: 2 },
      { kind: "same", text: "c", oldNo: 3, newNo: 3 },
      { kind: "added", text: "d", oldNo: 0, newNo: 4 },
    ]);
  });
  it("handles text without a final newline and empty sides", () => {
    expect(diffText("", "")).toEqual([]);
    expect(diffText("", "x")).toEqual([{ kind: "added", text: "x", oldNo: 0, newNo: 1 }]);
  });
});

describe("fold and sideBySide", () => {
  const same = (n: number, from = 1): DiffLine[] => Array.from({ length: n }, (_, i) => ({ kind: "same", text: "l" + (from + i), oldNo: from + i, newNo: from + i }));
  it("folds long unchanged runs, keeping context around changes", () => {
    const lines: DiffLine[] = [...same(10), { kind: "removed", text: "x", oldNo: 11, newNo: 0 }, ...same(10, 12)];
    const f = fold(lines, 3);
    expect(f.map((l) => (l.kind === "fold" ? "fold " + l.count : l.kind))).toEqual([
      "fold 7",
      "same",
      "same",
      "same",
      "removed",
      "same",
      "same",
      "same",
      "fold 7",
    ]);
    expect(fold(same(5))).toEqual([{ kind: "fold", count: 5 }]);
  });
  it("pairs removed lines with the added ones that follow", () => {
    const d = diffText("a\nb\nc\nz\n", "a\nB\nz\n")!;
    const rows = sideBySide(d);
    expect(rows.map((r) => ("kind" in r ? "fold" : [r.left?.text ?? null, r.right?.text ?? null]))).toEqual([
      ["a", "a"],
      ["b", "B"],
      ["c", null],
      ["z", "z"],
    ]);
  });
});
