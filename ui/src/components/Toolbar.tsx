// The toolbar: the pages, recording, clear, HAR export and import, the CA
// install page, what the capture holds and what it had to give up, imports
// in progress.

import { useRef, useState } from "preact/hooks";
import { api, exportURL } from "../api/client";
import { exportEstimate, exportWarning } from "../lib/exportsize";
import { fmtSize } from "../lib/format";
import type { AppState, Stats } from "../api/types";
import { HeldBadge } from "./Held";
import { openBrowser } from "./Modes";
import { appState, feedStatus, filterText, flowsVersion, freshSessions, getFeed, goTo, isPaused, listedSession, page, refreshSessions, refreshState, reportError, rules, select, toast, uploading } from "../state";
import { TreeToggle } from "./Tree";

export async function importHar(file: File): Promise<void> {
  // The upload's progress, then the server's reading of the file (the state's imports), show in the toolbar.
  uploading.value = { name: file.name, sent: 0, total: file.size };
  try {
    const { ids } = await api.importHar(file, (sent, total) => (uploading.value = { name: file.name, sent, total }));
    toast(`Imported ${ids.length} ${ids.length === 1 ? "flow" : "flows"} from ${file.name}`);
  } catch (err) {
    reportError("Import " + file.name, err);
  } finally {
    uploading.value = null;
  }
}

function budget(n: number | undefined): string | undefined {
  return n ? `budget ${fmtSize(n)}` : undefined;
}

/** ActiveRules counts the enabled rules on the Rules tab, so a rule left on is seen from every page. */
function ActiveRules() {
  const n = rules.value.filter((r) => r.enabled).length;
  if (!n) return null;
  return (
    <span class="pill" title={`${n} ${n === 1 ? "rule" : "rules"} active`} data-testid="rules-pill">
      {n}
    </span>
  );
}

