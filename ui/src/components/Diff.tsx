// Comparing two flows: request and response side by side or unified, the
// start lines, headers and trailers by name (added, removed, changed) and
// the bodies by lines, JSON pretty-printed with sorted keys first. Open it
// by Ctrl/Cmd-clicking a second flow in the list, or with "Compare with…"
// on a flow and then a click on the other.

import { signal } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, bodyURL } from "../api/client";
import type { Body, Field, Flow, FlowID } from "../api/types";
import { fmtSize } from "../lib/format";
import { isProbablyText } from "../lib/hex";
import { canonical, changed, DIFF_CAP, diffFields, diffText, fold, sideBySide, valueRow, type DiffLine, type FieldRow, type Fold, type SideRow } from "../lib/diff";
import { reportError, selectedId, toast } from "../state";

/** The two flows compared (left, right), or null. */
export const comparing = signal<{ a: FlowID; b: FlowID } | null>(null);
/** A flow waiting for the one to compare it with ("Compare with…"). */
export const comparePick = signal<FlowID | null>(null);

/**
 * compareClick is the list's hook on a row click: a Ctrl/Cmd-click on
 * another flow than the selected one, or any click while "Compare with…"
 * waits, opens the comparison (and the click does nothing else).
 */
export function compareClick(id: FlowID, e: MouseEvent): boolean {
  const pick = comparePick.value;
  if (pick !== null && pick !== id) {
    comparePick.value = null;
    comparing.value = { a: pick, b: id };
    return true;
  }
  const sel = selectedId.value;
  if ((e.ctrlKey || e.metaKey) && sel !== null && sel !== id) {
    e.preventDefault();
    comparing.value = { a: sel, b: id };
    return true;
  }
  return false;
}

/** CompareButton starts "Compare with…" for a flow (the detail pane's actions). */
export function CompareButton({ id }: { id: FlowID }) {
  const waiting = comparePick.value === id;
  return (
    <button
      class={"btn small" + (waiting ? " on" : "")}
      onClick={() => {
        comparePick.value = waiting ? null : id;
        if (!waiting) toast(`Click the flow to compare #${id} with (or Ctrl/Cmd-click a flow in the list)`);
      }}
      title="Compare this flow with another: click it in the list next"
      data-testid="compare-with"
    >
      {waiting ? "Pick a flow…" : "Compare with…"}
    </button>
  );
}

/** A body as compared: its text (or null for binary), and whether it was cut at the cap. */
interface BodyText {
  text: string | null;
  bytes: number;
  capped: boolean;
  json: boolean;
}

async function readCapped(url: string, cap: number): Promise<{ bytes: Uint8Array; capped: boolean }> {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok || !res.body) return { bytes: new Uint8Array(), capped: false };
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  let capped = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
    if (n > cap) {
      capped = true;
      await reader.cancel();
      break;
    }
  }
  const out = new Uint8Array(Math.min(n, cap));
  let off = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - off);
    out.set(p.subarray(0, take), off);
    off += take;
    if (off === out.length) break;
  }
  return { bytes: out, capped };
}

async function loadBody(f: Flow, side: "request" | "response"): Promise<BodyText> {
  const facts: Body = side === "request" ? f.requestBody : f.responseBody;
  if (!facts || facts.size === 0) return { text: "", bytes: 0, capped: false, json: false };
  const { bytes, capped } = await readCapped(bodyURL(f.id, side), DIFF_CAP);
  if (!isProbablyText(bytes)) return { text: null, bytes: bytes.length, capped, json: false };
  const headers = side === "request" ? f.request.headers : f.response?.headers;
  const ct = headers?.find((h) => h.name.toLowerCase() === "content-type")?.value ?? facts.contentType ?? "";
  const c = canonical(new TextDecoder().decode(bytes), ct);
  return { text: c.text, bytes: bytes.length, capped, json: c.json };
}

interface Loaded {
  a: Flow;
  b: Flow;
  bodies: { request: [BodyText, BodyText]; response: [BodyText, BodyText] };
}

export function DiffView() {
  const c = comparing.value;
  if (!c) return null;
  return <DiffDialog a={c.a} b={c.b} />;
}

