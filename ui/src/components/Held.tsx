// Breakpoints in the dashboard: the toolbar badge with the number of held
// exchanges, and the panel (on every page) that lists them with a live
// countdown and edits one: a form or raw HTTP text, then continue, execute
// the edit, answer directly, abort, or save the edit as a rule. A new hit
// joins the list and never takes the editor or the keyboard focus.

import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Field, FlowID, Held } from "../api/types";
import { bodyEditable, draftOfHeld, editOf, fromRaw, respondOf, toRaw, withURL, type MessageDraft } from "../lib/heldedit";
import { prettyJSON } from "../lib/compose";
import { ruleFromHeldEdit } from "../lib/rules";
import { held, heldOpen, heldSupported, release, releaseAll, selectHeldId } from "../held-state";
import { countdown, itemOf, urgent, type HeldItem } from "../store/held";
import { editing, getFeed, reportError, toast } from "../state";
import "./compose.css";

export function HeldBadge() {
  if (!heldSupported.value) return null;
  const n = held.value.items.length;
  return (
    <button
      class={"heldbadge" + (n ? "" : " none")}
      onClick={() => (heldOpen.value = !heldOpen.value)}
      title={n ? `${n} exchange${n === 1 ? "" : "s"} held by a breakpoint` : "No exchange is held by a breakpoint"}
      aria-expanded={heldOpen.value}
      data-testid="held-badge"
    >
      Held <span class="n" data-testid="held-count">{n}</span>
    </button>
  );
}

/** Actions of the editor on screen, for the keyboard shortcuts. */
interface EditorActions {
  continue(): void;
  execute(): void;
  abort(): void;
}

export function HeldPanel() {
  const s = held.value;
  const actions = useRef<EditorActions | null>(null);
  const [top, setTop] = useState(48);
  useEffect(() => {
    if (!heldOpen.value) return;
    const bar = document.querySelector(".toolbar");
    if (bar) setTop(Math.round(bar.getBoundingClientRect().bottom));
  }, [heldOpen.value]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!heldOpen.value || editing.value || e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target as HTMLElement;
      if (/^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) || t.isContentEditable) return;
      // Only for the panel: a key pressed in the flow list is the list's.
      if (t !== document.body && !t.closest(".heldpanel")) return;
      const a = actions.current;
      if (!a) return;
      const fn = { c: a.continue, e: a.execute, a: a.abort }[e.key];
      if (!fn) return;
      e.preventDefault();
      fn();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  if (!heldOpen.value || !heldSupported.value) return null;
  const it = itemOf(s, s.selected);
  return (
    <aside class="heldpanel" style={{ top: top + "px" }} role="complementary" aria-label="Held exchanges" data-testid="held-panel">
      <div class="hphead">
        <h3>Held</h3>
        <span class="muted">{s.items.length ? `${s.items.length} waiting` : "nothing waiting"}</span>
        <span class="grow" />
        <button class="btn small" onClick={() => releaseAll("continue-all")} disabled={!s.items.length} data-testid="held-continue-all">
          Continue all
        </button>
        <button class="btn small danger" onClick={() => releaseAll("abort-all")} disabled={!s.items.length} data-testid="held-abort-all">
          Abort all
        </button>
        <button class="icon" title="Close" onClick={() => (heldOpen.value = false)}>
          ×
        </button>
      </div>
      {s.items.length > 0 && (
        <div class="hplist" role="listbox" aria-label="Held exchanges" data-testid="held-list">
          {s.items.map((x) => (
            <HeldRow it={x} selected={x.held.id === s.selected} />
          ))}
        </div>
      )}
      {s.selected !== null ? (
        <HeldEditor key={s.selected} id={s.selected} item={it} actions={actions} />
      ) : (
        <p class="muted pad">
          {s.items.length ? "Select a held exchange to edit it." : "A breakpoint rule holds matching exchanges here. Add one with \u201cBreak on this\u201d on any flow, or on the Rules page."}
        </p>
      )}
    </aside>
  );
}

