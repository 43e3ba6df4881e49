// The detail pane of the selected flow: overview (URL, status, timings as a
// waterfall, sizes, client, rules, error), request and response with their
// headers and bodies, WebSocket messages, and the actions on a flow.

import { useEffect, useState } from "preact/hooks";
import { api, bodyURL } from "../api/client";
import type { Field, Flow, Timings, WSMessage } from "../api/types";
import { toCurl } from "../lib/curl";
import { fmtDuration, fmtSize, fmtTime, statusClass } from "../lib/format";
import { grpcStatusOf } from "../lib/grpc";
import { isProbablyText } from "../lib/hex";
import { breakpointRuleFromFlow, ruleFromFlow } from "../lib/rules";
import { editAndSend } from "../compose-state";
import { PRESENCE_NOTE, presenceOf, summaryOf } from "../lib/presence";
import { detail, detailGone, detailOpen, editing, filterText, flowsVersion, getFeed, listedSession, loadDetail, reportError, rules, select, selectedId, toast } from "../state";
import { BodyView } from "./BodyView";
import { RequestParams, ResponseCookies } from "./Params";
import { CompareButton } from "./Diff";
import { AnnotationBar } from "./Annotate";
import { Badges } from "./FlowList";
import { TunnelOverview, TunnelRequest } from "./TunnelView";

type Tab = "overview" | "request" | "response" | "messages";

export function Detail() {
  const f = detail.value;
  const [tab, setTab] = useState<Tab>("response");
  void flowsVersion.value; // the badges follow the list's row
  const listed = f ? getFeed().store.get(f.id) : undefined;
  const presence = f ? presenceOf({ listed: !!listed, gone: detailGone.value === f.id, filter: filterText.value, session: f.session, listedSession: listedSession.value }) : "listed";
  useEffect(() => {
    // The list does not follow a flow it does not show: reload one in progress.
    if (!f || f.state !== "pending" || presence === "listed" || presence === "gone") return;
    const t = setInterval(() => void loadDetail(), 1000);
    return () => clearInterval(t);
  }, [f?.id, f?.state, presence]);
  if (!f) {
    const gone = selectedId.value !== null && detailGone.value === selectedId.value;
    return (
      <aside class="detail none">
        <p class="muted" data-testid={gone ? "detail-presence" : undefined}>
          {selectedId.value === null ? "Select a flow to inspect it." : gone ? PRESENCE_NOTE.gone + "." : "Loading…"}
        </p>
      </aside>
    );
  }
  const note = presence === "listed" ? undefined : PRESENCE_NOTE[presence];
  // A flow that records a CONNECT (a tunnel, a failed handshake) has no response to show.
  const tabs: Tab[] = f.kind ? ["overview", "request"] : ["overview", "request", "response"];
  if (f.websocket?.length || isWS(f)) tabs.push("messages");
  const t = tabs.includes(tab) ? tab : f.kind ? "overview" : "response";
  const summary = listed ?? summaryOf(f);
  return (
    <aside class="detail" data-testid="detail">
      <div class="dhead">
        <div class="durl">
          <span class={"c-method m-" + f.request.method.toLowerCase()}>{f.request.method}</span>
          <span class={"st " + statusClass(f.response?.status ?? 0)}>{f.response?.status ?? (f.state === "pending" ? "…" : "—")}</span>
          <span class="url" title={f.request.url}>
            {f.request.url}
          </span>
          {summary && <Badges s={summary} />}
          <button class="icon" title="Close (Esc)" onClick={() => (detailOpen.value = false)}>
            ×
          </button>
        </div>
        {note && (
          <p class="warn presence" data-testid="detail-presence" title={PRESENCE_TITLE[presence as Exclude<typeof presence, "listed">]}>
            {note}
          </p>
        )}
        <Actions f={f} />
        <AnnotationBar f={f} />
        <div class="tabs" role="tablist">
          {tabs.map((x) => (
            <button class={x === t ? "on" : ""} role="tab" aria-selected={x === t} onClick={() => setTab(x)}>
              {TAB_LABEL[x]}
              {x === "messages" && f.websocket ? ` (${f.websocket.length})` : ""}
            </button>
          ))}
        </div>
      </div>
      <div class="dbody">
        {t === "overview" && (f.kind ? <TunnelOverview f={f} /> : <Overview f={f} />)}
        {t === "request" && (f.kind ? <TunnelRequest f={f} /> : <RequestTab f={f} />)}
        {t === "response" && <ResponseTab f={f} note={note} />}
        {t === "messages" && <Messages msgs={f.websocket ?? []} />}
      </div>
    </aside>
  );
}

