// The structure tree beside the flow list (as Charles' Structure view):
// hosts, then path segments, each with how many flows match the filter
// under it. The counts come from the server (GET /api/tree), one node at a
// time as nodes open; a click (or Enter) filters the list to the node.
// New flows re-fetch the open nodes, at most every two seconds.

import { signal } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import type { FlowTree } from "../api/types";
import { appState, applyFilter, filterText, flowsVersion, reportError, viewSession } from "../state";
import { baseOf, rows, withNode, type TreeNodeRef, type TreeRow } from "../lib/tree";

const STORE_KEY = "loupe.tree";
/** Whether the tree is shown (kept in this browser). */
export const treeShown = signal(localStorage.getItem(STORE_KEY) === "1");
/** The node terms the last click added to the filter (replaced by the next click). */
const lastNode = signal("");
const REFRESH_MS = 2000;
/** Open nodes re-fetched per refresh, at most. */
const MAX_REFRESH = 30;

export function TreeToggle() {
  return (
    <button
      class={"btn" + (treeShown.value ? " on" : "")}
      aria-pressed={treeShown.value}
      onClick={() => {
        treeShown.value = !treeShown.value;
        localStorage.setItem(STORE_KEY, treeShown.value ? "1" : "0");
      }}
      title="Show or hide the hosts and paths beside the list"
      data-testid="tree-toggle"
    >
      Structure
    </button>
  );
}

export function TreePane() {
  if (!treeShown.value) return null;
  return <Tree />;
}

function Tree() {
  const [answers, setAnswers] = useState(() => new Map<string, FlowTree>());
  const [expanded, setExpanded] = useState(() => new Set<string>());
  const [focus, setFocus] = useState("");
  const refs = useRef(new Map<string, TreeNodeRef>([["", {}]]));
  const ref = useRef<HTMLDivElement>(null);
  const base = baseOf(filterText.value, lastNode.value);
  const session = viewSession.value;
  const gen = useRef(0);

  const fetchNodes = async (keys: string[]) => {
    const g = gen.current;
    const got = await Promise.all(
      keys.map(async (k) => {
        try {
          return [k, await api.tree(base, refs.current.get(k) ?? {}, session)] as const;
        } catch (err) {
          reportError("Structure", err);
          return null;
        }
      }),
    );
    if (g !== gen.current) return; // the filter or session changed meanwhile
    setAnswers((prev) => {
      const next = new Map(prev);
      for (const a of got) if (a) next.set(a[0], a[1]);
      return next;
    });
  };

  // A new filter or session: start over from the top, keeping open nodes open.
  useEffect(() => {
    gen.current++;
    setAnswers(new Map());
    void fetchNodes(["", ...[...expanded].slice(0, MAX_REFRESH)]);
  }, [base, session]);

  // New flows: re-fetch the open nodes, throttled. The timer runs the
  // refresh of the latest render: a change while it waits is dropped, so
  // the refresh must fetch the nodes open (and the filter set) when it
  // fires, not those of the render that set it.
  const version = flowsVersion.value;
  const flows = appState.value.flows;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const last = useRef(0);
  const refresh = useRef(() => {});
  refresh.current = () => void fetchNodes(["", ...[...expanded].slice(0, MAX_REFRESH)]);
  useEffect(() => {
    if (timer.current) return;
    const wait = Math.max(0, last.current + REFRESH_MS - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      refresh.current();
    }, wait);
  }, [version, flows]);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);

  const visible = rows(answers, expanded);
  const toggle = (r: TreeRow, open?: boolean) => {
    if (!r.node) return;
    const next = new Set(expanded);
    const want = open ?? !expanded.has(r.key);
    if (want) {
      next.add(r.key);
      refs.current.set(r.key, r.node);
      if (!answers.has(r.key)) void fetchNodes([r.key]);
    } else next.delete(r.key);
    setExpanded(next);
  };
  const choose = (r: TreeRow) => {
    setFocus(r.key);
    if (!r.filter) return;
    lastNode.value = r.filter;
    void applyFilter(withNode(base, r.filter));
  };
  const clearNode = () => {
    lastNode.value = "";
    void applyFilter(base);
  };

  const onKey = (e: KeyboardEvent) => {
    if (visible.length === 0) return;
    let i = visible.findIndex((r) => r.key === focus);
    const r = i >= 0 ? visible[i] : undefined;
    switch (e.key) {
      case "ArrowDown":
        i = Math.min(visible.length - 1, i + 1);
        break;
      case "ArrowUp":
        i = i < 0 ? 0 : Math.max(0, i - 1);
        break;
      case "Home":
        i = 0;
        break;
      case "End":
        i = visible.length - 1;
        break;
      case "ArrowRight":
        if (r?.node && !r.expanded) toggle(r, true);
        else if (r?.expanded) i++;
        break;
      case "ArrowLeft":
        if (r?.expanded) toggle(r, false);
        else if (r) i = visible.findIndex((x) => x.key === r.parent);
        break;
      case "Enter":
      case " ":
        if (r) choose(r);
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    const to = visible[Math.max(0, Math.min(visible.length - 1, i))];
    if (to) {
      setFocus(to.key);
      ref.current?.querySelector(`[data-key="${CSS.escape(to.key)}"]`)?.scrollIntoView({ block: "nearest" });
    }
  };

  const top = answers.get("");
  return (
    <nav class="tree" aria-label="Hosts and paths" data-testid="tree">
      <div class="treehead">
        <span>Structure</span>
        {lastNode.value && filterText.value.trim().endsWith(lastNode.value) && (
          <button class="link" onClick={clearNode} title="Remove the node's terms from the filter" data-testid="tree-clear">
            show all
          </button>
        )}
      </div>
      <div class="treebody" role="tree" tabIndex={0} ref={ref} onKeyDown={onKey} onFocus={() => !focus && visible[0] && setFocus(visible[0].key)}>
        {visible.map((r) => (
          <div
            key={r.key}
            data-key={r.key}
            role="treeitem"
            aria-level={r.depth + 1}
            aria-expanded={r.node ? r.expanded : undefined}
            aria-selected={r.key === focus}
            class={"trow" + (r.key === focus ? " focus" : "") + (r.note ? " " + r.note : "") + (r.filter && filterText.value.trim().endsWith(r.filter) ? " on" : "")}
            style={{ paddingLeft: 6 + r.depth * 14 + "px" }}
            onClick={() => choose(r)}
            data-testid="tree-row"
            title={r.note === "more" ? "The busiest children are shown; these are the rest" : r.filter}
          >
            <span
              class="twisty"
              onClick={(e) => {
                e.stopPropagation();
                toggle(r);
              }}
            >
              {r.node ? (r.expanded ? "▾" : "▸") : ""}
            </span>
            <span class="tlabel">{r.label}</span>
            <span class="tcount">{r.count.toLocaleString()}</span>
          </div>
        ))}
        {top && top.children.length === 0 && <p class="muted small">No flows.</p>}
      </div>
      {top && !top.complete && (
        <div class="muted small treefoot" data-testid="tree-scan-note">
          counted in the newest {(top.scanned ?? 0).toLocaleString()} candidate flows
        </div>
      )}
    </nav>
  );
}
