// The compose page ("edit and send"): a request editor (method, URL, query
// parameters, headers, body) that sends through the proxy as a new flow,
// with Copy as cURL, Paste cURL and the history of sent requests.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../api/client";
import type { Field } from "../api/types";
import { addHistory, blankDraft, clearHistory, composeRequestOf, contentTypeOf, draftFromHistory, prettyJSON, queryParams, withQuery, type Draft, type HistoryEntry, type QueryParam } from "../lib/compose";
import { toCurl } from "../lib/curl";
import { CurlError, parseCurl } from "../lib/curlparse";
import { fmtTime } from "../lib/format";
import { composeBreakpoints, composeHistory, copyText, draft, draftNotes, openCompose, requestBodyOf, storage } from "../compose-state";
import { detailOpen, page, reportError, select, toast } from "../state";
import "./compose.css";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const COMMON_HEADERS = ["Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control", "Content-Type", "Cookie", "If-None-Match", "Origin", "Referer", "User-Agent", "X-Requested-With"];

/** A problem the server found, on the field it names ("url", "headers[2].name"). */
interface Problem {
  field: string;
  message: string;
}

export function ComposePage() {
  const d = draft.value;
  const [sending, setSending] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [pasting, setPasting] = useState(false);
  const set = (patch: Partial<Draft>) => (draft.value = { ...draft.value, ...patch });
  const at = (field: string) => (problem && problem.field === field ? problem.message : null);

  const send = async () => {
    if (sending) return;
    setSending(true);
    setProblem(null);
    const sent = draft.value;
    try {
      const req = composeRequestOf(sent);
      if (composeBreakpoints.value) req.breakpoints = true;
      const r = await api.compose(req);
      composeHistory.value = addHistory(storage, sent, r.id, Date.now());
      toast(`Sent as #${r.id}` + (r.dropped?.length ? `; Loupe set ${r.dropped.join(", ")} itself` : ""));
      // The new flow is what the user wants to see next.
      page.value = "flows";
      window.history.replaceState(null, "", "#");
      detailOpen.value = true;
      select(r.id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        setProblem({ field: err.data?.field ?? "", message: err.message });
      } else {
        reportError("Send", err);
      }
    } finally {
      setSending(false);
    }
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault();
        void send();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const curl = () => copyText(toCurl({ method: d.method || "GET", url: d.url, headers: d.headers.filter((h) => h.name.trim()), body: d.bodyBase64 === undefined ? d.body : null, binaryBody: d.bodyBase64 !== undefined }), "cURL command");
  const general = problem && !/^(url|method|body|bodyBase64|headers\[\d+\]\.(name|value))$/.test(problem.field) ? problem.message : null;

  return (
    <main class="compose" data-testid="compose">
      <section class="cedit">
        <div class="crow">
          <input class={"mono cmethod" + (at("method") ? " bad" : "")} list="compose-methods" value={d.method} onInput={(e) => set({ method: val(e) })} aria-label="Method" data-testid="compose-method" spellcheck={false} />
          <datalist id="compose-methods">
            {METHODS.map((m) => (
              <option value={m} />
            ))}
          </datalist>
          <input
            class={"mono curl-input" + (at("url") ? " bad" : "")}
            value={d.url}
            onInput={(e) => set({ url: val(e) })}
            placeholder="https://api.example.com/path?x=1"
            aria-label="URL"
            data-testid="compose-url"
            spellcheck={false}
          />
          <button class="btn primary" onClick={send} disabled={sending || !d.url.trim()} title="Send through the proxy (Ctrl+Enter)" data-testid="compose-send">
            {sending ? "Sending…" : "Send"}
          </button>
        </div>
        {(at("url") || at("method")) && <div class="fprob" role="alert">{at("url") ?? at("method")}</div>}
        {general && (
          <div class="problem" role="alert">
            {general}
          </div>
        )}
        <div class="actions">
          <button class="btn small" onClick={() => setPasting(true)} data-testid="compose-paste">
            Paste cURL
          </button>
          <button class="btn small" onClick={curl} disabled={!d.url.trim()} data-testid="compose-curl">
            Copy as cURL
          </button>
          <button class="btn small" onClick={() => openCompose(blankDraft())} data-testid="compose-new">
            New request
          </button>
          <label class="muted" title="Off: breakpoint rules let this request pass, as they do replays (you are watching it already)">
            <input type="checkbox" checked={composeBreakpoints.value} onChange={(e) => (composeBreakpoints.value = (e.target as HTMLInputElement).checked)} data-testid="compose-breakpoints" /> Breakpoints may hold it
          </label>
          <span class="grow" />
          {d.from ? (
            <span class="muted" data-testid="compose-from">
              Edited from{" "}
              <button
                class="link"
                onClick={() => {
                  page.value = "flows";
                  window.history.replaceState(null, "", "#");
                  detailOpen.value = true;
                  select(d.from!);
                }}
              >
                #{d.from}
              </button>
            </span>
          ) : null}
        </div>
        {draftNotes.value.map((n) => (
          <p class="muted small cnote">{n}</p>
        ))}

        <h4>Query parameters</h4>
        <QueryTable url={d.url} onChange={(url) => set({ url })} />

        <h4>Headers</h4>
        <HeadersTable headers={d.headers} problem={problem} onChange={(headers) => set({ headers })} />

        <h4>Body</h4>
        <BodyEditor d={d} problem={at("body") ?? at("bodyBase64")} onChange={set} />
      </section>
      <HistoryList />
      {pasting && <PasteCurl onClose={() => setPasting(false)} />}
    </main>
  );
}

function val(e: Event): string {
  return (e.target as HTMLInputElement).value;
}

/** QueryTable edits the URL's query as rows; rows being typed (still empty) stay until they hold something. */
function QueryTable({ url, onChange }: { url: string; onChange(url: string): void }) {
  const ours = useRef<string | null>(null);
  const [rows, setRows] = useState<QueryParam[]>(() => queryParams(url));
  // The URL changed elsewhere (typed in, pasted): read its query again.
  useEffect(() => {
    if (url !== ours.current) setRows(queryParams(url));
  }, [url]);
  const emit = (next: QueryParam[]) => {
    setRows(next);
    const u = withQuery(url, next);
    ours.current = u;
    onChange(u);
  };
  return (
    <div class="kvedit" data-testid="compose-query">
      {rows.map((p, i) => (
        <div class="kvrow">
          <input class="mono" placeholder="name" value={p.name} onInput={(e) => emit(rows.map((r, j) => (j === i ? { name: val(e), value: r.value } : r)))} data-testid={`query-name-${i}`} />
          <input class="mono" placeholder="value" value={p.value} onInput={(e) => emit(rows.map((r, j) => (j === i ? { name: r.name, value: val(e) } : r)))} data-testid={`query-value-${i}`} />
          <button type="button" class="icon" title="Remove" onClick={() => emit(rows.filter((_, j) => j !== i))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" class="link" onClick={() => setRows([...rows, { name: "", value: "" }])} data-testid="compose-add-query">
        + parameter
      </button>
    </div>
  );
}

function HeadersTable({ headers, problem, onChange }: { headers: Field[]; problem: Problem | null; onChange(h: Field[]): void }) {
  const bad = (i: number, part: "name" | "value") => (problem?.field === `headers[${i}].${part}` ? problem.message : null);
  // The server counts rows without the empty ones: map its index back to ours.
  const sent: number[] = [];
  headers.forEach((h, i) => h.name.trim() && sent.push(i));
  const badAt = (i: number, part: "name" | "value") => {
    const k = sent.indexOf(i);
    return k >= 0 ? bad(k, part) : null;
  };
  return (
    <div class="kvedit" data-testid="compose-headers">
      <datalist id="compose-header-names">
        {COMMON_HEADERS.map((h) => (
          <option value={h} />
        ))}
      </datalist>
      {headers.map((h, i) => (
        <>
          <div class="kvrow">
            <input class={"mono" + (badAt(i, "name") ? " bad" : "")} list="compose-header-names" placeholder="Name" value={h.name} onInput={(e) => onChange(headers.map((x, j) => (j === i ? { name: val(e), value: x.value } : x)))} data-testid={`header-name-${i}`} spellcheck={false} />
            <input class={"mono" + (badAt(i, "value") ? " bad" : "")} placeholder="Value" value={h.value} onInput={(e) => onChange(headers.map((x, j) => (j === i ? { name: x.name, value: val(e) } : x)))} data-testid={`header-value-${i}`} spellcheck={false} />
            <button type="button" class="icon" title="Remove" onClick={() => onChange(headers.filter((_, j) => j !== i))} data-testid={`header-remove-${i}`}>
              ×
            </button>
          </div>
          {(badAt(i, "name") || badAt(i, "value")) && (
            <span class="fprob" role="alert">
              {badAt(i, "name") ?? badAt(i, "value")}
            </span>
          )}
        </>
      ))}
      <button type="button" class="link" onClick={() => onChange([...headers, { name: "", value: "" }])} data-testid="compose-add-header">
        + header
      </button>
    </div>
  );
}

function BodyEditor({ d, problem, onChange }: { d: Draft; problem: string | null; onChange(p: Partial<Draft>): void }) {
  if (d.bodyBase64 !== undefined) {
    const n = Math.floor((d.bodyBase64.replace(/=+$/, "").length * 3) / 4);
    return (
      <div class="cbinary">
        <span class="muted">A binary body of {n.toLocaleString()} bytes, sent as it was captured.</span>
        <button class="btn small" onClick={() => onChange({ bodyBase64: undefined, body: "" })}>
          Replace with text
        </button>
      </div>
    );
  }
  const pretty = prettyJSON(d.body);
  const ct = contentTypeOf(d.headers);
  return (
    <div class={"field" + (problem ? " bad" : "")}>
      <div class="cbodybar">
        <button class="btn small" disabled={pretty === null || pretty === d.body} onClick={() => pretty !== null && onChange({ body: pretty })} title="Indent the JSON body" data-testid="compose-format-json">
          Format JSON
        </button>
        {d.body && !ct && <span class="muted small">No Content-Type header: the server will guess.</span>}
        {d.body && /^(GET|HEAD)$/i.test(d.method.trim()) && <span class="muted small">A {d.method.toUpperCase()} with a body is sent as written; many servers ignore it.</span>}
      </div>
      <textarea class="mono body" rows={12} value={d.body} onInput={(e) => onChange({ body: (e.target as HTMLTextAreaElement).value })} spellcheck={false} data-testid="compose-body" placeholder="Request body (empty: none)" />
      {problem && (
        <span class="fprob" role="alert">
          {problem}
        </span>
      )}
    </div>
  );
}

function HistoryList() {
  const list = composeHistory.value;
  const open = async (e: HistoryEntry) => {
    const d = draftFromHistory(e);
    const notes: string[] = [];
    if (e.body === null) {
      // The body was not kept here: the flow it became has it, while it is captured.
      try {
        const f = await api.flow(e.id);
        const b = await requestBodyOf(f);
        if (b.text !== null) d.body = b.text;
        else d.bodyBase64 = b.base64;
      } catch {
        notes.push(`The body of this request was not kept, and flow #${e.id} is no longer captured: the body is empty.`);
      }
    }
    openCompose(d, notes);
  };
  return (
    <aside class="chistory" data-testid="compose-history">
      <div class="chead">
        <h4>History</h4>
        <span class="grow" />
        {list.length > 0 && (
          <button
            class="link small"
            onClick={() => {
              if (!confirm("Forget the requests sent from this browser?")) return;
              clearHistory(storage);
              composeHistory.value = [];
            }}
          >
            Clear
          </button>
        )}
      </div>
      {list.length === 0 ? (
        <p class="muted small">Requests you send from here are listed here (kept in this browser).</p>
      ) : (
        <ul>
          {list.map((e) => (
            <li>
              <button class="hentry" onClick={() => open(e)} title={`${e.method} ${e.url}`}>
                <span class={"c-method m-" + e.method.toLowerCase()}>{e.method}</span>
                <span class="mono hurl">{e.url.replace(/^https?:\/\//, "")}</span>
              </button>
              <span class="muted small">
                {fmtTime(new Date(e.at).toISOString())} ·{" "}
                <button
                  class="link small"
                  onClick={() => {
                    page.value = "flows";
                    window.history.replaceState(null, "", "#");
                    detailOpen.value = true;
                    select(e.id);
                  }}
                >
                  #{e.id}
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}

function PasteCurl({ onClose }: { onClose(): void }) {
  const [text, setText] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    ref.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const create = () => {
    try {
      const r = parseCurl(text);
      const d: Draft = { method: r.method, url: r.url, headers: r.headers, body: r.body ?? "" };
      const notes = r.warnings.length ? [`From the cURL command, not applied: ${r.warnings.join("; ")}.`] : [];
      openCompose(d, notes);
      onClose();
    } catch (e) {
      setErr(e instanceof CurlError ? e.message : `cannot read this command: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label="Paste cURL" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div class="editor">
        <div class="ehead">
          <h3>Paste a cURL command</h3>
          <span class="grow" />
          <button type="button" class="icon" onClick={onClose} title="Close (Esc)">
            ×
          </button>
        </div>
        <div class="ebody">
          <p class="muted small">From a terminal, or a browser's "Copy as cURL" (bash or Windows cmd). -X, -H, -d and --data-*, --json, -u, -b, -A, -e, --url, -G, -I and --compressed are read.</p>
          <textarea
            ref={ref}
            class="mono"
            rows={10}
            value={text}
            onInput={(e) => {
              setText((e.target as HTMLTextAreaElement).value);
              setErr(null);
            }}
            onKeyDown={(e) => {
              if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
                e.preventDefault();
                e.stopPropagation();
                create();
              }
            }}
            placeholder="curl 'https://api.example.com/items' -H 'accept: application/json'"
            spellcheck={false}
            data-testid="paste-text"
          />
          {err && (
            <div class="problem" role="alert" data-testid="paste-error">
              {err}
            </div>
          )}
        </div>
        <div class="efoot">
          <span class="grow" />
          <button class="btn" onClick={onClose}>
            Cancel
          </button>
          <button class="btn primary" onClick={create} disabled={!text.trim()} data-testid="paste-create">
            Open in the editor
          </button>
        </div>
      </div>
    </div>
  );
}
