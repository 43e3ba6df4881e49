// The compose editor's state: the draft being written (it survives leaving
// the page), notes about how it was made, and the history of sent requests
// (localStorage: see lib/compose.ts for why it lives in the browser).

import { signal } from "@preact/signals";
import { bodyURL } from "./api/client";
import type { Flow } from "./api/types";
import { blankDraft, draftFromFlow, loadHistory, type Draft, type HistoryEntry, type StorageLike } from "./lib/compose";
import { isProbablyText } from "./lib/hex";
import { page, reportError, toast } from "./state";

export const draft = signal<Draft>(blankDraft());
/** Things the editor should tell about the draft (fields dropped, options ignored). */
export const draftNotes = signal<string[]>([]);
/** Whether breakpoint rules may hold what the editor sends (off: it passes, the person sending it is watching). */
export const composeBreakpoints = signal(false);

/** storage is localStorage, or a stand-in where it is not available (private modes). */
export const storage: StorageLike = (() => {
  try {
    const t = "loupe.t";
    localStorage.setItem(t, t);
    localStorage.removeItem(t);
    return localStorage;
  } catch {
    const m = new Map<string, string>();
    return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
  }
})();

export const composeHistory = signal<HistoryEntry[]>(loadHistory(storage));

/** openCompose shows d in the editor, on the compose page. */
export function openCompose(d: Draft, notes: string[] = []): void {
  draft.value = d;
  draftNotes.value = notes;
  page.value = "compose";
  composeHistory.value = loadHistory(storage);
  if (location.hash !== "#compose") window.history.replaceState(null, "", "#compose");
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** requestBodyOf loads a flow's request body: decoded text, or the wire bytes as base64 when binary. */
export async function requestBodyOf(f: Flow): Promise<{ text: string | null; base64?: string }> {
  if (!f.requestBody.size && !f.requestBody.captured) return { text: "" };
  const res = await fetch(bodyURL(f.id, "request"), { credentials: "same-origin" });
  if (res.ok) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (isProbablyText(bytes)) return { text: new TextDecoder().decode(bytes) };
  }
  const raw = await fetch(bodyURL(f.id, "request", { raw: true }), { credentials: "same-origin" });
  if (!raw.ok) throw new Error(`request body: HTTP ${raw.status}`);
  return { text: null, base64: base64(new Uint8Array(await raw.arrayBuffer())) };
}

/** editAndSend opens flow f's request in the editor, linked to f. */
export async function editAndSend(f: Flow): Promise<void> {
  try {
    const { text, base64: b64 } = await requestBodyOf(f);
    const { draft: d, dropped } = draftFromFlow(f, text, b64);
    const notes: string[] = [];
    if (dropped.length) notes.push(`Left out ${dropped.join(", ")}: Loupe sets ${dropped.length === 1 ? "it" : "them"} for each hop (Host comes from the URL${dropped.some((n) => n.toLowerCase() === "content-encoding") ? "; the body is shown decoded" : ""}).`);
    if (f.requestBody.truncated) notes.push("The request body was only partly captured: the editor holds the captured part.");
    if (b64 !== undefined) notes.push("The body is binary: it is sent as captured.");
    openCompose(d, notes);
  } catch (err) {
    reportError("Edit and send", err);
  }
}

/** copyText puts text on the clipboard (with a fallback for plain-HTTP pages). */
export async function copyText(text: string, what: string): Promise<void> {
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