export function Toolbar() {
  const paused = isPaused(appState.value);
  const stats: Partial<Stats> = appState.value.stats ?? {};
  const conns = appState.value.connections;
  const [secrets, setSecrets] = useState(false);
  const [onlyFiltered, setOnlyFiltered] = useState(true);
  const [exportOpen, setExportOpen] = useState(false);
  const [exportArmed, setExportArmed] = useState(false);
  const fileRef = useRef<HTMLInputElement>(null);
  const q = filterText.value;

  const toggle = async () => {
    try {
      await api.setRecording(paused);
      await refreshState();
    } catch (err) {
      reportError("Recording", err);
    }
  };
  // Clear empties the session the list shows (every session when it shows them all).
  const clear = async () => {
    const feed = getFeed();
    const listed = feed.listedSession;
    // Before the first snapshot the list is the recording session's.
    const target = listed > 0 ? listed : listed === 0 ? "all" : appState.value.session?.id;
    if (target === undefined) return;
    try {
      await api.clear(target);
      feed.store.clear();
      select(null);
      void refreshSessions();
    } catch (err) {
      reportError("Clear", err);
    }
  };

  return (
    <header class="toolbar">
      <div class="brand">
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <circle cx="10" cy="10" r="6.5" fill="none" stroke="currentColor" stroke-width="2.4" />
          <path d="M15 15l6 6" stroke="currentColor" stroke-width="2.8" stroke-linecap="round" />
        </svg>
        Loupe
      </div>
      <nav class="tabs main">
        <a href="#" class={page.value === "flows" ? "on" : ""} onClick={(e) => (e.preventDefault(), goTo("flows"))}>
          Flows
        </a>
        <a href="#sessions" class={page.value === "sessions" ? "on" : ""} onClick={(e) => (e.preventDefault(), goTo("sessions"), void refreshSessions())} data-testid="sessions-tab">
          Sessions
        </a>
        <a href="#rules" class={page.value === "rules" ? "on" : ""} onClick={(e) => (e.preventDefault(), goTo("rules"))}>
          Rules
          <ActiveRules />
        </a>
        <a href="#compose" class={page.value === "compose" ? "on" : ""} onClick={(e) => (e.preventDefault(), (page.value = "compose"), history.replaceState(null, "", "#compose"))} data-testid="nav-compose">
          Compose
        </a>
        <a href="#modes" class={page.value === "modes" ? "on" : ""} onClick={(e) => (e.preventDefault(), (page.value = "modes"), history.replaceState(null, "", "#modes"))} data-testid="tab-modes">
          Browsers &amp; hosts
        </a>
      </nav>
      <HeldBadge />
      <div class="tools">
        <button class={"btn rec" + (paused ? " paused" : "")} onClick={toggle} title={paused ? "Resume recording" : "Pause recording"} data-testid="record">
          <span class="dot" />
          {paused ? "Paused" : "Recording"}
        </button>
        <button class="btn" onClick={clear} title="Delete the flows of the session shown (every session's when all are shown)" data-testid="clear">
          Clear
        </button>
        <div class="pop">
          <button class="btn" onClick={() => setExportOpen(!exportOpen)} aria-expanded={exportOpen} data-testid="export-menu">
            Export HAR ▾
          </button>
          {exportOpen && (
            <div class="popover" onMouseLeave={() => (setExportOpen(false), setExportArmed(false))}>
              <label>
                <input type="checkbox" checked={onlyFiltered && !!q} disabled={!q} onChange={(e) => setOnlyFiltered((e.target as HTMLInputElement).checked)} /> Only the current filter
                {q && <code class="q">{q}</code>}
              </label>
              <label>
                <input type="checkbox" checked={secrets} onChange={(e) => setSecrets((e.target as HTMLInputElement).checked)} data-testid="secrets" /> Include secrets
                <span class="muted small">cookies, Authorization and tokens; off redacts them</span>
              </label>
              <span class="muted small">The flows of the session shown{listedSession.value === 0 ? " (every session)" : ""}.</span>
              <ExportLink q={onlyFiltered ? q : ""} secrets={secrets} armed={exportArmed} arm={setExportArmed} done={() => (setExportOpen(false), setExportArmed(false))} />
            </div>
          )}
        </div>
        <TreeToggle />
        <button class="btn" onClick={() => fileRef.current?.click()} title="Import a HAR file (or drop one on the page)" data-testid="import">
          Import HAR
        </button>
        <input
          ref={fileRef}
          type="file"
          accept=".har,application/json"
          hidden
          data-testid="import-file"
          onChange={async (e) => {
            const input = e.target as HTMLInputElement;
            const f = input.files?.[0];
            input.value = "";
            if (f) await importHar(f);
          }}
        />
        <button class="btn" onClick={() => void openBrowser()} title="Start a browser that goes through Loupe and trusts its CA (a temporary profile)" data-testid="open-browser">
          Open a browser
        </button>
        <a class="btn" href="/install" target="_blank" rel="noopener" title="Install Loupe's CA certificate to inspect HTTPS">
          CA certificate
        </a>
      </div>
      <div class="stats" title="What the capture holds">
        {stats.flows !== undefined && (
          <span data-testid="capture-count" title={"Flows of every session" + (stats.maxFlows ? `; at most ${stats.maxFlows.toLocaleString()} kept` : "") + ". The list counts the session it shows."}>
            {stats.flows.toLocaleString()} {stats.flows === 1 ? "flow" : "flows"} in the capture
          </span>
        )}
        {stats.bodyBytesRam !== undefined && <span title={budget(stats.ramBudget)}>RAM {fmtSize(stats.bodyBytesRam)}</span>}
        {stats.bodyBytesDisk !== undefined && <span title={budget(stats.diskBudget)}>disk {fmtSize(stats.bodyBytesDisk)}</span>}
        {stats.evicted !== undefined && (
          <span class={stats.evicted ? "warn" : ""} title="Oldest flows dropped to stay within the limits">
            {stats.evicted.toLocaleString()} evicted
          </span>
        )}
        {stats.upstreamNotKept ? (
          <span
            class="warn"
            data-testid="not-kept"
            title="Overridden flows whose original (upstream) body was not kept, or not whole: more than -max-drains at once, past -drain-max-bytes or -drain-timeout, or at shutdown. Each flow says which."
          >
            {stats.upstreamNotKept.toLocaleString()} {stats.upstreamNotKept === 1 ? "original" : "originals"} not kept
          </span>
        ) : null}
        {stats.truncated ? (
          <span title="Bodies or messages not kept whole: the body cap, the capture's budget, or a writer that could not keep up">
            {stats.truncated.toLocaleString()} truncated
          </span>
        ) : null}
        {stats.dropped ? (
          <span class="warn" data-testid="dropped" title="Flows not recorded: the capture's writer could not keep up with the traffic (the traffic itself was not slowed)">
            {stats.dropped.toLocaleString()} dropped
          </span>
        ) : null}
        {stats.writeErrors ? (
          <span class="warn" data-testid="write-errors" title="Writes to disk that failed (a full disk, an I/O error): the capture was cut there; see Loupe's log">
            {stats.writeErrors.toLocaleString()} write errors
          </span>
        ) : null}
        <ImportProgress state={appState.value} />
        {conns?.refused ? (
          <span
            class="warn"
            data-testid="conns-refused"
            title={`Client connections refused at the connection limit (-max-conns, -max-conns-per-client); ${(conns.open ?? 0).toLocaleString()} of ${(conns.max ?? 0).toLocaleString()} open now`}
          >
            {conns.refused.toLocaleString()} connections refused
          </span>
        ) : null}
        <span class={"conn " + feedStatus.value} title={"Live feed: " + feedStatus.value} data-testid="feed-status">
          {feedStatus.value}
        </span>
      </div>
    </header>
  );
}

