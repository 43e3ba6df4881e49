// Entry point: wires the live feed to the browser (WebSocket, fetch,
// animation frames) and renders the app.

import { render } from "preact";
import { api, ApiError } from "./api/client";
import type { FeedMessage } from "./api/types";
import { App } from "./components/App";
import "./styles.css";
import { refreshHeld, setHeld } from "./held-state";
import { Feed } from "./store/feed";
import {
  appState,
  detail,
  ensureDetail,
  feedStatus,
  flowsVersion,
  followDetail,
  listedSession,
  loadActionSpecs,
  page,
  refreshRules,
  refreshSessions,
  refreshState,
  reportError,
  ruleCounts,
  rules,
  selectedId,
  sessions,
  setFeed,
  unauthorized,
  viewSession,
} from "./state";

const wsURL = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/ws";

const feed = new Feed(
  {
    connect(h) {
      const ws = new WebSocket(wsURL);
      ws.onopen = () => h.open();
      ws.onclose = () => h.close();
      ws.onerror = () => ws.close();
      ws.onmessage = (e) => {
        try {
          h.message(JSON.parse(e.data as string) as FeedMessage);
        } catch (err) {
          console.warn("loupe: bad feed message", err);
        }
      };
      return ws;
    },
    fetchPage: (q, limit, cursor, session) => api.flows(q, limit, cursor, session ?? null),
    // Hidden tabs get no animation frames: fall back to a timer there.
    frame: (fn) => (document.hidden ? setTimeout(fn, 250) : requestAnimationFrame(fn)),
    after: (ms, fn) => {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    },
  },
  {
    changed() {
      flowsVersion.value++;
      if (listedSession.value !== feed.listedSession) {
        listedSession.value = feed.listedSession;
        if (!sessions.value.some((s) => s.id === feed.listedSession)) void refreshSessions();
      }
      // Keep the open flow's details fresh while it is still in progress,
      // and load them once a flow selected before it was stored arrives.
      const id = selectedId.value;
      const d = detail.value;
      if (id !== null) ensureDetail(feed.store.get(id) !== undefined);
      if (id !== null && d && d.id === id) followDetail(feed.store.get(id), feed.store.snapshots);
    },
    status(s) {
      feedStatus.value = s;
      if (s === "live") {
        void refreshState();
        void refreshRules();
        void loadActionSpecs();
        void refreshHeld();
        void refreshSessions();
      }
    },
    error(err) {
      // The session shown was deleted (from another tab, say): show the recording one.
      if (err instanceof ApiError && err.status === 404 && typeof feed.session === "number") {
        viewSession.value = null;
        void feed.setSession(null).catch(() => {});
        return;
      }
      if (err instanceof ApiError && err.status === 401) unauthorized.value = true;
      else if (!(err instanceof ApiError && err.status === 400)) reportError("Load flows", err);
    },
    other(m) {
      if (m.type === "rules/update") {
        if (m.rules) rules.value = m.rules;
        else void refreshRules();
      } else if (m.type === "rules/stats") {
        // Pushed by the server when the counts change.
        if (m.counts) ruleCounts.value = m.counts;
      } else if (m.type === "state/update") {
        if (m.state) {
          const prev = appState.value;
          appState.value = m.state;
          const now = m.state.session;
          if (now) feed.recordingIs(now.id);
          // The sessions page shows live counts; a new recording session
          // or a finished import changes the list anywhere.
          if (page.value === "sessions" || (now && now.id !== prev.session?.id) || (m.state.imports?.length ?? 0) !== (prev.imports?.length ?? 0)) void refreshSessions();
        }
      } else if (m.type === "held/update") {
        setHeld(m.held);
      }
    },
  },
);
setFeed(feed);
feed.start();

render(<App />, document.getElementById("app")!);
