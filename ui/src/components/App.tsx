// The page: toolbar, then the flows view (session bar, filter bar, list,
// detail pane), the sessions page or the rules page; the rule editor
// dialog; a HAR (or a session file) dropped anywhere.

import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import { detail, detailOpen, editing, getFeed, openSessionFile, page, pageOf, reportError, select, selectedId, toasts, unauthorized } from "../state";
import { ComposePage } from "./Compose";
import { HeldPanel } from "./Held";
import { Detail } from "./Detail";
import { DiffView } from "./Diff";
import { FilterBar } from "./FilterBar";
import { FlowList } from "./FlowList";
import { ModesPage } from "./Modes";
import { RuleEditor, RulesPage } from "./Rules";
import { RulesBanner } from "./RulesBanner";
import { SessionBar, SessionsPage } from "./Sessions";
import { importHar, Toolbar } from "./Toolbar";
import { TreePane } from "./Tree";

export function App() {
  const [dropping, setDropping] = useState(false);

  useEffect(() => {
    const onHash = () => (page.value = pageOf(location.hash));
    window.addEventListener("hashchange", onHash);
    // Delete removes the selected flow when the list has the focus.
    const onKey = async (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (page.value !== "flows" || editing.value || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
      // Escape closes the detail pane from anywhere (the list handles its own keys).
      if (e.key === "Escape" && !t.closest(".scroller") && detailOpen.value && selectedId.value !== null) {
        detailOpen.value = false;
        document.querySelector<HTMLElement>(".scroller")?.focus();
        return;
      }
      if (e.key !== "Delete") return;
      const id = selectedId.value;
      if (id === null) return;
      try {
        await api.deleteFlow(id);
        getFeed().store.remove(id);
        select(null);
      } catch (err) {
        reportError("Delete", err);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("keydown", onKey);
    };
  }, []);

  if (unauthorized.value) {
    return (
      <div class="unauth">
        <h1>Loupe</h1>
        <p>This dashboard needs its token. Open the address Loupe printed when it started (it ends with <code>?token=…</code>).</p>
      </div>
    );
  }

  const isFile = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes("Files");
  return (
    <div
      class={"app" + (dropping ? " dropping" : "")}
      onDragOver={(e) => {
        if (!isFile(e)) return;
        e.preventDefault();
        setDropping(true);
      }}
      onDragLeave={(e) => {
        if (e.relatedTarget === null) setDropping(false);
      }}
      onDrop={(e) => {
        if (!isFile(e)) return;
        e.preventDefault();
        setDropping(false);
        const f = e.dataTransfer?.files[0];
        // A session file opens as a session of its own; a HAR joins the recording one.
        if (f) void (f.name.endsWith(".loupe") ? openSessionFile(f) : importHar(f));
      }}
    >
      <Toolbar />
      {page.value === "flows" ? (
        <>
          <SessionBar />
          <RulesBanner />
          <FilterBar />
          <main class={"flows" + (detailOpen.value && (detail.value || selectedId.value !== null) ? " split" : "")}>
            <TreePane />
            <FlowList />
            {detailOpen.value && selectedId.value !== null && <Detail />}
          </main>
        </>
      ) : page.value === "sessions" ? (
        <main class="rules">
          <SessionsPage />
        </main>
      ) : page.value === "compose" ? (
        <ComposePage />
      ) : page.value === "modes" ? (
        <main class="modes">
          <ModesPage />
        </main>
      ) : (
        <main class="rules">
          <RulesPage />
        </main>
      )}
      <HeldPanel />
      <DiffView />
      {editing.value && <RuleEditor />}
      {dropping && <div class="dropnote">Drop a HAR file to import it</div>}
      <div class="toasts" aria-live="polite">
        {toasts.value.map((t) => (
          <div class={"toast " + t.kind}>{t.text}</div>
        ))}
      </div>
    </div>
  );
}
