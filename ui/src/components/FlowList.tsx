// The flow list: fixed-height rows, virtualized (only the rows in view plus
// a few are in the DOM). The scroll range covers the server's total (up to
// MAX_HELD rows); the browser holds the newest matching flows the server
// paged to it, and the rows not loaded yet show as placeholders: when one
// scrolls into view, the next older page is fetched by cursor, so a million
// flows never reach the browser at once. Rows keep their place as pages
// arrive. It sticks to the newest flow until the user scrolls away, and it
// takes the keyboard.

import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Summary } from "../api/types";
import { fmtDuration, fmtSize, statusClass } from "../lib/format";
import { shownPort } from "../lib/port";
import { kindBadge, kindPath } from "../lib/tunnel";
import { grpcCodeName } from "../lib/grpc";
import { shortType, type SortKey } from "../store/flowstore";
import { heldIds } from "../held-state";
import { appState, detailOpen, filterText, flowsVersion, getFeed, isPaused, listedName, listedSession, select, selectedId, sort } from "../state";
import { MAX_HELD } from "../store/feed";
import { compareClick } from "./Diff";
import { annotateKey, openRowMenu, RowMarks, RowMenu } from "./Annotate";

export const ROW_H = 24;
const OVERSCAN = 12;

const COLUMNS: { key: SortKey | "badges"; label: string; cls: string }[] = [
  { key: "id", label: "#", cls: "c-id" },
  { key: "method", label: "Method", cls: "c-method" },
  { key: "host", label: "Host", cls: "c-host" },
  { key: "path", label: "Path", cls: "c-path" },
  { key: "status", label: "Status", cls: "c-status" },
  { key: "type", label: "Type", cls: "c-type" },
  { key: "size", label: "Size", cls: "c-size" },
  { key: "duration", label: "Time", cls: "c-dur" },
  { key: "badges", label: "", cls: "c-badges" },
];

export function Badges({ s }: { s: Summary }) {
  const out = [];
  if (s.grpcStatus !== undefined && s.grpcStatus !== null) {
    const name = grpcCodeName(s.grpcStatus);
    out.push(
      <span class={"badge " + (s.grpcStatus === 0 ? "b-grpc-ok" : "b-grpc-err")} title={`gRPC ${name} (${s.grpcStatus})${s.grpcMessage ? ": " + s.grpcMessage : ""}`} data-testid="grpc-badge">
        {name}
      </span>,
    );
  }
  if (s.overridden) out.push(<span class={`badge b-${s.overridden}`} title={`Response produced by a rule (${s.overridden})`}>{s.overridden}</span>);
  else if (s.rules && s.rules.length) out.push(<span class="badge b-rule" title={`Touched by ${s.rules.join(", ")}`}>rule</span>);
  const kind = kindBadge(s.kind);
  if (kind) out.push(<span class={"badge " + kind.cls} title={kind.title + (s.error ? ": " + s.error : "")}>{kind.label}</span>);
  if (s.error && s.kind !== "tls-error") out.push(<span class="badge b-error" title={s.error}>error</span>);
  if (s.websocket) out.push(<span class="badge b-ws" title="WebSocket">ws</span>);
  if (s.replayOf) out.push(<span class="badge b-replay" title={`Replay of #${s.replayOf}`}>replay</span>);
  if (s.composed) out.push(<span class="badge b-composed" title={s.composedFrom ? `Edited from #${s.composedFrom} and sent from the dashboard` : "Written and sent from the dashboard"}>composed</span>);
  if (s.state === "pending" && heldIds.value.has(s.id)) out.push(<span class="badge b-held" title="Held by a breakpoint">held</span>);
  if (s.imported) out.push(<span class="badge b-imported" title="Imported from HAR">har</span>);
  return <>{out}</>;
}