const PRESENCE_TITLE = {
  hidden: "The flow does not match the filter: the list does not show it, and its details are reloaded while it is in progress",
  elsewhere: "The flow is in another session, or older than what the list has loaded",
  gone: "Deleted, cleared, or evicted to stay within the capture's limits: what is shown is what was loaded last",
};

const TAB_LABEL: Record<Tab, string> = { overview: "Overview", request: "Request", response: "Response", messages: "Messages" };

function isWS(f: Flow): boolean {
  return f.response?.status === 101 || (f.request.headers ?? []).some((h) => h.name.toLowerCase() === "upgrade" && h.value.toLowerCase() === "websocket");
}

async function copy(text: string, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = document.createElement("textarea");
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  toast(`${what} copied`);
}

async function bodyText(url: string, max = 4 << 20): Promise<{ text: string | null; binary: boolean }> {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) return { text: null, binary: false };
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > max || !isProbablyText(bytes)) return { text: null, binary: bytes.length > 0 };
  return { text: new TextDecoder().decode(bytes), binary: false };
}

function Actions({ f }: { f: Flow }) {
  const curl = async () => {
    let body: string | null = null;
    let binary = false;
    if (f.requestBody.size > 0) ({ text: body, binary } = await bodyText(bodyURL(f.id, "request")));
    await copy(toCurl({ method: f.request.method, url: f.request.url, headers: f.request.headers, body, binaryBody: binary }), "cURL command");
  };
  const replay = async () => {
    try {
      const { id } = await api.replay(f.id);
      toast(`Replayed as #${id}`);
      // Show the new flow: it is what the user wants to look at next.
      select(id);
    } catch (err) {
      reportError("Replay", err);
    }
  };
  const override = async () => {
    let text: string | null = "";
    if (f.responseBody.size > 0) {
      try {
        ({ text } = await bodyText(bodyURL(f.id, "response")));
      } catch {
        text = "";
      }
    }
    editing.value = { rule: ruleFromFlow(f, text), isNew: true, problems: [] };
    if (text === null) toast("The response body is binary: the rule keeps the upstream body unless you give one", "info");
  };
  const kill = async () => {
    try {
      await api.kill(f.id);
      toast(`Killed #${f.id}`);
    } catch (err) {
      reportError("Kill", err);
    }
  };
  const del = async () => {
    try {
      await api.deleteFlow(f.id);
      getFeed().store.remove(f.id);
      select(null);
    } catch (err) {
      reportError("Delete", err);
    }
  };
  return (
    <div class="actions">
      <button class="btn small" onClick={() => copy(f.request.url, "URL")}>
        Copy URL
      </button>
      {!f.kind && (
        <>
          <button class="btn small" onClick={curl}>
            Copy as cURL
          </button>
          <button class="btn small" onClick={replay} disabled={f.imported && !f.request.url}>
            Replay
          </button>
          <CompareButton id={f.id} />
          <button class="btn small" onClick={() => editAndSend(f)} disabled={!/^https?:/i.test(f.request.url) || isWS(f)} title="Open this request in the editor, change it and send it as a new flow" data-testid="edit-and-send">
            Edit and send
          </button>
          {/* Response rules never apply to a WebSocket upgrade: no override to offer. */}
          {!isWS(f) && (
            <button class="btn small primary" onClick={override} data-testid="override">
              Override this response
            </button>
          )}
          <button class="btn small" onClick={() => (editing.value = { rule: breakpointRuleFromFlow(f), isNew: true, problems: [] })} title="A rule that holds the next requests like this one for you to inspect and edit" data-testid="break-on-this">
            Break on this
          </button>
        </>
      )}
      <span class="grow" />
      {f.state === "pending" && (
        <button class="btn small danger" onClick={kill} title="End this exchange now: the client's and the origin's connections are closed" data-testid="kill">
          Kill
        </button>
      )}
      <button class="btn small danger" onClick={del} title="Delete this flow (Del)">
        Delete
      </button>
    </div>
  );
}

