// What a person adds to a flow: a mark, a colour and a comment (as in
// Charles and Proxyman). The list shows them on each row (a colour tint,
// a star, a comment sign) and changes them from the keyboard (m, 1–6, 0)
// or a row's context menu; the detail pane has the same controls and the
// comment editor. Changes go to PATCH /api/flows/{id}; the live feed
// brings them to every other tab, and the answer is applied here at once.

import { signal } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Annotation, AnnotationPatch, Color, Flow, FlowID, Summary } from "../api/types";
import { applyFilter, detail, detailOpen, flowsVersion, getFeed, reportError, select } from "../state";
import "./annotate.css";

/** The colours in the order of their keys (1–6). */
export const COLORS: Color[] = ["red", "orange", "yellow", "green", "blue", "purple"];

/** The comment's bound, in bytes of UTF-8 (flow.MaxComment). */
export const MAX_COMMENT = 4096;

const bytesOf = (s: string) => new TextEncoder().encode(s).length;

/** The current annotation of a flow: the list's summary (kept live by the feed), else the loaded flow's. */
export function annotationOf(id: FlowID, f?: Flow | null): Annotation {
  void flowsVersion.value; // re-render when the list changes
  const s = getFeed().store.get(id);
  return (s ? s.annotation : f?.annotation) ?? {};
}

/** Sends a patch and applies the answer at once; false (and a toast) when it failed. */
export async function annotate(id: FlowID, patch: AnnotationPatch): Promise<boolean> {
  let sum: Summary;
  try {
    sum = await api.annotate(id, patch);
  } catch (err) {
    reportError("Annotate", err);
    return false;
  }
  // Only the annotation: the feed may already have brought a newer row.
  const store = getFeed().store;
  const cur = store.get(id);
  if (cur) {
    store.applyBatches([{ type: "flows/batch", seq: Number.MAX_SAFE_INTEGER, add: [], update: [{ ...cur, annotation: sum.annotation }], remove: [] }]);
    flowsVersion.value++;
  }
  const d = detail.value;
  if (d && d.id === id) detail.value = { ...d, annotation: sum.annotation };
  return true;
}

/** The keys of the list: m toggles the mark, 1–6 a colour, 0 clears it. True when the key was one of them. */
export function annotateKey(e: KeyboardEvent, id: FlowID): boolean {
  if (e.ctrlKey || e.metaKey || e.altKey) return false;
  const a = annotationOf(id);
  if (e.key === "m" || e.key === "M") {
    void annotate(id, { marked: !a.marked });
    return true;
  }
  if (e.key === "0") {
    void annotate(id, { color: "" });
    return true;
  }
  const c = COLORS[Number(e.key) - 1];
  if (/^[1-6]$/.test(e.key) && c) {
    void annotate(id, { color: a.color === c ? "" : c });
    return true;
  }
  return false;
}

/** The row's signs: a tint in its colour (behind the row), a star when marked, a pencil when commented. */
export function RowMarks({ s }: { s: Summary }) {
  const a = s.annotation;
  if (!a) return null;
  return (
    <>
      {a.color && <span class={"ann-tint ann-" + a.color} data-testid="row-color" data-color={a.color} />}
      {a.marked && (
        <span class="ann-star" title="Marked (m)" data-testid="row-mark">
          ★
        </span>
      )}
      {a.comment && (
        <span class="ann-note" title={a.comment} data-testid="row-comment">
          ✎
        </span>
      )}
    </>
  );
}

/** Where the row menu is open: the flow and the pointer's position. */
const menu = signal<{ id: FlowID; x: number; y: number } | null>(null);
/** The flow whose comment editor should open and take the focus. */
const editComment = signal<FlowID | null>(null);

/** Opens the row menu (a row's onContextMenu). */
export function openRowMenu(e: MouseEvent, id: FlowID): void {
  e.preventDefault();
  select(id);
  menu.value = { id, x: e.clientX, y: e.clientY };
}

function Swatches({ id, current, onDone }: { id: FlowID; current?: Color; onDone?: () => void }) {
  return (
    <span class="ann-swatches" role="group" aria-label="Colour">
      {COLORS.map((c, i) => (
        <button
          class={"ann-swatch ann-" + c + (current === c ? " on" : "")}
          title={`${c[0].toUpperCase() + c.slice(1)} (${i + 1})`}
          aria-pressed={current === c}
          data-testid={"color-" + c}
          onClick={() => {
            void annotate(id, { color: current === c ? "" : c });
            onDone?.();
          }}
        />
      ))}
      <button
        class="ann-swatch ann-none"
        title="No colour (0)"
        disabled={!current}
        data-testid="color-none"
        onClick={() => {
          void annotate(id, { color: "" });
          onDone?.();
        }}
      >
        ×
      </button>
    </span>
  );
}

