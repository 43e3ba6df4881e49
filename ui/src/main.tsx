// Entry point: wires the live feed to the browser (WebSocket, fetch,
// animation frames) and renders the app.

import { render } from "preact";
import { api, ApiError } from "./api/client";
import type { FeedMessage } from "./api/types";
import { App } from "./components/App";
import "./styles.css";
import { refreshHeld, setHeld } from "./held-state";
import { Feed } from "./store/feed";
import { appState, detail, feedStatus, flowsVersion, loadDetail, refreshRules, refreshState, reportError, ruleCounts, rules, selectedId, setFeed, unauthorized } from "./state";

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
    fetchPage: (q, limit, cursor) => api.flows(q, limit, cursor),
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
      // Keep the open flow's details fresh while it is still in progress.
      const id = selectedId.value;
      const d = detail.value;
      if (id !== null && d && d.id === id) {
        const s = feed.store.get(id);
        if (s && (s.state !== d.state || s.size !== d.responseBody.size || (s.status || 0) !== (d.response?.status ?? 0))) void loadDetail();
      }
    },
    status(s) {
      feedStatus.value = s;
      if (s === "live") {
        void refreshState();
        void refreshRules();
        void refreshHeld();
      }
    },
    error(err) {
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
        if (m.state) appState.value = m.state;
      } else if (m.type === "held/update") {
        setHeld(m.held);
      }
    },
  },
);
setFeed(feed);
feed.start();

render(<App />, document.getElementById("app")!);