function Overview({ f }: { f: Flow }) {
  const ruleNames = new Map(rules.value.map((r) => [r.id, r.name || r.id]));
  return (
    <div class="overview">
      {f.error && <div class="problem big">{f.error}</div>}
      <dl class="kv">
        <dt>URL</dt>
        <dd class="mono wrap">{f.request.url}</dd>
        {f.tunnel?.target || f.tunnel?.mappedTo ? (
          <>
            <dt>Sent to</dt>
            <dd class="mono" data-testid="sent-to">
              {f.tunnel.target && <span title="The CONNECT tunnel's target">{f.tunnel.target}</span>}
              {f.tunnel.mappedTo && (
                <span title="A host mapping (Browsers & hosts) connected here instead">
                  {f.tunnel.target ? " → " : ""}
                  {f.tunnel.mappedTo} <span class="muted">(host mapping)</span>
                </span>
              )}
            </dd>
          </>
        ) : null}
        <dt>Status</dt>
        <dd>
          <span class={"st " + statusClass(f.response?.status ?? 0)}>{f.response?.status ?? "—"}</span>{" "}
          {f.upstreamResponse && f.response && f.upstreamResponse.status !== f.response.status && <span class="muted">(upstream answered {f.upstreamResponse.status})</span>}
          <span class="muted"> · {f.state}</span>
          <GrpcStatusLine resp={f.response} />
        </dd>
        <dt>Protocol</dt>
        <dd>
          {f.request.proto}
          {f.response && f.response.proto !== f.request.proto ? ` → ${f.response.proto}` : ""}
        </dd>
        <dt>Client</dt>
        <dd class="mono">{f.client || "—"}</dd>
        <dt>Started</dt>
        <dd>
          {new Date(f.start).toLocaleDateString()} {fmtTime(f.start)}
        </dd>
        <dt>Duration</dt>
        <dd>{f.end ? fmtDuration(new Date(f.end).getTime() - new Date(f.start).getTime()) : "pending"}</dd>
        <dt>Request body</dt>
        <dd>{sizeLine(f.requestBody)}</dd>
        <dt>Response body</dt>
        <dd>
          {sizeLine(f.responseBody)}
          {f.upstreamBody && <span class="muted"> · upstream {sizeLine(f.upstreamBody)}</span>}
          {f.upstreamNotKept && <span class="warn" data-testid="upstream-not-kept"> · {f.upstreamNotKept}</span>}
        </dd>
        {f.overridden && (
          <>
            <dt>Produced by</dt>
            <dd>
              <span class={"badge b-" + f.overridden}>{f.overridden}</span> a rule answered instead of the origin
            </dd>
          </>
        )}
        <dt>Rules</dt>
        <dd>
          {f.rules?.length
            ? f.rules.map((id) => (
                <span class="chip" title={id}>
                  {ruleNames.get(id) ?? id}
                </span>
              ))
            : <span class="muted">none</span>}
        </dd>
        {f.replayOf ? (
          <>
            <dt>Replay of</dt>
            <dd>
              <button class="link" onClick={() => select(f.replayOf!)}>
                #{f.replayOf}
              </button>
            </dd>
          </>
        ) : null}
        {f.composed ? (
          <>
            <dt>Sent from</dt>
            <dd data-testid="composed-from">
              the dashboard's editor
              {f.composedFrom ? (
                <>
                  , edited from{" "}
                  <button class="link" onClick={() => select(f.composedFrom!)}>
                    #{f.composedFrom}
                  </button>
                </>
              ) : null}
            </dd>
          </>
        ) : null}
        {f.imported && (
          <>
            <dt>Source</dt>
            <dd>imported from a HAR file</dd>
          </>
        )}
      </dl>
      <h4>Timings</h4>
      <Waterfall t={f.timings} />
    </div>
  );
}

function sizeLine(b: Flow["requestBody"]): string {
  if (!b.size && b.complete) return "none";
  let s = fmtSize(b.size);
  if (b.encoding) s += ` (${b.encoding})`;
  if (b.truncated) s += `, captured ${fmtSize(b.captured)}`;
  if (!b.complete) s += ", incomplete";
  return s;
}