/** urlOf is a held exchange's URL: its own request, or the flow's list row for a held response. */
function urlOf(h: Held): { method: string; url: string } {
  if (h.request.url) return { method: h.request.method ?? "", url: h.request.url };
  const s = getFeed().store.get(h.id);
  return s ? { method: s.method, url: s.url } : { method: "", url: `#${h.id}` };
}

function HeldRow({ it, selected }: { it: HeldItem; selected: boolean }) {
  const { method, url } = urlOf(it.held);
  return (
    <button class={"hpitem" + (selected ? " sel" : "")} role="option" aria-selected={selected} onClick={() => selectHeldId(it.held.id)} data-testid="held-item" data-id={it.held.id}>
      <span class="c-id">#{it.held.id}</span>
      <span class="badge b-phase">{it.held.phase === "request" ? "request" : "response"}</span>
      <span class={"c-method m-" + method.toLowerCase()}>{method}</span>
      <span class="hpurl" title={url}>
        {url}
      </span>
      <Countdown until={it.until} />
    </button>
  );
}

/** Countdown ticks on its own, so the rest of the panel (and the editor) does not re-render each second. */
function Countdown({ until }: { until: number }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 250);
    return () => clearInterval(t);
  }, []);
  const ms = Math.max(0, until - Date.now());
  return (
    <span class={"countdown" + (urgent(ms) ? " urgent" : "")} title="Time left before the breakpoint's timeout action" data-testid="countdown">
      {countdown(ms)}
    </span>
  );
}

function val(e: Event): string {
  return (e.target as HTMLInputElement).value;
}

/**
 * HeldEditor edits one held exchange. It is keyed by the flow ID: the list
 * changing around it never resets what is typed. When the exchange leaves
 * the queue elsewhere (a timeout, another tab), the edit stays on screen.
 */
