// Comparing two flows: header fields matched by name (case-insensitive),
// bodies as text diffed by lines (JSON pretty-printed with sorted keys
// first, so that the diff follows the structure and not the key order or
// the spacing), and the line diff folded or paired for the two views.
// Pure functions; the diff algorithm is the `diff` package's.

import { diffLines } from "diff";
import type { Field } from "../api/types";

/** How much of each body is compared. */
export const DIFF_CAP = 1 << 20;

export type RowKind = "same" | "added" | "removed" | "changed";

/** One header name (or one start-line part) on both sides. */
export interface FieldRow {
  name: string;
  kind: RowKind;
  left?: string;
  right?: string;
}

/**
 * diffFields pairs the fields of two messages by name, ignoring case;
 * repeated fields are compared as their values in order (joined by
 * newlines). Rows follow the left side's order, then the fields only the
 * right side has.
 */
export function diffFields(a: Field[] | null | undefined, b: Field[] | null | undefined): FieldRow[] {
  const group = (fs: Field[] | null | undefined) => {
    const m = new Map<string, { name: string; values: string[] }>();
    for (const f of fs ?? []) {
      const k = f.name.toLowerCase();
      const g = m.get(k);
      if (g) g.values.push(f.value);
      else m.set(k, { name: f.name, values: [f.value] });
    }
    return m;
  };
  const l = group(a);
  const r = group(b);
  const rows: FieldRow[] = [];
  for (const [k, g] of l) {
    const o = r.get(k);
    const left = g.values.join("\n");
    if (!o) rows.push({ name: g.name, kind: "removed", left });
    else {
      const right = o.values.join("\n");
      rows.push({ name: g.name, kind: left === right ? "same" : "changed", left, right });
    }
  }
  for (const [k, g] of r) if (!l.has(k)) rows.push({ name: g.name, kind: "added", right: g.values.join("\n") });
  return rows;
}

/** valueRow compares one named value (method, URL, status) on both sides. */
export function valueRow(name: string, left: string | undefined, right: string | undefined): FieldRow {
  if (left === undefined) return { name, kind: right === undefined ? "same" : "added", right };
  if (right === undefined) return { name, kind: "removed", left };
  return { name, kind: left === right ? "same" : "changed", left, right };
}

/** sortKeys returns a copy of a JSON value whose objects have their keys in order. */
export function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/**
 * canonical is the text a body is diffed as: JSON (by content type, or
 * text that parses as an object or array) pretty-printed with sorted keys;
 * anything else as it is. A body cut at the cap is not valid JSON and is
 * compared as text.
 */
export function canonical(text: string, contentType = ""): { text: string; json: boolean } {
  const t = text.trim();
  const looks = /json/i.test(contentType) || t.startsWith("{") || t.startsWith("[");
  if (!looks || t === "") return { text, json: false };
  try {
    return { text: JSON.stringify(sortKeys(JSON.parse(t)), null, 2) + "\n", json: true };
  } catch {
    return { text, json: false };
  }
}

/** One line of a line diff, with its numbers on each side (0: not there). */
export interface DiffLine {
  kind: "same" | "added" | "removed";
  text: string;
  oldNo: number;
  newNo: number;
}

function splitLines(v: string): string[] {
  const ls = v.split("\n");
  if (ls.length > 1 && ls[ls.length - 1] === "") ls.pop();
  return ls;
}

/**
 * diffText diffs two texts by lines. It gives up (null) past the time
 * budget, so two large, very different bodies do not hang the page.
 */
export function diffText(a: string, b: string, timeoutMs = 3000): DiffLine[] | null {
  const changes = diffLines(a, b, { timeout: timeoutMs });
  if (!changes) return null;
  const out: DiffLine[] = [];
  let o = 0;
  let n = 0;
  for (const c of changes) {
    for (const text of splitLines(c.value)) {
      if (c.added) out.push({ kind: "added", text, oldNo: 0, newNo: ++n });
      else if (c.removed) out.push({ kind: "removed", text, oldNo: ++o, newNo: 0 });
      else out.push({ kind: "same", text, oldNo: ++o, newNo: ++n });
    }
  }
  return out;
}

/** A run of unchanged lines left out of a view. */
export interface Fold {
  kind: "fold";
  count: number;
}

/** fold keeps `context` unchanged lines around each change and folds longer runs. */
export function fold(lines: DiffLine[], context = 3): (DiffLine | Fold)[] {
  const out: (DiffLine | Fold)[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].kind !== "same") {
      out.push(lines[i++]);
      continue;
    }
    let j = i;
    while (j < lines.length && lines[j].kind === "same") j++;
    const head = i === 0 ? 0 : context;
    const tail = j === lines.length ? 0 : context;
    if (j - i > head + tail + 1) {
      out.push(...lines.slice(i, i + head), { kind: "fold", count: j - i - head - tail }, ...lines.slice(j - tail, j));
    } else out.push(...lines.slice(i, j));
    i = j;
  }
  return out;
}

/** One row of the side-by-side view: a line on either side, or both. */
export interface SideRow {
  left?: DiffLine;
  right?: DiffLine;
}

/** sideBySide pairs each run of removed lines with the added lines that follow it. */
export function sideBySide(lines: (DiffLine | Fold)[]): (SideRow | Fold)[] {
  const out: (SideRow | Fold)[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i];
    if (l.kind === "fold") {
      out.push(l);
      i++;
      continue;
    }
    if (l.kind === "same") {
      out.push({ left: l, right: l });
      i++;
      continue;
    }
    const rem: DiffLine[] = [];
    const add: DiffLine[] = [];
    while (i < lines.length && lines[i].kind === "removed") rem.push(lines[i++] as DiffLine);
    while (i < lines.length && lines[i].kind === "added") add.push(lines[i++] as DiffLine);
    for (let k = 0; k < Math.max(rem.length, add.length); k++) out.push({ left: rem[k], right: add[k] });
  }
  return out;
}

/** changed reports whether a line diff holds any change. */
export function changed(lines: DiffLine[]): boolean {
  return lines.some((l) => l.kind !== "same");
}