/** The row menu: mark, colour, comment, and the requests made from the flow. Rendered once by the list. */
export function RowMenu() {
  const m = menu.value;
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!m) return;
    const close = (e: Event) => {
      if (e instanceof KeyboardEvent && e.key !== "Escape") return;
      if (e.type === "mousedown" && ref.current?.contains(e.target as Node)) return;
      menu.value = null;
    };
    window.addEventListener("mousedown", close, true);
    window.addEventListener("keydown", close, true);
    window.addEventListener("blur", close);
    window.addEventListener("wheel", close, true);
    return () => {
      window.removeEventListener("mousedown", close, true);
      window.removeEventListener("keydown", close, true);
      window.removeEventListener("blur", close);
      window.removeEventListener("wheel", close, true);
    };
  }, [m]);
  if (!m) return null;
  const a = annotationOf(m.id);
  const done = () => (menu.value = null);
  const x = Math.min(m.x, window.innerWidth - 220);
  const y = Math.min(m.y, window.innerHeight - 150);
  return (
    <div class="ann-menu" ref={ref} style={{ left: x + "px", top: y + "px" }} role="menu" data-testid="row-menu">
      <button
        role="menuitem"
        data-testid="menu-mark"
        onClick={() => {
          void annotate(m.id, { marked: !a.marked });
          done();
        }}
      >
        {a.marked ? "Unmark" : "Mark"} <kbd>m</kbd>
      </button>
      <Swatches id={m.id} current={a.color} onDone={done} />
      <button
        role="menuitem"
        data-testid="menu-comment"
        onClick={() => {
          select(m.id);
          detailOpen.value = true;
          editComment.value = m.id;
          done();
        }}
      >
        {a.comment ? "Edit comment…" : "Add comment…"}
      </button>
      <button
        role="menuitem"
        data-testid="menu-made-from"
        title={`Filter: replay:${m.id} or composed:${m.id}`}
        onClick={() => {
          void applyFilter(`replay:${m.id} or composed:${m.id}`);
          done();
        }}
      >
        Show its replays and edits
      </button>
    </div>
  );
}

/** The detail pane's controls: mark, colour, and the comment with its editor. */
export function AnnotationBar({ f }: { f: Flow }) {
  const a = annotationOf(f.id, f);
  const [draft, setDraft] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  // Another flow: drop an unsaved draft of the previous one.
  useEffect(() => setDraft(null), [f.id]);
  useEffect(() => {
    if (editComment.value === f.id) {
      editComment.value = null;
      setDraft(a.comment ?? "");
    }
  }, [editComment.value, f.id]);
  useEffect(() => {
    if (draft !== null) area.current?.focus();
  }, [draft !== null]);
  const size = draft === null ? 0 : bytesOf(draft);
  const save = async () => {
    if (draft === null || size > MAX_COMMENT) return;
    if (await annotate(f.id, { comment: draft.trim() === "" ? "" : draft })) setDraft(null);
  };
  return (
    <div class="ann-bar" data-testid="annotation">
      <button
        class={"btn small ann-markbtn" + (a.marked ? " on" : "")}
        aria-pressed={!!a.marked}
        title="Mark this flow (m in the list); marked: finds marked flows"
        data-testid="mark"
        onClick={() => void annotate(f.id, { marked: !a.marked })}
      >
        {a.marked ? "★ Marked" : "☆ Mark"}
      </button>
      <Swatches id={f.id} current={a.color} />
      {draft === null ? (
        a.comment ? (
          <button class="ann-comment" title="Edit the comment" data-testid="comment-text" onClick={() => setDraft(a.comment ?? "")}>
            ✎ {a.comment}
          </button>
        ) : (
          <button class="btn small" data-testid="add-comment" onClick={() => setDraft("")}>
            Add comment
          </button>
        )
      ) : (
        <div class="ann-editor">
          <textarea
            ref={area}
            value={draft}
            rows={3}
            placeholder="A note about this flow (comment: finds it)"
            data-testid="comment-input"
            onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void save();
              } else if (e.key === "Escape") {
                e.preventDefault();
                e.stopPropagation();
                setDraft(null);
              }
            }}
          />
          <div class="ann-editrow">
            <span class={"muted" + (size > MAX_COMMENT ? " ann-over" : "")}>
              {size > MAX_COMMENT - 512 ? `${size} / ${MAX_COMMENT} bytes` : "Ctrl+Enter saves, Esc cancels"}
            </span>
            <span class="grow" />
            <button class="btn small" onClick={() => setDraft(null)}>
              Cancel
            </button>
            {a.comment && (
              <button class="btn small danger" data-testid="comment-delete" onClick={() => void annotate(f.id, { comment: "" }).then((ok) => ok && setDraft(null))}>
                Remove
              </button>
            )}
            <button class="btn small primary" disabled={size > MAX_COMMENT} data-testid="comment-save" onClick={() => void save()}>
              Save
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