function DiffDialog({ a, b }: { a: FlowID; b: FlowID }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [mode, setMode] = useState<"split" | "unified">("split");
  const ref = useRef<HTMLDivElement>(null);
  const close = () => (comparing.value = null);
  useEffect(() => {
    let live = true;
    setLoaded(null);
    (async () => {
      try {
        const [fa, fb] = await Promise.all([api.flow(a), api.flow(b)]);
        const [ra, rb, sa, sb] = await Promise.all([loadBody(fa, "request"), loadBody(fb, "request"), loadBody(fa, "response"), loadBody(fb, "response")]);
        if (live) setLoaded({ a: fa, b: fb, bodies: { request: [ra, rb], response: [sa, sb] } });
      } catch (err) {
        if (live) {
          reportError("Compare", err);
          close();
        }
      }
    })();
    ref.current?.focus();
    return () => void (live = false);
  }, [a, b]);

  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label={`Compare #${a} with #${b}`} onMouseDown={(e) => e.target === e.currentTarget && close()}>
      <div
        class="editor diffview"
        tabIndex={-1}
        ref={ref}
        data-testid="diff"
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.stopPropagation();
            close();
          }
        }}
      >
        <div class="ehead">
          <strong>
            Compare #{a} with #{b}
          </strong>
          <span class="grow" />
          <div class="seg" role="group" aria-label="View">
            <button class={"btn small" + (mode === "split" ? " on" : "")} onClick={() => setMode("split")} aria-pressed={mode === "split"} data-testid="diff-split">
              Side by side
            </button>
            <button class={"btn small" + (mode === "unified" ? " on" : "")} onClick={() => setMode("unified")} aria-pressed={mode === "unified"} data-testid="diff-unified">
              Unified
            </button>
          </div>
          <button class="btn small" onClick={() => (comparing.value = { a: b, b: a })} title="Swap the sides">
            Swap
          </button>
          <button class="btn small" onClick={close} title="Close (Esc)">
            Close
          </button>
        </div>
        <div class="ebody">{loaded ? <DiffBody l={loaded} mode={mode} /> : <p class="muted">Loading…</p>}</div>
      </div>
    </div>
  );
}

function DiffBody({ l, mode }: { l: Loaded; mode: "split" | "unified" }) {
  const { a, b } = l;
  const reqStart = [valueRow("Method", a.request.method, b.request.method), valueRow("URL", a.request.url, b.request.url), valueRow("Protocol", a.request.proto, b.request.proto)];
  const st = (f: Flow) => (f.response ? String(f.response.status) : f.error ? "error: " + f.error : undefined);
  const respStart = [valueRow("Status", st(a), st(b)), valueRow("Protocol", a.response?.proto, b.response?.proto)];
  return (
    <>
      <section data-testid="diff-request">
        <h3>Request</h3>
        <Fields rows={reqStart} mode={mode} />
        <Headers title="Headers" a={a.request.headers} b={b.request.headers} mode={mode} />
        {(a.request.trailers?.length || b.request.trailers?.length) && <Headers title="Trailers" a={a.request.trailers} b={b.request.trailers} mode={mode} />}
        <BodyDiff pair={l.bodies.request} mode={mode} />
      </section>
      <section data-testid="diff-response">
        <h3>Response</h3>
        <Fields rows={respStart} mode={mode} />
        <Headers title="Headers" a={a.response?.headers} b={b.response?.headers} mode={mode} />
        {(a.response?.trailers?.length || b.response?.trailers?.length) && <Headers title="Trailers" a={a.response?.trailers} b={b.response?.trailers} mode={mode} />}
        <BodyDiff pair={l.bodies.response} mode={mode} />
      </section>
    </>
  );
}

function Headers({ title, a, b, mode }: { title: string; a?: Field[] | null; b?: Field[] | null; mode: "split" | "unified" }) {
  const rows = diffFields(a, b);
  const n = rows.filter((r) => r.kind !== "same").length;
  return (
    <>
      <h4>
        {title} <span class="muted small">{n === 0 ? "the same" : `${n} ${n === 1 ? "difference" : "differences"}`}</span>
      </h4>
      <Fields rows={rows} mode={mode} />
    </>
  );
}

const MARK: Record<string, string> = { same: " ", added: "+", removed: "−", changed: "~" };

