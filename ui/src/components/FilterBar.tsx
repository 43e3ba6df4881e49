// The filter bar: the server's filter language, quick toggles for common
// content types, inline help, and the server's error under the bar.

import { useEffect, useRef, useState } from "preact/hooks";
import { FILTER_KEYS, FILTER_SYNTAX, hasTerm, TOGGLES, toggleTerm } from "../lib/filter";
import { applyFilter, filterError, filterText } from "../state";

export function FilterBar() {
  const [text, setText] = useState(filterText.value);
  const [help, setHelp] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const err = filterError.value;
  // A filter set elsewhere (the rules banner, a click in the structure
  // tree) shows here too; the bar's own, applied after a pause in typing,
  // does not overwrite what was typed since.
  const sent = useRef(filterText.value);
  // The bar's own submissions not yet seen applied: when one arrives, what
  // was typed since it stays (the effect below runs after a paint, so a
  // filter typed quickly after another is newer than the one arriving).
  const own = useRef<string[]>([]);
  useEffect(() => {
    const v = filterText.value;
    const i = own.current.lastIndexOf(v);
    if (i >= 0) {
      own.current.splice(0, i + 1);
      return;
    }
    if (v !== sent.current) setText((sent.current = v));
  }, [filterText.value]);

  const submit = (q: string, now = false) => {
    own.current.push(q);
    if (own.current.length > 32) own.current.shift();
    sent.current = q;
    setText(q);
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => void applyFilter(q), now ? 0 : 300);
  };

  useEffect(() => {
    // "/" focuses the filter from anywhere but a text field.
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) && !t.isContentEditable) {
        e.preventDefault();
        inputRef.current?.focus();
        inputRef.current?.select();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  return (
    <div class="filterbar">
      <div class="frow">
        <div class={"finput" + (err ? " bad" : "")}>
          <span class="ficon" aria-hidden="true">
            ⌕
          </span>
          <input
            ref={inputRef}
            type="search"
            placeholder="Filter: host:*.example.com status:4xx -method:OPTIONS   (press / to focus)"
            value={text}
            spellcheck={false}
            autocomplete="off"
            aria-label="Filter"
            aria-invalid={!!err}
            data-testid="filter"
            onInput={(e) => submit((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") submit((e.target as HTMLInputElement).value, true);
              if (e.key === "Escape") {
                if (text) submit("", true);
                else (e.target as HTMLInputElement).blur();
              }
            }}
          />
        </div>
        <div class="toggles" role="group" aria-label="Quick filters">
          {TOGGLES.map((t) => {
            const on = hasTerm(text, t.term);
            return (
              <button class={"tog" + (on ? " on" : "")} aria-pressed={on} title={t.term} onClick={() => submit(toggleTerm(text, t), true)}>
                {t.label}
              </button>
            );
          })}
        </div>
        <button class={"tog help" + (help ? " on" : "")} onClick={() => setHelp(!help)} title="Filter syntax" aria-expanded={help}>
          ?
        </button>
      </div>
      {err && (
        <div class="ferror" role="alert" data-testid="filter-error">
          {err.message}
          {err.term && !err.message.includes(err.term) && (
            <>
              {" "}
              — in <code>{err.term}</code>
            </>
          )}
          <span class="muted"> · the list still shows the last valid filter</span>
        </div>
      )}
      {help && (
        <div class="fhelp">
          <p>{FILTER_SYNTAX}</p>
          <table>
            <tbody>
              {FILTER_KEYS.map((k) => (
                <tr>
                  <td>
                    <button class="link mono" onClick={() => submit((text ? text + " " : "") + k.example, true)} title="Add to the filter">
                      {k.example}
                    </button>
                  </td>
                  <td>{k.text}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="keys">
            Keys: <kbd>/</kbd> filter · <kbd>↑</kbd> <kbd>↓</kbd> (or <kbd>j</kbd> <kbd>k</kbd>) move · <kbd>PgUp</kbd> <kbd>PgDn</kbd> <kbd>Home</kbd> <kbd>End</kbd> jump · <kbd>Enter</kbd> open details ·{" "}
            <kbd>Esc</kbd> close details · <kbd>Del</kbd> delete the flow
          </p>
        </div>
      )}
    </div>
  );
}