function Row({ s, top, selected }: { s: Summary; top: number; selected: boolean }) {
  const st = s.status ? String(s.status) : s.state === "pending" ? "…" : s.error ? "ERR" : "";
  const port = shownPort(s.scheme, s.port);
  return (
    <div
      class={"row" + (selected ? " sel" : "") + (s.error || s.grpcStatus ? " err" : "") + (s.state === "pending" ? " pending" : "") + (s.kind ? " k-" + s.kind : "")}
      style={{ transform: `translateY(${top}px)` }}
      data-id={s.id}
      onMouseDown={(e) => {
        if (compareClick(s.id, e)) return;
        select(s.id);
        detailOpen.value = true;
      }}
      onContextMenu={(e) => openRowMenu(e, s.id)}
    >
      <span class="c-id"><RowMarks s={s} />{s.id}</span>
      <span class={"c-method m-" + s.method.toLowerCase()}>{s.method}</span>
      <span class={"c-host" + (port ? " hp" : "")} title={s.host + (s.port ? ":" + s.port : "")}>
        {port ? (
          <>
            <span class="hname">{s.host}</span>
            <span class="hport">:{port}</span>
          </>
        ) : (
          s.host
        )}
      </span>
      <span class="c-path" title={s.kind ? s.url + " · " + kindPath(s) : s.url}>{s.kind ? kindPath(s) : s.path}</span>
      <span class={"c-status " + statusClass(s.status)}>{st}</span>
      <span class="c-type" title={s.contentType}>{shortType(s.contentType)}</span>
      <span class="c-size">{s.state === "pending" && !s.size ? "" : fmtSize(s.size)}</span>
      <span class="c-dur">{fmtDuration(s.duration)}</span>
      <span class="c-badges">
        <Badges s={s} />
      </span>
    </div>
  );
}

