// The detail pane of a flow that records a CONNECT rather than a request
// (flow.Kind): a tunnel Loupe relayed without decrypting it, or a client
// that broke off the TLS handshake, with what to do about it.

import type { Flow } from "../api/types";
import { fmtDuration, fmtSize, fmtTime } from "../lib/format";
import { connectTarget, modeText, trustFailure } from "../lib/tunnel";
import { Headers } from "./Detail";

export function TunnelOverview({ f }: { f: Flow }) {
  const t = f.tunnel ?? {};
  const tls = f.kind === "tls-error";
  const duration = f.end ? fmtDuration(new Date(f.end).getTime() - new Date(f.start).getTime()) : "open";
  return (
    <div class="overview">
      {tls ? (
        <div class="problem big" data-testid="tls-error">
          <p>{f.error || "The TLS handshake with the client failed."}</p>
          <p class="hint">
            {trustFailure(t.failure) ? "Most often the client does not trust Loupe's CA yet: " : "If the client does not trust Loupe's CA yet: "}
            <a href="/install" target="_blank" rel="noopener" data-testid="install-link">
              install Loupe's CA certificate
            </a>{" "}
            on it (the "CA certificate" page). An app that pins its certificates cannot be decrypted: give its host to <code>-passthrough</code> to relay it as a tunnel.
          </p>
        </div>
      ) : (
        f.error && <div class="problem big">{f.error}</div>
      )}
      <dl class="kv">
        <dt>What</dt>
        <dd>{tls ? "a CONNECT whose client broke off the TLS handshake with Loupe" : `a CONNECT tunnel, ${modeText(t.mode)}`}</dd>
        <dt>Target</dt>
        <dd class="mono">
          {connectTarget(f)}
          {t.mappedTo && (
            <span data-testid="sent-to" title="A host mapping (Browsers & hosts) connected here instead">
              {" → "}
              {t.mappedTo} <span class="muted">(host mapping)</span>
            </span>
          )}
        </dd>
        <dt>SNI</dt>
        <dd class="mono">{t.sni || <span class="muted">none seen</span>}</dd>
        {tls && (
          <>
            <dt>Failure</dt>
            <dd class="mono">{t.failure || "—"}</dd>
          </>
        )}
        <dt>Client</dt>
        <dd class="mono">{f.client || "—"}</dd>
        <dt>Started</dt>
        <dd>
          {new Date(f.start).toLocaleDateString()} {fmtTime(f.start)}
        </dd>
        <dt>Duration</dt>
        <dd>{duration}</dd>
        <dt>Answer</dt>
        <dd>
          {f.response ? `${f.response.status} to the CONNECT` : tls ? "200 to the CONNECT, then the TLS handshake inside the tunnel failed" : <span class="muted">none</span>}
        </dd>
        {!tls && (
          <>
            <dt>Sent</dt>
            <dd data-testid="tunnel-sent">{fmtSize(f.requestBody.size)} client → origin</dd>
            <dt>Received</dt>
            <dd data-testid="tunnel-received">{fmtSize(f.responseBody.size)} origin → client</dd>
          </>
        )}
      </dl>
      {!tls && <p class="muted">A tunnel's bytes are counted as they pass; Loupe does not read or keep them.</p>}
    </div>
  );
}

export function TunnelRequest({ f }: { f: Flow }) {
  return (
    <div>
      <Headers title="CONNECT headers" headers={f.request.headers} />
      <p class="muted">The bytes inside the tunnel are not captured.</p>
    </div>
  );
}
