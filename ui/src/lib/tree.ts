// The structure tree beside the list: which nodes are shown (expanded
// ones' children, in order), their keys, and the filter a click sets. Pure
// functions; the counts come from GET /api/tree.

import type { FlowTree } from "../api/types";

/** A node: the top (host undefined), a host's root ("/"), or a path prefix ending in "/". */
export interface TreeNodeRef {
  host?: string;
  prefix?: string;
}

/** nodeKey names a node in the maps of fetched answers and expanded nodes. */
export function nodeKey(n: TreeNodeRef): string {
  return n.host === undefined ? "" : n.host + "\u0000" + (n.prefix ?? "/");
}

/** childRef is the node of a child of an answer (undefined for a leaf path, which has no children). */
export function childRef(parent: TreeNodeRef, name: string, leaf: boolean): TreeNodeRef | undefined {
  if (leaf) return undefined;
  if (parent.host === undefined) return { host: name, prefix: "/" };
  return { host: parent.host, prefix: (parent.prefix ?? "/") + name };
}

/** One visible row of the tree. */
export interface TreeRow {
  key: string;
  label: string;
  count: number;
  depth: number;
  filter: string;
  /** The node this row opens; absent for a path that ends there. */
  node?: TreeNodeRef;
  expanded: boolean;
  /** The row's parent node key ("" at the top). */
  parent: string;
  /** A row that sums the children left out, or the flows at the prefix itself. */
  note?: "more" | "self";
}

/** rows flattens the fetched answers into the visible rows, depth first. */
export function rows(answers: Map<string, FlowTree>, expanded: Set<string>, node: TreeNodeRef = {}, depth = 0): TreeRow[] {
  const key = nodeKey(node);
  const t = answers.get(key);
  if (!t) return [];
  const out: TreeRow[] = [];
  if (t.self > 0 && t.selfFilter) {
    out.push({ key: key + "\u0001self", label: node.prefix ?? "/", count: t.self, depth, filter: t.selfFilter, expanded: false, parent: key, note: "self" });
  }
  for (const ch of t.children) {
    const ref = childRef(node, ch.name, ch.leaf);
    const k = ref ? nodeKey(ref) : key + "\u0002" + ch.name;
    const open = ref !== undefined && expanded.has(k);
    out.push({ key: k, label: node.host === undefined ? ch.name || "(no host)" : ch.name, count: ch.count, depth, filter: ch.filter, node: ref, expanded: open, parent: key });
    if (open && ref) out.push(...rows(answers, expanded, ref, depth + 1));
  }
  if (t.more > 0) {
    out.push({ key: key + "\u0003more", label: `${t.more.toLocaleString()} more`, count: t.moreCount, depth, filter: "", expanded: false, parent: key, note: "more" });
  }
  return out;
}

/**
 * withNode is the filter a click on a node sets: the user's own filter
 * (base) and the node's terms, which replace the terms of the node clicked
 * before (last) when the filter still ends with them.
 */
export function withNode(base: string, node: string): string {
  const b = base.trim();
  if (!b) return node;
  return (hasTopLevelOr(b) ? "(" + b + ")" : b) + " " + node;
}

/** hasTopLevelOr says whether a filter has an `or` (or `|`) outside quotes and parentheses, which would bind looser than the node's terms. */
export function hasTopLevelOr(q: string): boolean {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (depth === 0 && c === "|") return true;
    else if (depth === 0 && (c === "o" || c === "O") && (i === 0 || /\s/.test(q[i - 1])) && /^or(\s|$)/i.test(q.slice(i, i + 3))) return true;
  }
  return false;
}

/** baseOf is the user's part of the filter: the current one without the node terms a click added (last). */
export function baseOf(current: string, last: string): string {
  const c = current.trim();
  if (!last) return c;
  if (c === last) return "";
  if (c.endsWith(" " + last)) return c.slice(0, c.length - last.length - 1).trim();
  return c;
}
