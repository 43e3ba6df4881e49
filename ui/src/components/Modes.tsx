// Getting traffic into Loupe from the dashboard: start a browser wired to
// Loupe (a temporary profile that uses the proxy and trusts the CA), see
// the browsers started, and edit the host mappings (hosts.json).

import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { BrowsersState, HostMapEntry, HostMapState } from "../api/types";
import { cleanEntries, sameEntries } from "../lib/hostmap";
import { reportError, toast } from "../state";

/** openBrowser asks Loupe to start a browser; it reports the outcome as a toast. */
export async function openBrowser(browser?: string, url?: string): Promise<boolean> {
  try {
    const b = await api.launchBrowser({ browser, url });
    toast(`Started ${b.name} (pid ${b.pid}) through Loupe` + (b.note ? ` — ${b.note}` : ""));
    return true;
  } catch (err) {
    reportError("Open a browser", err);
    return false;
  }
}

export function ModesPage() {
  return (
    <div class="modespage">
      <BrowsersPanel />
      <HostMapPanel />
    </div>
  );
}

function BrowsersPanel() {
  const [st, setSt] = useState<BrowsersState | null>(null);
  const [which, setWhich] = useState("");
  const [url, setUrl] = useState("");
  const load = async () => {
    try {
      setSt(await api.browsers());
    } catch (err) {
      reportError("Browsers", err);
    }
  };
  useEffect(() => {
    void load();
    // A browser closed by its user drops off the running list.
    const t = setInterval(() => void load(), 3000);
    return () => clearInterval(t);
  }, []);

  const none = st !== null && st.available.length === 0;
  return (
    <section class="panel" data-testid="browsers-panel">
      <h2>Open a browser</h2>
      <p class="muted">
        Starts a browser with a fresh temporary profile that sends everything through Loupe, <code>localhost</code> included, and
        trusts Loupe's CA for that profile only: nothing to install. The profile is deleted when the browser closes. From a
        terminal: <code>loupe browser [URL]</code>.
      </p>
      {none ? (
        <p class="warn" data-testid="no-browser">
          No Chromium, Chrome, Edge, Brave or Firefox found on Loupe's machine (Debian: <code>apt install chromium</code>).
        </p>
      ) : (
        <form
          class="mrow"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await openBrowser(which || undefined, url.trim() || undefined)) void load();
          }}
        >
          <select value={which} onChange={(e) => setWhich((e.target as HTMLSelectElement).value)} data-testid="browser-select">
            <option value="">{st?.available[0] ? `${st.available[0].name} (first found)` : "first found"}</option>
            {st?.available.map((b) => (
              <option value={b.name} title={b.path}>
                {b.name}
              </option>
            ))}
          </select>
          <input
            type="url"
            placeholder="first page (optional): https://…"
            value={url}
            onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
            data-testid="browser-url"
          />
          <button class="btn primary" type="submit" data-testid="browser-launch">
            Open
          </button>
        </form>
      )}
      {st && st.launched.length > 0 && (
        <table class="plain" data-testid="browsers-launched">
          <thead>
            <tr>
              <th>Browser</th>
              <th>PID</th>
              <th>Started</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {st.launched.map((b) => (
              <tr>
                <td title={b.path}>{b.name}</td>
                <td>{b.pid}</td>
                <td>{new Date(b.started).toLocaleTimeString()}</td>
                <td>
                  {b.running ? "running" : b.exit || "exited"}
                  {b.note && <div class="muted small">{b.note}</div>}
                </td>
                <td>
                  {b.running && (
                    <button
                      class="btn"
                      onClick={async () => {
                        try {
                          await api.closeBrowser(b.id);
                        } catch (err) {
                          reportError("Close browser", err);
                        }
                        void load();
                      }}
                    >
                      Close
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function HostMapPanel() {
  const [st, setSt] = useState<HostMapState | null>(null);
  const [rows, setRows] = useState<HostMapEntry[]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    api
      .hostMap()
      .then((s) => {
        setSt(s);
        setRows(s.entries);
      })
      .catch((err) => reportError("Host mapping", err));
  }, []);
  const set = (i: number, k: keyof HostMapEntry, v: string) => setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  const dirty = st !== null && !sameEntries(cleanEntries(rows), st.entries);
  const save = async () => {
    try {
      const s = await api.replaceHostMap(cleanEntries(rows));
      setSt(s);
      setRows(s.entries);
      setError("");
      toast("Host mapping saved");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <section class="panel" data-testid="hostmap-panel">
      <h2>Host mapping</h2>
      <p class="muted">
        Connections to a host (or a glob such as <code>*.example.com</code>) go to another address, while the request keeps its
        Host header and URL, and HTTPS is still checked against the original name. <code>127.0.0.1:3000</code> sends them to that
        port; an address without a port keeps the one asked for. Kept in <code>hosts.json</code> in the data directory.
      </p>
      {st && st.fixed.length > 0 && (
        <ul class="fixed">
          {st.fixed.map((e) => (
            <li>
              <code>{e.host}</code> → <code>{e.to}</code> <span class="muted small">(-map-host)</span>
            </li>
          ))}
        </ul>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {rows.map((r, i) => (
          <div class="mrow" data-testid="hostmap-row">
            <input placeholder="host or glob" value={r.host} onInput={(e) => set(i, "host", (e.target as HTMLInputElement).value)} />
            <span>→</span>
            <input placeholder="127.0.0.1:3000" value={r.to} onInput={(e) => set(i, "to", (e.target as HTMLInputElement).value)} />
            <button type="button" class="btn" title="Remove" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        <div class="mrow">
          <button type="button" class="btn" onClick={() => setRows([...rows, { host: "", to: "" }])} data-testid="hostmap-add">
            Add
          </button>
          <button type="submit" class="btn primary" disabled={!dirty} data-testid="hostmap-save">
            Save
          </button>
        </div>
        {error && (
          <p class="problem" data-testid="hostmap-error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
