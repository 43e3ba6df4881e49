// The rules page (list, enable toggles, reorder by drag or buttons, each
// rule in words with the count of flows it touched) and the rule editor (a
// form per action type built from the rules' own table of action types, the
// server's validation problems next to their fields, and a question before
// a rule that matches all traffic is saved or enabled).

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api/client";
import type { Action, ActionSpec, FieldSpec, Problem, Rule } from "../api/types";
import { blankAction, changeType, cleanRule, forEditing, groupFields, isEmptyChosen, knownField, matchesAll, matchOf, newRule, problemsAt, selectedIn, specOf, type EditMarks } from "../lib/rules";
import { describeActions, describeMatch } from "../lib/ruletext";
import { actionSpecs, detail, editing, loadActionSpecs, refreshRuleCounts, refreshRules, reportError, ruleCounts, rules, toast } from "../state";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/** Opens a stored rule in the editor. */
function edit(r: Rule): void {
  editing.value = { rule: forEditing(r, actionSpecs.value), isNew: false, problems: [] };
}

export function RulesPage() {
  const rs = rules.value;
  const counts = ruleCounts.value;
  const specs = actionSpecs.value;
  const [drag, setDrag] = useState<number | null>(null);
  const [over, setOver] = useState<number | null>(null);
  // The rule that matches all traffic the user is about to enable.
  const [askEnable, setAskEnable] = useState<string | null>(null);
  useEffect(() => {
    void refreshRuleCounts();
    void loadActionSpecs();
  }, []);

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
  const setEnabled = async (r: Rule, enabled: boolean) => {
    setAskEnable(null);
    const next = { ...r, enabled };
    const prev = rules.value;
    rules.value = prev.map((x) => (x.id === r.id ? next : x));
    try {
      await api.updateRule(r.id, next);
    } catch (err) {
      rules.value = prev;
      reportError("Update rule", err);
    }
  };
  // Enabling a rule that matches all traffic is a choice to make on purpose.
  const toggle = (r: Rule) => {
    if (!r.enabled && matchesAll(r.match)) setAskEnable(r.id);
    else void setEnabled(r, !r.enabled);
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
        <button class="btn primary" data-testid="new-rule" disabled={!specs.length} onClick={() => (editing.value = { rule: newRule(specs, null), isNew: true, problems: [] })}>
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
          {rs.map((r, i) => {
            const all = matchesAll(r.match);
            const n = counts[r.id] ?? 0;
            return (
              <li
                key={r.id}
                data-id={r.id}
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
                <div class="rmain">
                  <span class="grip" title="Drag to reorder">
                    ⋮⋮
                  </span>
                  <label class="switch" title={r.enabled ? "Disable" : "Enable"}>
                    <input type="checkbox" checked={r.enabled} onChange={() => toggle(r)} aria-label="Enabled" data-testid="rule-enabled" />
                    <span />
                  </label>
                  <div class="rinfo" onDblClick={() => edit(r)}>
                    <div class="rname">
                      {r.name || r.id}
                      {all && (
                        <span class="badge b-all" title="This rule has no match fields: it applies to every request" data-testid="rule-all">
                          all traffic
                        </span>
                      )}
                    </div>
                    <div class="rsub" data-testid="rule-words" title={`${describeMatch(r.match)} → ${describeActions(r, specs)}`}>
                      <span class="rmatch">{describeMatch(r.match)}</span> → {describeActions(r, specs)}
                    </div>
                  </div>
                  <span class="rcount" title={`Flows in the capture this rule touched${r.enabled ? "" : " (while it was enabled)"}`} data-testid="rule-count">
                    {n.toLocaleString()} {n === 1 ? "flow" : "flows"}
                  </span>
                  <div class="rbtns">
                    <button class="icon" title="Move up" disabled={i === 0} onClick={() => move(i, i - 1)}>
                      ↑
                    </button>
                    <button class="icon" title="Move down" disabled={i === rs.length - 1} onClick={() => move(i, i + 1)}>
                      ↓
                    </button>
                    <button class="btn small" onClick={() => edit(r)}>
                      Edit
                    </button>
                    <button class="btn small danger" onClick={() => del(r)}>
                      Delete
                    </button>
                  </div>
                </div>
                {askEnable === r.id && (
                  <div class="askall" role="alertdialog" aria-label="Enable a rule for all traffic" data-testid="ask-enable">
                    <span>
                      <b>This rule matches all traffic.</b> Once enabled, every request through Loupe: {describeActions(r, specs)}.
                    </span>
                    <span class="grow" />
                    <button class="btn small" onClick={() => setAskEnable(null)} data-testid="ask-enable-cancel">
                      Keep it off
                    </button>
                    <button class="btn small danger" onClick={() => void setEnabled(r, true)} data-testid="ask-enable-confirm">
                      Enable for all traffic
                    </button>
                  </div>
                )}
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}

/** The editor dialog; open whenever `editing` holds a rule. */
export function RuleEditor() {
  const e = editing.value;
  const specs = actionSpecs.value;
  const [saving, setSaving] = useState(false);
  // Set when a save was stopped to ask about a rule that matches all traffic.
  const [askAll, setAskAll] = useState(false);
  useEffect(() => {
    void loadActionSpecs();
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
  const all = matchesAll(r.match);
  const set = (patch: Partial<Rule>) => {
    setAskAll(false);
    editing.value = { ...e, rule: { ...r, ...patch } };
  };
  const setMatch = (patch: Partial<Rule["match"]>) => set({ match: { ...r.match, ...patch } });
  const setAction = (i: number, a: Action) => set({ actions: r.actions.map((x, j) => (j === i ? a : x)) });
  const close = () => (editing.value = null);
  // The flow the user came from, to match instead of all traffic.
  const from = detail.value;

  const save = async (matchAllConfirmed: boolean) => {
    if (r.enabled && all && !matchAllConfirmed) {
      setAskAll(true);
      return;
    }
    setAskAll(false);
    setSaving(true);
    const clean = cleanRule(r, specs);
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
          void save(false);
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
            <input type="checkbox" checked={r.enabled} onChange={() => set({ enabled: !r.enabled })} data-testid="rule-enabled-edit" /> Enabled
          </label>

          <fieldset>
            <legend>Match (empty fields match anything)</legend>
            <div class={"mwords" + (all ? " all" : "")} data-testid="match-words">
              {all ? (
                <>
                  <b>Matches all traffic.</b> Every request through Loupe is affected{r.enabled ? "" : " once the rule is enabled"}: fill in at least a host or a path.
                </>
              ) : (
                <>Matches {describeMatch(r.match)}.</>
              )}
              {all && from && !from.kind && (
                <button type="button" class="link" onClick={() => setMatch(matchOf(from.request.method, from.request.url))} data-testid="match-from-flow">
                  {" "}
                  Match the selected flow ({from.request.method} {shortURL(from.request.url)})
                </button>
              )}
            </div>
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
          {specs.length === 0 ? (
            <p class="muted" data-testid="specs-loading">
              Loading the action types…
            </p>
          ) : (
            r.actions.map((a, i) => (
              <ActionForm
                key={i}
                a={a}
                i={i}
                specs={specs}
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
            ))
          )}
          <div class="addaction">
            <select
              value=""
              onChange={(ev) => {
                const t = val(ev);
                if (t) set({ actions: [...r.actions, blankAction(t, specs)] });
                (ev.target as HTMLSelectElement).value = "";
              }}
              data-testid="add-action"
            >
              <option value="">+ Add an action…</option>
              {specs.map((s) => (
                <option value={s.type}>{s.label}</option>
              ))}
            </select>
          </div>
        </div>
        {askAll ? (
          <div class="efoot askall" role="alertdialog" aria-label="Save a rule for all traffic" data-testid="ask-match-all">
            <span>
              <b>This rule matches all traffic.</b> Every request through Loupe: {describeActions(r, specs)}. Save it anyway?
            </span>
            <span class="grow" />
            <button type="button" class="btn" onClick={() => setAskAll(false)} data-testid="ask-match-all-cancel">
              Go back
            </button>
            <button type="button" class="btn danger" onClick={() => void save(true)} disabled={saving} data-testid="ask-match-all-confirm">
              Save for all traffic
            </button>
          </div>
        ) : (
          <div class="efoot">
            <span class="muted small">{probs.length ? `${probs.length} problem${probs.length === 1 ? "" : "s"} to fix` : ""}</span>
            <span class="grow" />
            <button type="button" class="btn" onClick={close}>
              Cancel
            </button>
            <button type="submit" class="btn primary" disabled={saving || specs.length === 0} data-testid="save-rule">
              {saving ? "Saving…" : "Save rule"}
            </button>
          </div>
        )}
      </form>
    </div>
  );
}

function shortURL(u: string): string {
  try {
    const x = new URL(u);
    const s = x.host + x.pathname;
    return s.length > 60 ? s.slice(0, 59) + "…" : s;
  } catch {
    return u.slice(0, 60);
  }
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

/** testId names a field's control for the browser tests: action-status, action-body, breakpoint-timeout. */
function testId(type: string, name: string): string {
  if (name === "status" || name === "body") return "action-" + name;
  return `${type}-${name.replace(/Ms$/, "").toLowerCase()}`;
}

/**
 * ActionForm edits one action from its type's entry in the table: one
 * control per field kind, the table's help beside it, and the fields of a
 * group (the body sources) offered one at a time.
 */
function ActionForm({ a, i, specs, probs, ruleId, onChange, onRemove, onMove }: { a: Action; i: number; specs: ActionSpec[]; probs: Problem[]; ruleId: string; onChange(a: Action): void; onRemove(): void; onMove(d: number): void }) {
  const spec = specOf(specs, a.type);
  const p = (f: string) => problemsAt(probs, ruleId, `actions[${i}].${f}`);
  const shownGroups = new Set<string>();
  return (
    <fieldset class="action" data-testid={`action-${i}`} data-type={a.type}>
      <legend>
        Action {i + 1}
        <select value={a.type} onChange={(ev) => onChange(changeType(a, val(ev), specs))} data-testid="action-type">
          {!spec && <option value={a.type}>{a.type} (unknown type)</option>}
          {specs.map((s) => (
            <option value={s.type}>{s.label}</option>
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
      {spec?.help && <p class="muted small ahelp">{spec.help}</p>}
      {problemsAt(probs, ruleId, `actions[${i}]`)
        .concat(p("type"))
        .map((m) => (
          <div class="fprob">{m}</div>
        ))}
      {spec?.fields.map((f) => {
        if (!f.group) return <FieldInput key={f.name} a={a} f={f} probs={p(f.name)} onChange={onChange} />;
        if (shownGroups.has(f.group)) return null;
        shownGroups.add(f.group);
        return <GroupInput key={"group:" + f.group} a={a} spec={spec} group={f.group} p={p} onChange={onChange} />;
      })}
    </fieldset>
  );
}

/** GroupInput offers the alternatives of one group (the body sources), one at a time. */
function GroupInput({ a, spec, group, p, onChange }: { a: Action; spec: ActionSpec; group: string; p(f: string): string[]; onChange(a: Action): void }) {
  const fields = groupFields(spec, group);
  const sel = selectedIn(a, spec, group);
  const f = fields.find((x) => x.name === sel) ?? fields[0];
  const pick = (name: string) => {
    const next: Action = { ...a, $src: { ...((a as EditMarks).$src ?? {}), [group]: name } };
    // One alternative at a time: the others are cleared.
    for (const x of fields) if (x.name !== name) delete next[x.name];
    (next as EditMarks).$empty = ((a as EditMarks).$empty ?? []).filter((n) => !fields.some((x) => x.name === n));
    onChange(next);
  };
  return (
    <div class="group" data-testid={`group-${group}`}>
      {fields.length > 1 && (
        <div class="seg inline" role="radiogroup" aria-label={group}>
          {fields.map((x) => (
            <button type="button" role="radio" aria-checked={x.name === f.name} class={x.name === f.name ? "on" : ""} onClick={() => pick(x.name)} data-testid={`src-${x.name}`}>
              {x.label}
            </button>
          ))}
        </div>
      )}
      {f && <FieldInput a={a} f={f} probs={fields.flatMap((x) => p(x.name))} onChange={onChange} />}
    </div>
  );
}

/** FieldInput is the control for one field, by its kind. */
function FieldInput({ a, f, probs, onChange }: { a: Action; f: FieldSpec; probs: string[]; onChange(a: Action): void }) {
  const v = a[f.name];
  const setV = (x: unknown) => onChange({ ...a, [f.name]: x });
  const tid = testId(a.type, f.name);
  switch (f.kind) {
    case "int":
      return (
        <Field label={f.label} probs={probs} hint={f.help}>
          <input
            type="number"
            class="mono"
            value={typeof v === "number" && !Number.isNaN(v) ? v : ""}
            onInput={(ev) => setV(val(ev) === "" ? undefined : Number(val(ev)))}
            data-testid={tid}
          />
        </Field>
      );
    case "bool":
      return (
        <label class={"check" + (probs.length ? " bad" : "")} title={f.help}>
          <input type="checkbox" checked={v === true} onChange={() => setV(v !== true)} data-testid={tid} /> {f.label}
          {probs.map((m) => (
            <span class="fprob">{m}</span>
          ))}
        </label>
      );
    case "enum":
      return (
        <Field label={f.label} probs={probs} hint={f.help}>
          <select value={typeof v === "string" && v ? v : (f.options?.[0] ?? "")} onChange={(ev) => setV(val(ev))} data-testid={tid}>
            {typeof v === "string" && v && !(f.options ?? []).includes(v) && <option value={v}>{v}</option>}
            {(f.options ?? []).map((o) => (
              <option value={o}>{o}</option>
            ))}
          </select>
        </Field>
      );
    case "headers":
      return <HeadersEditor key={a.type + ":" + f.name} label={f.label} help={f.help} value={(v as Record<string, string>) ?? {}} probs={probs} onChange={setV} testid={tid} />;
    case "names":
      return (
        <Field label={f.label} probs={probs} hint={f.help ?? "one per line"}>
          <textarea rows={3} class="mono" value={Array.isArray(v) ? v.join("\n") : ""} onInput={(ev) => setV(val(ev).split("\n"))} spellcheck={false} data-testid={tid} />
        </Field>
      );
    case "text": {
      const text = typeof v === "string" ? v : "";
      const empty = isEmptyChosen(a, f.name);
      return (
        <>
          <Field label={f.label} probs={probs} hint={f.help}>
            <textarea
              class={"mono" + (f.group ? " body" : "")}
              rows={f.group ? 10 : 5}
              value={text}
              onInput={(ev) => {
                const x = val(ev);
                const next: Action = { ...a, [f.name]: x };
                if (x !== "") (next as EditMarks).$empty = ((a as EditMarks).$empty ?? []).filter((n) => n !== f.name);
                onChange(next);
              }}
              spellcheck={false}
              data-testid={tid}
            />
          </Field>
          {f.group && text === "" && (
            <label class="check emptychoice">
              <input
                type="checkbox"
                checked={empty}
                onChange={() => {
                  const rest = ((a as EditMarks).$empty ?? []).filter((n) => n !== f.name);
                  onChange({ ...a, [f.name]: "", $empty: empty ? rest : [...rest, f.name] });
                }}
                data-testid={`empty-${f.name}`}
              />{" "}
              Serve an empty {f.label.toLowerCase()}
              {!empty && <span class="muted small"> (left empty, no {f.label.toLowerCase()} is set)</span>}
            </label>
          )}
        </>
      );
    }
    case "json":
      return (
        <Field label={f.label} probs={probs} hint={f.help}>
          <textarea
            rows={6}
            class="mono"
            value={typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v, null, 2)}
            onInput={(ev) => setV(val(ev))}
            spellcheck={false}
            data-testid={tid}
          />
        </Field>
      );
    default:
      return (
        <Field label={f.label} probs={probs} hint={f.help}>
          <input class="mono" value={typeof v === "string" ? v : v === undefined ? "" : String(v)} onInput={(ev) => setV(val(ev))} data-testid={tid} />
        </Field>
      );
  }
}

function HeadersEditor({ label, help, value, probs, onChange, testid }: { label: string; help?: string; value: Record<string, string>; probs: string[]; onChange(h: Record<string, string>): void; testid: string }) {
  const [rows, setRows] = useState<[string, string][]>(() => Object.entries(value));
  const emit = (next: [string, string][]) => {
    setRows(next);
    const h: Record<string, string> = {};
    for (const [k, v] of next) if (k.trim()) h[k.trim()] = v;
    onChange(h);
  };
  return (
    <div class={"field" + (probs.length ? " bad" : "")} data-testid={testid}>
      <span class="flabel">
        {label}
        {help && <span class="muted small"> {help}</span>}
      </span>
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