const PHASES: { k: keyof Timings; label: string }[] = [
  { k: "blocked", label: "Blocked" },
  { k: "dns", label: "DNS" },
  { k: "connect", label: "Connect" },
  { k: "ssl", label: "TLS" },
  { k: "send", label: "Send" },
  { k: "wait", label: "Wait" },
  { k: "receive", label: "Receive" },
];

/** Waterfall draws each phase as a bar offset by the phases before it (TLS sits inside Connect, as in HAR). */
export function Waterfall({ t }: { t: Timings }) {
  const total = ["blocked", "dns", "connect", "send", "wait", "receive"].reduce((s, k) => s + Math.max(0, t[k as keyof Timings]), 0);
  if (total <= 0) return <p class="muted">No timings recorded.</p>;
  let at = 0;
  let connectStart = 0;
  const bars = PHASES.map(({ k, label }) => {
    const v = t[k];
    let start = at;
    if (k === "ssl") {
      // TLS is the tail of Connect.
      start = connectStart + Math.max(0, t.connect) - Math.max(0, v);
    } else {
      if (k === "connect") connectStart = at;
      if (v > 0) at += v;
    }
    return { k, label, v, start };
  });
  return (
    <div class="waterfall" data-testid="waterfall">
      {bars.map((b) => (
        <div class="wf-row">
          <span class="wf-label">{b.label}</span>
          <span class="wf-track">
            {b.v >= 0 && <span class={"wf-bar wf-" + b.k} style={{ left: (b.start / total) * 100 + "%", width: Math.max(0.5, (Math.max(0, b.v) / total) * 100) + "%" }} />}
          </span>
          <span class="wf-val">{b.v < 0 ? "—" : fmtDuration(b.v)}</span>
        </div>
      ))}
      <div class="wf-row total">
        <span class="wf-label">Total</span>
        <span class="wf-track" />
        <span class="wf-val">{fmtDuration(total)}</span>
      </div>
    </div>
  );
}