function Fields({ rows, mode }: { rows: FieldRow[]; mode: "split" | "unified" }) {
  if (rows.length === 0) return <p class="muted small">none</p>;
  if (mode === "unified") {
    return (
      <div class="dfields uni">
        {rows.flatMap((r) => {
          if (r.kind === "changed")
            return [
              <div class="dline removed" data-kind="removed">
                <span class="dmark">−</span>
                <span class="dname">{r.name}:</span> {r.left}
              </div>,
              <div class="dline added" data-kind="added">
                <span class="dmark">+</span>
                <span class="dname">{r.name}:</span> {r.right}
              </div>,
            ];
          return [
            <div class={"dline " + r.kind} data-kind={r.kind}>
              <span class="dmark">{MARK[r.kind]}</span>
              <span class="dname">{r.name}:</span> {r.kind === "added" ? r.right : r.left}
            </div>,
          ];
        })}
      </div>
    );
  }
  return (
    <table class="dfields">
      <tbody>
        {rows.map((r) => (
          <tr class={r.kind} data-kind={r.kind} data-name={r.name.toLowerCase()}>
            <td class="dmark">{MARK[r.kind]}</td>
            <th>{r.name}</th>
            <td class="mono wrap">{r.left ?? ""}</td>
            <td class="mono wrap">{r.right ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function BodyDiff({ pair, mode }: { pair: [BodyText, BodyText]; mode: "split" | "unified" }) {
  const [x, y] = pair;
  const note = (x.capped || y.capped) && <p class="muted small" data-testid="diff-capped">Bodies are compared over their first {fmtSize(DIFF_CAP)}.</p>;
  if (x.bytes === 0 && y.bytes === 0) {
    return (
      <>
        <h4>Body</h4>
        <p class="muted small">none</p>
      </>
    );
  }
  if (x.text === null || y.text === null) {
    return (
      <>
        <h4>Body</h4>
        <p class="muted small">
          Binary ({fmtSize(x.bytes)} and {fmtSize(y.bytes)}): not compared by lines.
        </p>
        {note}
      </>
    );
  }
  const lines = diffText(x.text, y.text);
  return (
    <>
      <h4>
        Body {(x.json || y.json) && <span class="badge">JSON, keys sorted</span>}{" "}
        <span class="muted small">{lines === null ? "" : changed(lines) ? `${lines.filter((l) => l.kind !== "same").length} lines differ` : "the same"}</span>
      </h4>
      {note}
      {lines === null ? <p class="muted small">Too different to compare line by line in time.</p> : <Lines lines={fold(lines)} mode={mode} />}
    </>
  );
}

function Lines({ lines, mode }: { lines: (DiffLine | Fold)[]; mode: "split" | "unified" }) {
  const foldRow = (f: Fold, span: number) => (
    <tr class="dfold">
      <td colSpan={span} class="muted small">
        … {f.count} unchanged {f.count === 1 ? "line" : "lines"}
      </td>
    </tr>
  );
  if (mode === "unified") {
    return (
      <table class="dlines" data-testid="diff-body">
        <tbody>
          {lines.map((l) =>
            l.kind === "fold" ? (
              foldRow(l, 4)
            ) : (
              <tr class={l.kind} data-kind={l.kind}>
                <td class="dno">{l.oldNo || ""}</td>
                <td class="dno">{l.newNo || ""}</td>
                <td class="dmark">{MARK[l.kind]}</td>
                <td class="mono">{l.text}</td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    );
  }
  const cell = (d: DiffLine | undefined, side: "l" | "r") =>
    d ? (
      <>
        <td class="dno">{side === "l" ? d.oldNo : d.newNo}</td>
        <td class={"mono " + d.kind} data-kind={d.kind}>
          {d.text}
        </td>
      </>
    ) : (
      <>
        <td class="dno" />
        <td class="mono empty" />
      </>
    );
  return (
    <table class="dlines split" data-testid="diff-body">
      <tbody>{sideBySide(lines).map((r) => ("kind" in r ? foldRow(r as Fold, 4) : <tr>{[cell((r as SideRow).left, "l"), cell((r as SideRow).right, "r")]}</tr>))}</tbody>
    </table>
  );
}