export function FlowList() {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const stick = useRef(true);
  const version = flowsVersion.value;
  const { key, dir } = sort.value;
  const feed = getFeed();
  const store = feed.store;
  const rows = store.rows(key, dir);
  const more = feed.hasMore;
  // Placeholders for the flows not loaded yet sit at the old end: the top
  // when newest is at the bottom (# ascending), else the bottom.
  const oldAtTop = !(key === "id" && dir === "desc");
  const count = more ? Math.max(rows.length + 1, Math.min(store.total, MAX_HELD)) : rows.length;
  const lead = oldAtTop ? count - rows.length : 0;
  const sel = selectedId.value;
  // Newest flows are at the bottom when sorted by # ascending, at the top when descending.
  const newestAtBottom = key === "id" && dir === "asc";

  useLayoutEffect(() => {
    const el = ref.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // Follow the newest flow while stuck; otherwise pick up the scroll position
  // the browser clamped when the list got shorter.
  useLayoutEffect(() => {
    const el = ref.current!;
    if (!stick.current) {
      if (el.scrollTop !== scrollTop) setScrollTop(el.scrollTop);
      return;
    }
    const target = newestAtBottom ? el.scrollHeight - el.clientHeight : 0;
    if (Math.abs(el.scrollTop - target) > 1) {
      el.scrollTop = target;
      setScrollTop(el.scrollTop);
    }
  }, [version, newestAtBottom, rows.length, height]);

  const onScroll = () => {
    const el = ref.current!;
    setScrollTop(el.scrollTop);
    stick.current = newestAtBottom ? el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_H / 2 : el.scrollTop <= ROW_H / 2;
  };

  const scrollToIndex = (i: number) => {
    const el = ref.current!;
    const y = (i + lead) * ROW_H;
    if (y < el.scrollTop) el.scrollTop = y;
    else if (y + ROW_H > el.scrollTop + el.clientHeight) el.scrollTop = y + ROW_H - el.clientHeight;
  };

  // Keep the selection in view when it moves by keyboard.
  const selIndex = sel === null ? -1 : indexOf(rows, sel);

  const onKey = (e: KeyboardEvent) => {
    if (e.target !== ref.current) return;
    const page = Math.max(1, Math.floor(height / ROW_H) - 1);
    let i = selIndex;
    switch (e.key) {
      case "ArrowDown":
      case "j":
        i = i < 0 ? 0 : Math.min(rows.length - 1, i + 1);
        break;
      case "ArrowUp":
      case "k":
        i = i < 0 ? rows.length - 1 : Math.max(0, i - 1);
        break;
      case "PageDown":
        i = Math.min(rows.length - 1, Math.max(0, i) + page);
        break;
      case "PageUp":
        i = Math.max(0, i - page);
        break;
      case "Home":
        i = 0;
        break;
      case "End":
        i = rows.length - 1;
        break;
      case "Enter":
        if (sel !== null) detailOpen.value = true;
        e.preventDefault();
        return;
      case "Escape":
        if (detailOpen.value && sel !== null) detailOpen.value = false;
        else select(null);
        e.preventDefault();
        return;
      default:
        if (sel !== null && annotateKey(e, sel)) e.preventDefault();
        return;
    }
    e.preventDefault();
    if (i >= 0 && i < rows.length) {
      select(rows[i].id);
      scrollToIndex(i);
      stick.current = false;
      if (newestAtBottom && i === rows.length - 1) stick.current = true;
    }
  };

  useEffect(() => {
    // Focus the list at start so the arrow keys work at once.
    ref.current?.focus({ preventScroll: true });
  }, []);

  // The state may still hold a position past the end of a list that just shrank.
  const top = Math.max(0, Math.min(scrollTop, count * ROW_H - height));
  const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
  const last = Math.min(count, Math.ceil((top + height) / ROW_H) + OVERSCAN);
  const visible = [];
  let loadingInView = false;
  for (let i = first; i < last; i++) {
    const r = i - lead;
    if (r < 0 || r >= rows.length) {
      loadingInView = true;
      visible.push(
        <div key={"ph" + i} class="row loading" style={{ transform: `translateY(${i * ROW_H}px)` }} data-testid="flow-loading">
          <span class="muted">loading…</span>
        </div>,
      );
      continue;
    }
    const s = rows[r];
    visible.push(<Row key={s.id} s={s} top={i * ROW_H} selected={s.id === sel} />);
  }
  // The loading row in view (or close to it) fetches the next page.
  useEffect(() => {
    if (loadingInView) void feed.loadMore();
  }, [loadingInView, version]);
  const windowSorted = key !== "id" && (more || store.size < store.total);
  const total = Math.max(store.total, rows.length);

  return (
    <div class="flowlist">
      <div class="row head" role="row">
        {COLUMNS.map((c) => (
          <span
            class={c.cls + (c.key === key ? " sorted" : "")}
            onClick={() => {
              if (c.key === "badges") return;
              const k = c.key as SortKey;
              sort.value = { key: k, dir: key === k && dir === "asc" ? "desc" : "asc" };
              stick.current = true;
            }}
            title={c.key === "badges" ? "" : "Sort by " + c.label}
          >
            {c.label}
            {c.key === key ? (dir === "asc" ? " ▲" : " ▼") : ""}
          </span>
        ))}
      </div>
      <div class="scroller" ref={ref} tabIndex={0} onScroll={onScroll} onKeyDown={onKey} data-testid="flow-list" aria-label="Flows">
        <div class="spacer" style={{ height: count * ROW_H + "px" }}>
          {visible}
        </div>
        {rows.length === 0 && <Empty />}
      </div>
      <RowMenu />
      <div class="listfoot">
        <span data-testid="flow-count" data-total={total} data-loaded={rows.length}>
          {total.toLocaleString()}
          {store.complete ? "" : "+"} {total === 1 ? "flow" : "flows"}
          {filterText.value.trim() ? (total === 1 ? " matches" : " match") : ""}
          {listedName() ? ` in ${listedSession.value === 0 ? "all sessions" : listedName()}` : ""}
          {total > rows.length ? ` · ${rows.length.toLocaleString()} loaded` : ""}
        </span>
        {!store.complete && (
          <span class="muted" data-testid="scan-note" title="Part of this filter (a body search) is checked flow by flow; scrolling searches further">
            searched the newest {store.scanned.toLocaleString()} candidate flows
          </span>
        )}
        {windowSorted && (
          <span class="muted" data-testid="sort-note" title="The server pages by flow number; other columns sort the flows loaded so far">
            sorted within the {rows.length.toLocaleString()} loaded
          </span>
        )}
        {isPaused(appState.value) && <span class="pausednote">Recording is paused: traffic still flows but is not captured</span>}
        {!stick.current && rows.length > 0 && (
          <button
            class="link"
            onClick={() => {
              stick.current = true;
              const el = ref.current!;
              el.scrollTop = newestAtBottom ? el.scrollHeight : 0;
            }}
          >
            Follow newest
          </button>
        )}
      </div>
    </div>
  );
}

function Empty() {
  const feed = getFeed();
  const f = feed.filter;
  const listed = feed.listedSession;
  const recording = appState.value.session?.id;
  return (
    <div class="empty">
      {f ? (
        <p>No flows match this filter.</p>
      ) : listed > 0 && recording !== undefined && listed !== recording ? (
        <p>This session has no flows.</p>
      ) : (
        <>
          <p>No flows yet.</p>
          <p class="muted">Point a client at the proxy (e.g. <code>curl -x http://{appState.value.proxyAddr || "127.0.0.1:8080"} http://example.com</code>) and requests appear here live.</p>
          <p class="muted">
            For HTTPS, clients must trust Loupe's CA (<a href="/install" target="_blank" rel="noopener">CA certificate</a>); one that does not shows up as a <em>TLS error</em> row. Browsers send
            nothing for <code>localhost</code> through a proxy unless told: start Chromium with <code>{'--proxy-bypass-list="<-loopback>"'}</code>.
          </p>
        </>
      )}
    </div>
  );
}

/** Rows are usually in ID order: try a binary search first, then a scan. */
function indexOf(rows: Summary[], id: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = rows[mid].id;
    if (v === id) return mid;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  for (let i = 0; i < rows.length; i++) if (rows[i].id === id) return i;
  return -1;
}