export function Headers({ headers, title }: { headers: Field[] | null | undefined; title: string }) {
  const hs = headers ?? [];
  return (
    <section class="headers">
      <h4>
        {title} <span class="muted">({hs.length})</span>
      </h4>
      {hs.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <table class="htable" data-testid={title.toLowerCase().replace(/\s+/g, "-")}>
          <tbody>
            {hs.map((h) => (
              <tr>
                <th>{h.name}</th>
                <td>{h.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ctOf(headers: Field[] | null | undefined, fallback = ""): string {
  return headerOf(headers, "content-type") ?? fallback;
}

function headerOf(headers: Field[] | null | undefined, name: string): string | undefined {
  for (const h of headers ?? []) if (h.name.toLowerCase() === name) return h.value;
  return undefined;
}

/** GrpcStatusLine names the gRPC status of a gRPC response: HTTP says 200 even when the call failed. */
function GrpcStatusLine({ resp }: { resp: Flow["response"] }) {
  const st = grpcStatusOf(resp);
  if (!st) return null;
  return (
    <p class="grpcstatus" data-testid="grpc-status">
      gRPC status <span class={"badge " + (st.code === 0 ? "b-grpc-ok" : "b-grpc-err")}>{st.name}</span>{" "}
      <span class="muted">({st.code})</span> {st.message}
    </p>
  );
}

function RequestTab({ f }: { f: Flow }) {
  const [showUp, setShowUp] = useState(false);
  const sent = f.upstreamRequest;
  const changed = sent && (sent.url !== f.request.url || JSON.stringify(sent.headers) !== JSON.stringify(f.request.headers));
  return (
    <div>
      {changed && (
        <div class="seg inline">
          <button class={!showUp ? "on" : ""} onClick={() => setShowUp(false)}>
            As received
          </button>
          <button class={showUp ? "on" : ""} onClick={() => setShowUp(true)}>
            As sent upstream
          </button>
        </div>
      )}
      {showUp && sent ? (
        <>
          {sent.url !== f.request.url && <p class="mono wrap">→ {sent.url}</p>}
          <Headers title="Request headers" headers={sent.headers} />
        </>
      ) : (
        <Headers title="Request headers" headers={f.request.headers} />
      )}
      {!!f.request.trailers?.length && <Headers title="Request trailers" headers={f.request.trailers} />}
      <RequestParams f={f} />
      <h4>Request body</h4>
      <BodyView
        id={f.id}
        side="request"
        body={f.requestBody}
        contentType={f.requestBody.contentType || ctOf(f.request.headers)}
        grpcEncoding={headerOf(f.request.headers, "grpc-encoding")}
      />
    </div>
  );
}

function ResponseTab({ f, note }: { f: Flow; note?: string }) {
  const [upstream, setUpstream] = useState(false);
  useEffect(() => setUpstream(false), [f.id]);
  if (!f.response) {
    // A flow the list does not follow may have answered since: say why it may look pending.
    return <p class="muted">{f.state === "pending" ? (note ? note + ": it was still waiting for its response when last loaded." : "Waiting for the response…") : f.error || "No response."}</p>;
  }
  const hasUp = !!f.upstreamBody || (!!f.overridden && !!f.upstreamResponse);
  const head = upstream && f.upstreamResponse ? f.upstreamResponse : f.response;
  const body = upstream && f.upstreamBody ? f.upstreamBody : f.responseBody;
  return (
    <div>
      {hasUp && (
        <div class="seg inline" data-testid="variant-switch">
          <button class={!upstream ? "on" : ""} onClick={() => setUpstream(false)}>
            Served
          </button>
          <button class={upstream ? "on" : ""} onClick={() => setUpstream(true)} disabled={!f.upstreamBody && !f.upstreamResponse}>
            Upstream (original)
          </button>
        </div>
      )}
      {upstream && <p class="muted">Status {head.status} from the origin, before rules.</p>}
      <Headers title="Response headers" headers={head.headers} />
      {!!head.trailers?.length && <Headers title="Response trailers" headers={head.trailers} />}
      <ResponseCookies headers={head.headers} />
      <GrpcStatusLine resp={head} />
      <h4>Response body{hasUp ? (upstream ? " (upstream)" : " (served)") : ""}</h4>
      {upstream && f.upstreamNotKept && (
        <p class="warn" data-testid="upstream-why" title="Replaced bodies are read in the background within -max-drains, -drain-max-bytes and -drain-timeout">
          {f.upstreamNotKept}
        </p>
      )}
      {upstream && !f.upstreamBody ? (
        !f.upstreamNotKept && <p class="muted">The origin's body was not recorded.</p>
      ) : (
        <BodyView
          key={String(upstream)}
          id={f.id}
          side="response"
          upstream={upstream}
          body={body}
          contentType={body.contentType || ctOf(head.headers, f.responseBody.contentType)}
          grpcEncoding={headerOf(head.headers, "grpc-encoding")}
        />
      )}
    </div>
  );
}

function Messages({ msgs }: { msgs: WSMessage[] }) {
  if (msgs.length === 0) return <p class="muted">No messages yet.</p>;
  return (
    <table class="wsmsgs" data-testid="ws-messages">
      <thead>
        <tr>
          <th></th>
          <th>Time</th>
          <th>Data</th>
          <th>Size</th>
        </tr>
      </thead>
      <tbody>
        {msgs.map((m) => (
          <tr class={m.type}>
            <td class={"dir " + m.type} title={m.type === "send" ? "client → server" : "server → client"}>
              {m.type === "send" ? "↑" : "↓"}
            </td>
            <td class="mono">{fmtTime(m.time)}</td>
            <td class="mono data">{wsData(m)}</td>
            <td>{fmtSize(m.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function wsData(m: WSMessage): string {
  const kind: Record<number, string> = { 8: "close", 9: "ping", 10: "pong" };
  if (kind[m.opcode]) return `[${kind[m.opcode]}]`;
  if (!m.data) return "";
  const bin = atob(m.data);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (m.opcode === 1 || isProbablyText(bytes)) return new TextDecoder().decode(bytes) + (m.truncated ? " …" : "");
  return `[binary ${fmtSize(m.size)}] ` + Array.from(bytes.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join(" ");
}
