// Sessions, as Charles users know them: the capture is a list of named
// sessions, the newest one recording. The session bar above the flow list
// says which one the list shows and switches; the Sessions page lists them
// all with what they hold, and starts, renames, pins, deletes, exports and
// opens them.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, sessionExportURL } from "../api/client";
import type { Session } from "../api/types";
import { exportWarning } from "../lib/exportsize";
import { fmtSize } from "../lib/format";
import { appState, listedName, listedSession, openSessionFile, refreshSessions, reportError, sessionFlows, sessions, showSession, startSession, uploading, viewSession } from "../state";

/** SessionBar says which session the list shows, and switches it. */
export function SessionBar() {
  const listed = listedSession.value;
  const view = viewSession.value;
  const rec = appState.value.session;
  const all = sessions.value;
  const cur = all.find((s) => s.id === listed);
  const others = all.filter((s) => !s.recording).reverse();
  return (
    <div class="sessionbar" data-testid="session-bar">
      <span class="muted">Session</span>
      <select
        value={view === null ? "" : String(view)}
        data-testid="session-select"
        aria-label="Session shown"
        onChange={(e) => {
          const v = (e.target as HTMLSelectElement).value;
          void showSession(v === "" ? null : v === "all" ? "all" : Number(v));
        }}
      >
        <option value="">{"Recording" + (rec ? `: ${rec.name} · ${rec.flows.toLocaleString()} ${rec.flows === 1 ? "flow" : "flows"}` : "")}</option>
        {others.map((s) => (
          <option value={String(s.id)}>
            {s.name} · {s.flows.toLocaleString()} {s.flows === 1 ? "flow" : "flows"}
          </option>
        ))}
        <option value="all">All sessions</option>
      </select>
      <strong class="sname" data-testid="session-name">
        {listedName()}
      </strong>
      {cur?.recording && <span class="badge b-rec">recording</span>}
      {cur?.pinned && <span class="badge b-pin">pinned</span>}
      {listed > 0 && !cur?.recording && (
        <span class="muted small" data-testid="not-recording">
          not recording: new flows go to {rec ? rec.name : "the recording session"}
        </span>
      )}
      <span class="grow" />
      <button class="btn small" onClick={() => void startSession()} title="Start a new session: new flows go there from now on" data-testid="new-session">
        New session
      </button>
    </div>
  );
}

/** SessionsPage lists every session and acts on them. */
export function SessionsPage() {
  const all = sessions.value;
  const fileRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    void refreshSessions();
  }, []);
  return (
    <div class="sessionspage">
      <div class="rhead">
        <h2>Sessions</h2>
        <span class="muted">New flows go to the recording session. Pinned sessions are never evicted to make room.</span>
        <span class="grow" />
        <button class="btn primary" onClick={() => void startSession()} data-testid="sessions-new">
          New session
        </button>
        <button class="btn" onClick={() => fileRef.current?.click()} title="Open a Loupe session file (.loupe) or a HAR as a new session" data-testid="open-file">
          Open file…
        </button>
        <input
          ref={fileRef}
          type="file"
          accept=".loupe,.har,application/json,application/gzip"
          hidden
          data-testid="open-file-input"
          onChange={async (e) => {
            const input = e.target as HTMLInputElement;
            const f = input.files?.[0];
            input.value = "";
            if (f) await openSessionFile(f);
          }}
        />
      </div>
      {uploading.value && (
        <p class="uploadnote" data-testid="upload-note">
          Opening {uploading.value.name}…
        </p>
      )}
      <table class="sesslist" data-testid="session-list">
        <thead>
          <tr>
            <th>Name</th>
            <th>Created</th>
            <th class="num">Flows</th>
            <th class="num">Size</th>
            <th>Pinned</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {all
            .slice()
            .reverse()
            .map((s) => (
              <SessionRow key={s.id} s={s} />
            ))}
        </tbody>
      </table>
    </div>
  );
}

function SessionRow({ s }: { s: Session }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(s.name);
  const [armed, setArmed] = useState(false);
  const [exportArmed, setExportArmed] = useState(false);
  const flows = sessionFlows(s);
  const bytes = appState.value.session?.id === s.id ? appState.value.session.bytes : s.bytes;
  const big = exportWarning({ flows, bytes });

  const save = async () => {
    setEditing(false);
    if (name.trim() === s.name) return;
    try {
      await api.updateSession(s.id, { name });
    } catch (err) {
      setName(s.name);
      reportError("Rename", err);
    }
    void refreshSessions();
  };
  const pin = async (pinned: boolean) => {
    try {
      await api.updateSession(s.id, { pinned });
    } catch (err) {
      reportError("Pin", err);
    }
    void refreshSessions();
  };
  const remove = async () => {
    setArmed(false);
    try {
      await api.deleteSession(s.id);
      if (viewSession.value === s.id) await showSession(null);
    } catch (err) {
      reportError("Delete session", err);
    }
    void refreshSessions();
  };

  return (
    <tr class={s.recording ? "rec" : ""} data-testid="session-row" data-id={s.id}>
      <td class="sname">
        {editing ? (
          <input
            value={name}
            maxLength={200}
            data-testid="rename-input"
            ref={(el) => el?.focus()}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
            onBlur={() => void save()}
            onKeyDown={(e) => {
              if (e.key === "Enter") (e.target as HTMLInputElement).blur();
              if (e.key === "Escape") {
                setName(s.name);
                setEditing(false);
              }
            }}
          />
        ) : (
          <>
            <button class="link" onClick={() => void showSession(s.recording ? null : s.id)} title="Show its flows" data-testid="session-row-name">
              {s.name}
            </button>{" "}
            {s.recording && <span class="badge b-rec">recording</span>}
          </>
        )}
      </td>
      <td class="muted">{new Date(s.created).toLocaleString()}</td>
      <td class="num" data-testid="session-row-flows">
        {flows.toLocaleString()}
      </td>
      <td class="num">{fmtSize(bytes)}</td>
      <td>
        <label class="switch" title={s.pinned ? "Pinned: never evicted" : "Pin: never evict its flows"}>
          <input type="checkbox" checked={s.pinned} onChange={(e) => void pin((e.target as HTMLInputElement).checked)} data-testid="pin" />
          <span />
        </label>
      </td>
      <td>
        <div class="rbtns">
          <button
            class="btn small"
            onClick={() => {
              setName(s.name);
              setEditing(true);
            }}
            data-testid="rename"
          >
            Rename
          </button>
          <a
            class="btn small"
            href={sessionExportURL(s.id)}
            download
            title={exportArmed && big ? big : "Save as one file, Loupe's own format (everything kept, secrets included)"}
            onClick={(e) => {
              // A large session says so first; the second click downloads.
              if (big && !exportArmed) {
                e.preventDefault();
                setExportArmed(true);
                return;
              }
              setExportArmed(false);
            }}
            onBlur={() => setExportArmed(false)}
            data-testid="export-session"
          >
            {big && exportArmed ? `Export anyway (${fmtSize(bytes)})` : "Export"}
          </a>
          {armed ? (
            <button class="btn small danger" onClick={() => void remove()} onBlur={() => setArmed(false)} data-testid="confirm-delete">
              Delete {flows.toLocaleString()} {flows === 1 ? "flow" : "flows"}?
            </button>
          ) : (
            <button
              class="btn small danger"
              disabled={s.recording}
              title={s.recording ? "The recording session: start a new session first, or clear its flows" : "Delete the session and its flows"}
              onClick={() => setArmed(true)}
              data-testid="delete-session"
            >
              Delete
            </button>
          )}
        </div>
      </td>
    </tr>
  );
}