/**
 * ExportLink downloads the HAR export; an export above WARN_FLOWS flows or
 * WARN_BYTES of bodies (sized from the sessions and the list's total) says
 * so first, and downloads on the second click.
 */
function ExportLink({ q, secrets, armed, arm, done }: { q: string; secrets: boolean; armed: boolean; arm: (v: boolean) => void; done: () => void }) {
  void flowsVersion.value;
  const listed = listedSession.value;
  const est = exportEstimate({ listed: listed > 0 ? listed : listed === 0 ? 0 : (appState.value.session?.id ?? 0), sessions: freshSessions(), matching: q ? getFeed().store.total : undefined });
  const warning = exportWarning(est);
  return (
    <>
      {warning && (
        <span class="warn small" data-testid="export-warning">
          {warning}
        </span>
      )}
      <a
        class="btn primary"
        href={exportURL(q, secrets, listed)}
        download="loupe.har"
        onClick={(e) => {
          if (warning && !armed) {
            e.preventDefault();
            arm(true);
            return;
          }
          done();
        }}
        data-testid="export"
      >
        {warning && armed ? "Download anyway" : "Download .har"}
      </a>
    </>
  );
}

/** What is being imported: the upload from this page, then the server's reading of the file. */
function ImportProgress({ state }: { state: Partial<AppState> }) {
  const up = uploading.value;
  const imp = state.imports?.[0];
  if (!up && !imp) return null;
  let text: string;
  if (up && up.sent < up.total) {
    text = `Uploading ${up.name}: ${Math.floor((100 * up.sent) / Math.max(1, up.total))}%`;
  } else if (imp) {
    const pct = imp.total > 0 ? ` (${Math.floor((100 * imp.bytes) / imp.total)}%)` : "";
    text = `Importing ${imp.name || "a file"}: ${imp.flows.toLocaleString()} flows${pct}`;
  } else {
    text = `Importing ${up!.name}…`;
  }
  return (
    <span class="importing" data-testid="import-progress" title="A file being opened as a session">
      {text}
    </span>
  );
}
