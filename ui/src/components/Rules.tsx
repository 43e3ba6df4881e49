// The rules page (list, enable toggles, reorder by drag or buttons, counts
// of touched flows) and the rule editor (a form per action type, with the
// server's validation problems next to their fields).

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api/client";
import { ACTION_TYPES, type Action, type ActionType, type Problem, type Rule } from "../api/types";
import { joinHostPort } from "../lib/port";
import { ACTION_FIELDS, ACTION_LABELS, blankAction, cleanRule, knownField, problemsAt } from "../lib/rules";
import { editing, refreshRuleCounts, refreshRules, reportError, ruleCounts, rules, toast } from "../state";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

export function RulesPage() {
  const rs = rules.value;
  const counts = ruleCounts.value;
  const [drag, setDrag] = useState<number | null>(null);
  const [over, setOver] = useState<number | null>(null);
  useEffect(() => void refreshRuleCounts(), []);

  const save = async (next: Rule[]) => {
    const prev = rules.value;
    rules.value = next;
    try {
      await api.replaceRules(next);
    } catch (err) {
      rules.value = prev;
      reportError("Save rules", err);
    }
  };
  const move = (from: number, to: number) => {
    if (to < 0 || to >= rs.length || from === to) return;
    const next = rs.slice();
    const [r] = next.splice(from, 1);
    next.splice(to, 0, r);
    void save(next);
  };
  const toggle = async (r: Rule) => {
    const next = { ...r, enabled: !r.enabled };
    rules.value = rs.map((x) => (x.id === r.id ? next : x));
    try {
      await api.updateRule(r.id, next);
    } catch (err) {
      rules.value = rs;
      reportError("Update rule", err);
    }
  };
  const del = async (r: Rule) => {
    if (!confirm(`Delete rule "${r.name || r.id}"?`)) return;
    try {
      await api.deleteRule(r.id);
      await refreshRules();
    } catch (err) {
      reportError("Delete rule", err);
    }
  };

  return (
    <div class="rulespage">
      <div class="rhead">
        <h2>Rules</h2>
        <span class="muted">Applied in order to every request; the first override, mock or block wins.</span>
        <span class="grow" />
        <button class="btn primary" data-testid="new-rule" onClick={() => (editing.value = { rule: { id: "", name: "", enabled: true, match: {}, actions: [blankAction("override")] }, isNew: true, problems: [] })}>
          New rule
        </button>
      </div>
      {rs.length === 0 ? (
        <div class="empty">
          <p>No rules yet.</p>
          <p class="muted">Create one here, or select a flow and choose "Override this response".</p>
        </div>
      ) : (
        <ol class="rulelist" data-testid="rule-list">
          {rs.map((r, i) => (
            <li
              key={r.id}
              class={"rule" + (r.enabled ? "" : " off") + (over === i && drag !== null && drag !== i ? " dropzone" : "")}
              draggable
              onDragStart={(e) => {
                setDrag(i);
                e.dataTransfer?.setData("text/plain", r.id);
              }}
              onDragOver={(e) => {
                e.preventDefault();
                setOver(i);
              }}
              onDrop={(e) => {
                e.preventDefault();
                if (drag !== null) move(drag, i);
                setDrag(null);
                setOver(null);
              }}
              onDragEnd={() => {
                setDrag(null);
                setOver(null);
              }}
            >
              <span class="grip" title="Drag to reorder">
                ⋮⋮
              </span>
              <label class="switch" title={r.enabled ? "Disable" : "Enable"}>
                <input type="checkbox" checked={r.enabled} onChange={() => toggle(r)} aria-label="Enabled" />
                <span />
              </label>
              <div class="rinfo" onDblClick={() => (editing.value = { rule: structuredClone(r), isNew: false, problems: [] })}>
                <div class="rname">{r.name || r.id}</div>
                <div class="rsub mono">
                  {matchSummary(r)} → {r.actions.map((a) => a.type).join(", ") || "no actions"}
                </div>
              </div>
              <span class="rcount" title="Flows this rule touched">
                {(counts[r.id] ?? 0).toLocaleString()} {counts[r.id] === 1 ? "flow" : "flows"}
              </span>
              <div class="rbtns">
                <button class="icon" title="Move up" disabled={i === 0} onClick={() => move(i, i - 1)}>
                  ↑
                </button>
                <button class="icon" title="Move down" disabled={i === rs.length - 1} onClick={() => move(i, i + 1)}>
                  ↓
                </button>
                <button class="btn small" onClick={() => (editing.value = { rule: structuredClone(r), isNew: false, problems: [] })}>
                  Edit
                </button>
                <button class="btn small danger" onClick={() => del(r)}>
                  Delete
                </button>
              </div>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function matchSummary(r: Rule): string {
  const m = r.match;
  const parts = [];
  if (m.methods?.length) parts.push(m.methods.join(","));
  if (m.scheme) parts.push(m.scheme + "://");
  parts.push(joinHostPort(m.host || "*", m.port) + (m.path || ""));
  if (m.url) parts.push(`url~/${m.url}/`);
  return parts.join(" ");
}

/** The editor dialog; open whenever `editing` holds a rule. */
export function RuleEditor() {
  const e = editing.value;
  const [saving, setSaving] = useState(false);
  useEffect(() => {
    const onKey = (ev: KeyboardEvent) => {
      if (ev.key === "Escape") editing.value = null;
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  if (!e) return null;
  const r = e.rule;
  const probs = e.problems;
  const id = r.id;
  const set = (patch: Partial<Rule>) => (editing.value = { ...e, rule: { ...r, ...patch } });
  const setMatch = (patch: Partial<Rule["match"]>) => set({ match: { ...r.match, ...patch } });
  const setAction = (i: number, a: Action) => set({ actions: r.actions.map((x, j) => (j === i ? a : x)) });
  const close = () => (editing.value = null);

  const save = async () => {
    setSaving(true);
    const clean = cleanRule(r);
    try {
      if (e.isNew) await api.addRule(clean);
      else await api.updateRule(id, clean);
      editing.value = null;
      toast(e.isNew ? "Rule created" : "Rule saved");
      await refreshRules();
    } catch (err) {
      if (err instanceof ApiError && err.data?.problems) {
        editing.value = { ...e, problems: err.data.problems };
      } else {
        reportError("Save rule", err);
      }
    } finally {
      setSaving(false);
    }
  };

  const other = probs.filter((p) => !knownField(p.field) || p.field === "");
  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label="Rule editor" onMouseDown={(ev) => ev.target === ev.currentTarget && close()}>
      <form
        class="editor"
        data-testid="rule-editor"
        noValidate
        onSubmit={(ev) => {
          ev.preventDefault();
          void save();
        }}
      >
        <div class="ehead">
          <h3>{e.isNew ? "New rule" : "Edit rule"}</h3>
          <span class="grow" />
          <button type="button" class="icon" onClick={close} title="Close (Esc)">
            ×
          </button>
        </div>
        <div class="ebody">
          {other.length > 0 && (
            <div class="problem" data-testid="problems">
              {other.map((p) => (
                <div>
                  {p.field && <code>{p.field}</code>} {p.message}
                </div>
              ))}
            </div>
          )}
          <div class="grid2">
            <Field label="Name" probs={problemsAt(probs, id, "name")}>
              <input value={r.name ?? ""} onInput={(ev) => set({ name: val(ev) })} placeholder="What this rule is for" data-testid="rule-name" />
            </Field>
            <Field label="ID" probs={problemsAt(probs, id, "id")} hint={e.isNew ? "empty: assigned on save" : undefined}>
              <input value={r.id} onInput={(ev) => set({ id: val(ev) })} disabled={!e.isNew} class="mono" />
            </Field>
          </div>
          <label class="check">
            <input type="checkbox" checked={r.enabled} onChange={() => set({ enabled: !r.enabled })} /> Enabled
          </label>

          <fieldset>
            <legend>Match (empty fields match anything)</legend>
            <Field label="Methods" probs={[...problemsAt(probs, id, "match.methods"), ...probs.filter((p) => /^match\.methods\[/.test(p.field)).map((p) => p.message)]}>
              <div class="methods">
                {METHODS.map((m) => {
                  const on = (r.match.methods ?? []).map((x) => x.toUpperCase()).includes(m);
                  return (
                    <button
                      type="button"
                      class={"tog" + (on ? " on" : "")}
                      aria-pressed={on}
                      onClick={() => setMatch({ methods: on ? (r.match.methods ?? []).filter((x) => x.toUpperCase() !== m) : [...(r.match.methods ?? []), m] })}
                    >
                      {m}
                    </button>
                  );
                })}
              </div>
            </Field>
            <div class="grid4">
              <Field label="Scheme" probs={problemsAt(probs, id, "match.scheme")}>
                <select value={r.match.scheme ?? ""} onChange={(ev) => setMatch({ scheme: val(ev) })}>
                  <option value="">any</option>
                  <option value="http">http</option>
                  <option value="https">https</option>
                  <option value="ws">ws</option>
                  <option value="wss">wss</option>
                </select>
              </Field>
              <Field label="Host" probs={problemsAt(probs, id, "match.host")} hint="glob: *.example.com">
                <input class="mono" value={r.match.host ?? ""} onInput={(ev) => setMatch({ host: val(ev) })} data-testid="match-host" />
              </Field>
              <Field label="Port" probs={problemsAt(probs, id, "match.port")} hint="empty: any">
                <input
                  type="number"
                  min={1}
                  max={65535}
                  class="mono"
                  value={r.match.port ?? ""}
                  onInput={(ev) => setMatch({ port: val(ev) === "" ? undefined : Number(val(ev)) })}
                  data-testid="match-port"
                />
              </Field>
              <Field label="Path" probs={problemsAt(probs, id, "match.path")} hint="glob; * crosses /">
                <input class="mono" value={r.match.path ?? ""} onInput={(ev) => setMatch({ path: val(ev) })} data-testid="match-path" />
              </Field>
            </div>
            <Field label="URL regular expression" probs={problemsAt(probs, id, "match.url")}>
              <input class="mono" value={r.match.url ?? ""} onInput={(ev) => setMatch({ url: val(ev) })} placeholder="optional, over the whole URL" />
            </Field>
          </fieldset>

          {problemsAt(probs, id, "actions").map((m) => (
            <div class="problem">{m}</div>
          ))}
          {r.actions.map((a, i) => (
            <ActionForm
              key={i}
              a={a}
              i={i}
              probs={probs}
              ruleId={id}
              onChange={(x) => setAction(i, x)}
              onRemove={() => set({ actions: r.actions.filter((_, j) => j !== i) })}
              onMove={(d) => {
                const j = i + d;
                if (j < 0 || j >= r.actions.length) return;
                const next = r.actions.slice();
                [next[i], next[j]] = [next[j], next[i]];
                set({ actions: next });
              }}
            />
          ))}
          <div class="addaction">
            <select
              value=""
              onChange={(ev) => {
                const t = val(ev) as ActionType;
                if (t) set({ actions: [...r.actions, blankAction(t)] });
                (ev.target as HTMLSelectElement).value = "";
              }}
            >
              <option value="">+ Add an action…</option>
              {ACTION_TYPES.map((t) => (
                <option value={t}>{ACTION_LABELS[t]}</option>
              ))}
            </select>
          </div>
        </div>
        <div class="efoot">
          <span class="muted small">{probs.length ? `${probs.length} problem${probs.length === 1 ? "" : "s"} to fix` : ""}</span>
          <span class="grow" />
          <button type="button" class="btn" onClick={close}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={saving} data-testid="save-rule">
            {saving ? "Saving…" : "Save rule"}
          </button>
        </div>
      </form>
    </div>
  );
}

function val(ev: Event): string {
  return (ev.target as HTMLInputElement).value;
}

function Field({ label, probs, hint, children }: { label: string; probs: string[]; hint?: string; children: preact.ComponentChildren }) {
  return (
    <label class={"field" + (probs.length ? " bad" : "")}>
      <span class="flabel">
        {label}
        {hint && <span class="muted small"> {hint}</span>}
      </span>
      {children}
      {probs.map((p) => (
        <span class="fprob" role="alert">
          {p}
        </span>
      ))}
    </label>
  );
}

function ActionForm({ a, i, probs, ruleId, onChange, onRemove, onMove }: { a: Action; i: number; probs: Problem[]; ruleId: string; onChange(a: Action): void; onRemove(): void; onMove(d: number): void }) {
  const fields = ACTION_FIELDS[a.type as ActionType] ?? [];
  const p = (f: string) => problemsAt(probs, ruleId, `actions[${i}].${f}`);
  const has = (f: keyof Action) => fields.includes(f);
  const bodySource = a.bodyFile !== undefined && a.bodyFile !== "" ? "file" : a.bodyBase64 ? "base64" : a.dir ? "dir" : "text";
  const num = (ev: Event) => {
    const v = val(ev);
    return v === "" ? undefined : Number(v);
  };
  return (
    <fieldset class="action" data-testid={`action-${i}`}>
      <legend>
        Action {i + 1}
        <select
          value={a.type}
          onChange={(ev) => {
            const t = val(ev) as ActionType;
            onChange({ ...blankAction(t), ...pick(a, ACTION_FIELDS[t]) });
          }}
        >
          {ACTION_TYPES.map((t) => (
            <option value={t}>{ACTION_LABELS[t]}</option>
          ))}
        </select>
        <button type="button" class="icon" title="Move up" onClick={() => onMove(-1)}>
          ↑
        </button>
        <button type="button" class="icon" title="Move down" onClick={() => onMove(1)}>
          ↓
        </button>
        <button type="button" class="icon" title="Remove this action" onClick={onRemove}>
          ×
        </button>
      </legend>
      {problemsAt(probs, ruleId, `actions[${i}]`).concat(p("type")).map((m) => (
        <div class="fprob">{m}</div>
      ))}
      {has("status") && (
        <Field label="Status" probs={p("status")} hint={a.type === "override" ? "empty keeps the upstream status" : a.type === "block" ? "default 403" : "default 200"}>
          <input type="number" min={100} max={999} value={a.status ?? ""} onInput={(ev) => onChange({ ...a, status: num(ev) })} data-testid="action-status" />
        </Field>
      )}
      {has("reset") && (
        <label class="check">
          <input type="checkbox" checked={!!a.reset} onChange={() => onChange({ ...a, reset: !a.reset })} /> Reset the connection instead of answering
        </label>
      )}
      {has("url") && (
        <Field label="Send to URL" probs={p("url")} hint="replaces scheme, host, port and the path prefix">
          <input class="mono" value={a.url ?? ""} onInput={(ev) => onChange({ ...a, url: val(ev) })} placeholder="http://localhost:3000/" />
        </Field>
      )}
      {has("ms") && (
        <div class="grid2">
          <Field label="Delay (ms)" probs={p("ms")}>
            <input type="number" min={0} value={a.ms ?? ""} onInput={(ev) => onChange({ ...a, ms: num(ev) })} />
          </Field>
          <Field label="Phase" probs={p("phase")}>
            <select value={a.phase || "request"} onChange={(ev) => onChange({ ...a, phase: val(ev) as Action["phase"] })}>
              <option value="request">before sending the request</option>
              <option value="response">before serving the response</option>
            </select>
          </Field>
        </div>
      )}
      {has("timeoutMs") && (
        <div class="grid2" data-testid="breakpoint-form">
          <Field label="Hold" probs={p("phase")}>
            <select value={a.phase || "request"} onChange={(ev) => onChange({ ...a, phase: val(ev) as Action["phase"] })} data-testid="breakpoint-phase">
              <option value="request">the request, before it goes upstream</option>
              <option value="response">the response, before it is served</option>
              <option value="both">both</option>
            </select>
          </Field>
          <Field label="Timeout (seconds)" probs={p("timeoutMs")} hint="up to 30 minutes">
            <input
              type="number"
              min={1}
              max={1800}
              value={a.timeoutMs === undefined ? "" : a.timeoutMs / 1000}
              onInput={(ev) => {
                const v = num(ev);
                onChange({ ...a, timeoutMs: v === undefined ? undefined : Math.round(v * 1000) });
              }}
              data-testid="breakpoint-timeout"
            />
          </Field>
          <Field label="When the time is up" probs={p("onTimeout")}>
            <select value={a.onTimeout || "continue"} onChange={(ev) => onChange({ ...a, onTimeout: val(ev) as Action["onTimeout"] })} data-testid="breakpoint-ontimeout">
              <option value="continue">continue unchanged</option>
              <option value="abort">abort</option>
            </select>
          </Field>
          <Field label="Hits" probs={p("hits")} hint="the next N matches; 0: every match">
            <input type="number" min={0} value={a.hits ?? 0} onInput={(ev) => onChange({ ...a, hits: num(ev) ?? 0 })} data-testid="breakpoint-hits" />
          </Field>
        </div>
      )}
      {has("bytesPerSecond") && (
        <Field label="Bytes per second" probs={p("bytesPerSecond")}>
          <input type="number" min={1} value={a.bytesPerSecond ?? ""} onInput={(ev) => onChange({ ...a, bytesPerSecond: num(ev) })} />
        </Field>
      )}
      {has("headers") && <HeadersEditor value={a.headers ?? {}} probs={p("headers")} onChange={(h) => onChange({ ...a, headers: h })} />}
      {has("names") && (
        <Field label="Header names" probs={p("names")} hint="one per line">
          <textarea rows={3} class="mono" value={(a.names ?? []).join("\n")} onInput={(ev) => onChange({ ...a, names: val(ev).split(/\n/).map((s) => s.trim()).filter(Boolean) })} />
        </Field>
      )}
      {has("body") && (
        <>
          <div class="seg inline">
            {(["text", "base64", "file", ...(has("dir") ? ["dir"] : [])] as const).map((s) => (
              <button
                type="button"
                class={bodySource === s ? "on" : ""}
                onClick={() => {
                  const base: Action = { ...a, body: undefined, bodyBase64: undefined, bodyFile: undefined, dir: undefined };
                  if (s === "text") base.body = a.body ?? "";
                  if (s === "base64") base.bodyBase64 = a.bodyBase64 || " ";
                  if (s === "file") base.bodyFile = a.bodyFile ?? "";
                  if (s === "dir") base.dir = a.dir || " ";
                  onChange(base);
                }}
              >
                {{ text: "Body text", base64: "Base64", file: "From file", dir: "Directory" }[s]}
              </button>
            ))}
          </div>
          {bodySource === "text" && (
            <Field label="Body" probs={p("body")}>
              <textarea class="mono body" rows={10} value={a.body ?? ""} onInput={(ev) => onChange({ ...a, body: val(ev) })} spellcheck={false} data-testid="action-body" />
            </Field>
          )}
          {bodySource === "base64" && (
            <Field label="Body (base64)" probs={p("bodyBase64")}>
              <textarea class="mono" rows={5} value={(a.bodyBase64 ?? "").trim()} onInput={(ev) => onChange({ ...a, bodyBase64: val(ev) || " " })} spellcheck={false} />
            </Field>
          )}
          {bodySource === "file" && (
            <Field label="Body file" probs={p("bodyFile")} hint="read on every matching request">
              <input class="mono" value={a.bodyFile ?? ""} onInput={(ev) => onChange({ ...a, bodyFile: val(ev) })} placeholder="/path/to/body.json" />
            </Field>
          )}
          {bodySource === "dir" && (
            <Field label="Serve files from directory" probs={p("dir")} hint="the request path after the match's path prefix names the file">
              <input class="mono" value={(a.dir ?? "").trim()} onInput={(ev) => onChange({ ...a, dir: val(ev) || " " })} placeholder="/path/to/mocks" />
            </Field>
          )}
        </>
      )}
    </fieldset>
  );
}

function pick(a: Action, keys: (keyof Action)[]): Partial<Action> {
  const out: Partial<Action> = {};
  for (const k of keys) if (a[k] !== undefined) (out as Record<string, unknown>)[k] = a[k];
  return out;
}

function HeadersEditor({ value, probs, onChange }: { value: Record<string, string>; probs: string[]; onChange(h: Record<string, string>): void }) {
  const [rows, setRows] = useState<[string, string][]>(() => Object.entries(value));
  const emit = (next: [string, string][]) => {
    setRows(next);
    const h: Record<string, string> = {};
    for (const [k, v] of next) if (k.trim()) h[k.trim()] = v;
    onChange(h);
  };
  return (
    <div class={"field" + (probs.length ? " bad" : "")}>
      <span class="flabel">Headers</span>
      <div class="kvedit">
        {rows.map(([k, v], i) => (
          <div class="kvrow">
            <input class="mono" placeholder="Name" value={k} onInput={(ev) => emit(rows.map((r, j) => (j === i ? [val(ev), r[1]] : r)))} />
            <input class="mono" placeholder="Value" value={v} onInput={(ev) => emit(rows.map((r, j) => (j === i ? [r[0], val(ev)] : r)))} />
            <button type="button" class="icon" title="Remove" onClick={() => emit(rows.filter((_, j) => j !== i))}>
              ×
            </button>
          </div>
        ))}
        <button type="button" class="link" onClick={() => setRows([...rows, ["", ""]])}>
          + header
        </button>
      </div>
      {probs.map((p) => (
        <span class="fprob">{p}</span>
      ))}
    </div>
  );
}