function HeldEditor({ id, item, actions }: { id: FlowID; item: HeldItem | undefined; actions: { current: EditorActions | null } }) {
  const [h] = useState<Held | null>(() => item?.held ?? null);
  const [orig] = useState<MessageDraft | null>(() => (h ? draftOfHeld(h) : null));
  const [d, setD] = useState<MessageDraft | null>(orig);
  const [mode, setMode] = useState<"form" | "raw">("form");
  const [raw, setRaw] = useState("");
  const [rawErr, setRawErr] = useState<string | null>(null);
  const [answer, setAnswer] = useState<{ status: number; headers: Field[]; body: string } | null>(null);
  const [abortStatus, setAbortStatus] = useState("");
  const busy = useRef(false);
  const gone = !item;
  const phase = h?.phase ?? "request";

  /** current reads the draft, from the raw text when that is shown. */
  const current = (): MessageDraft | null => {
    if (!d || !orig) return null;
    if (mode !== "raw") return d;
    try {
      const x = fromRaw(raw, phase, orig);
      setRawErr(null);
      return x;
    } catch (e) {
      setRawErr(e instanceof Error ? e.message : String(e));
      return null;
    }
  };
  const run = async (fn: () => Promise<unknown>) => {
    if (busy.current || gone) return;
    busy.current = true;
    try {
      await fn();
    } finally {
      busy.current = false;
    }
  };
  const doContinue = () => run(() => release(id, "continue"));
  const doExecute = () =>
    run(async () => {
      const x = current();
      if (!x || !orig) return;
      await release(id, "execute", editOf(orig, x, phase));
    });
  const doAbort = () => run(() => release(id, "abort", /^\d{3}$/.test(abortStatus) ? { status: Number(abortStatus) } : undefined));
  const doRespond = () =>
    run(async () => {
      if (answer) await release(id, "respond", respondOf(answer));
    });
  useEffect(() => {
    actions.current = gone ? null : { continue: doContinue, execute: doExecute, abort: doAbort };
    return () => {
      actions.current = null;
    };
  });

  if (!h || !d || !orig) {
    return <p class="muted pad">#{id} is no longer held.</p>;
  }

  const switchMode = (m: "form" | "raw") => {
    if (m === mode) return;
    if (m === "raw") {
      setRaw(toRaw(d, phase));
      setRawErr(null);
      setMode("raw");
      return;
    }
    const x = current();
    if (!x) return; // keep the raw text on screen with its error
    setD(x);
    setMode("form");
  };

  const saveAsRule = async () => {
    const x = current();
    if (!x) return;
    const { method, url } = h.request.url ? { method: h.request.method ?? "", url: h.request.url } : await requestOf(id);
    if (!url) return;
    const kind = answer ? "respond" : phase;
    const { rule, lost } = ruleFromHeldEdit(
      answer
        ? { method, url, kind, before: [], after: answer.headers, status: answer.status, body: answer.body }
        : { method, url, kind, before: orig.headers, after: x.headers, newURL: x.url, status: x.status, body: bodyEditable(x) ? x.body : "" },
    );
    if (kind === "request" && (x.method !== orig.method || (bodyEditable(orig) && x.body !== orig.body))) lost.push(x.method !== orig.method ? "the method" : "the body");
    if (rule.actions.length === 0) {
      toast("Nothing in this edit can be a rule: change the URL or the headers first", "error");
      return;
    }
    editing.value = { rule, isNew: true, problems: [] };
    if (lost.length) toast(`The rule cannot carry ${lost.join(" and ")}`, "info");
  };

  const setHeaders = (headers: Field[]) => setD({ ...d, headers });
  return (
    <div class="hpeditor" data-testid="held-editor" data-id={id}>
      {gone && (
        <div class="hpgone" role="status" data-testid="held-gone">
          #{id} is no longer held (its timeout action ran, or it was released elsewhere). Your edit is still here to copy.{" "}
          {held.value.items.length > 0 && (
            <button class="link" onClick={() => selectHeldId(held.value.items[0].held.id)}>
              Next held exchange
            </button>
          )}
        </div>
      )}
      <div class="hpbtns">
        <strong>
          #{id} · {phase === "request" ? "request, before it goes upstream" : "response, before it is served"}
        </strong>
        <span class="grow" />
        <div class="seg">
          <button class={mode === "form" ? "on" : ""} onClick={() => switchMode("form")} data-testid="held-mode-form">
            Form
          </button>
          <button class={mode === "raw" ? "on" : ""} onClick={() => switchMode("raw")} data-testid="held-mode-raw">
            Raw
          </button>
        </div>
      </div>
      {mode === "raw" ? (
        <>
          <textarea class="mono body" rows={16} value={raw} onInput={(e) => setRaw((e.target as HTMLTextAreaElement).value)} spellcheck={false} data-testid="held-raw" />
          {rawErr && (
            <div class="problem" role="alert">
              {rawErr}
            </div>
          )}
        </>
      ) : (
        <MessageForm d={d} phase={phase} onChange={setD} onHeaders={setHeaders} />
      )}
      {answer && (
        <div class="respondbox" data-testid="held-respond-box">
          <strong>Answer without the upstream</strong>
          <label class="field">
            <span class="flabel">Status</span>
            <input type="number" min={100} max={999} value={answer.status} onInput={(e) => setAnswer({ ...answer, status: Number(val(e)) })} data-testid="held-respond-status" />
          </label>
          <HeaderRows headers={answer.headers} onChange={(headers) => setAnswer({ ...answer, headers })} prefix="respond" />
          <textarea class="mono" rows={6} value={answer.body} onInput={(e) => setAnswer({ ...answer, body: (e.target as HTMLTextAreaElement).value })} spellcheck={false} data-testid="held-respond-body" />
          <div class="hpbtns">
            <button class="btn primary small" onClick={doRespond} disabled={gone} data-testid="held-respond-send">
              Send this answer
            </button>
            <button class="btn small" onClick={() => setAnswer(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <div class="hpbtns">
        <button class="btn" onClick={doContinue} disabled={gone} title="Let it go as it was (c)" data-testid="held-continue">
          Continue
        </button>
        <button class="btn primary" onClick={doExecute} disabled={gone} title="Let it go with your edit (e)" data-testid="held-execute">
          Execute
        </button>
        {phase === "request" && !answer && (
          <button class="btn" onClick={() => setAnswer({ status: 200, headers: [{ name: "Content-Type", value: "text/plain; charset=utf-8" }], body: "" })} disabled={gone} title="Answer the client yourself; the origin is not called" data-testid="held-respond">
            Respond…
          </button>
        )}
        <button class="btn danger" onClick={doAbort} disabled={gone} title="Close the client's connection, or answer the status given (a)" data-testid="held-abort">
          Abort
        </button>
        <input type="number" min={100} max={999} placeholder="status" value={abortStatus} onInput={(e) => setAbortStatus(val(e))} title="Abort with this status instead of closing the connection" data-testid="held-abort-status" />
        <span class="grow" />
        <button class="btn small" onClick={saveAsRule} title="Make this edit a rule (override, mock or mapRemote), in the rule editor" data-testid="held-save-rule">
          Save as rule
        </button>
      </div>
      <p class="hpkeys">
        <kbd>c</kbd> continue · <kbd>e</kbd> execute · <kbd>a</kbd> abort (in this panel, outside text fields)
      </p>
    </div>
  );
}

async function requestOf(id: FlowID): Promise<{ method: string; url: string }> {
  const s = getFeed().store.get(id);
  if (s) return { method: s.method, url: s.url };
  try {
    const f = await api.flow(id);
    return { method: f.request.method, url: f.request.url };
  } catch (err) {
    reportError("Save as rule", err);
    return { method: "", url: "" };
  }
}

function MessageForm({ d, phase, onChange, onHeaders }: { d: MessageDraft; phase: "request" | "response"; onChange(d: MessageDraft): void; onHeaders(h: Field[]): void }) {
  const pretty = bodyEditable(d) ? prettyJSON(d.body) : null;
  return (
    <>
      {phase === "request" ? (
        <div class="crow">
          <input class="mono cmethod" value={d.method} onInput={(e) => onChange({ ...d, method: val(e) })} aria-label="Method" data-testid="held-method" spellcheck={false} />
          <input class="mono curl-input" value={d.url} onInput={(e) => onChange(withURL(d, val(e)))} aria-label="URL" data-testid="held-url" spellcheck={false} />
        </div>
      ) : (
        <label class="field">
          <span class="flabel">Status</span>
          <input type="number" min={100} max={999} value={d.status} onInput={(e) => onChange({ ...d, status: Number(val(e)) })} data-testid="held-status" />
        </label>
      )}
      <h4>Headers</h4>
      <HeaderRows headers={d.headers} onChange={onHeaders} prefix="held" />
      <h4>Body</h4>
      {bodyEditable(d) ? (
        <>
          <div class="cbodybar">
            <button class="btn small" disabled={pretty === null || pretty === d.body} onClick={() => pretty !== null && onChange({ ...d, body: pretty })}>
              Format JSON
            </button>
            <span class="muted small">Edited decoded; Loupe re-encodes it and sets the length.</span>
          </div>
          <textarea class="mono body" rows={10} value={d.body} onInput={(e) => onChange({ ...d, body: (e.target as HTMLTextAreaElement).value })} spellcheck={false} data-testid="held-body" />
        </>
      ) : (
        <p class="muted">{d.truncated ? "The body is longer than Loupe holds: it streams through unedited." : "The body is binary: it passes unedited."}</p>
      )}
    </>
  );
}

function HeaderRows({ headers, onChange, prefix }: { headers: Field[]; onChange(h: Field[]): void; prefix: string }) {
  return (
    <div class="kvedit">
      {headers.map((h, i) => (
        <div class="kvrow">
          <input class="mono" placeholder="Name" value={h.name} onInput={(e) => onChange(headers.map((x, j) => (j === i ? { name: val(e), value: x.value } : x)))} data-testid={`${prefix}-header-name-${i}`} spellcheck={false} />
          <input class="mono" placeholder="Value" value={h.value} onInput={(e) => onChange(headers.map((x, j) => (j === i ? { name: x.name, value: val(e) } : x)))} data-testid={`${prefix}-header-value-${i}`} spellcheck={false} />
          <button type="button" class="icon" title="Remove" onClick={() => onChange(headers.filter((_, j) => j !== i))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" class="link" onClick={() => onChange([...headers, { name: "", value: "" }])} data-testid={`${prefix}-add-header`}>
        + header
      </button>
    </div>
  );
}
