// A collapsible JSON tree. Nodes deeper than `open` levels, and big arrays
// and objects, start collapsed; clicking a toggle opens or closes one node.

import { useState } from "preact/hooks";

type J = null | boolean | number | string | J[] | { [k: string]: J };

const BIG = 200;

export function JsonView({ value, open = 2 }: { value: unknown; open?: number }) {
  return (
    <div class="json" data-testid="json-view">
      <Node v={value as J} depth={0} open={open} last />
    </div>
  );
}

function Node({ v, k, depth, open, last }: { v: J; k?: string; depth: number; open: number; last: boolean }) {
  const isObj = v !== null && typeof v === "object";
  const entries = isObj ? (Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v)) : [];
  const [expanded, setExpanded] = useState(depth < open && entries.length <= BIG);
  const key = k !== undefined ? (
    <>
      <span class="tk-p">{JSON.stringify(k)}</span>
      <span class="tk-x">: </span>
    </>
  ) : null;
  const comma = last ? "" : ",";
  if (!isObj) {
    return (
      <div class="jl">
        {key}
        <Scalar v={v} />
        {comma}
      </div>
    );
  }
  const [o, c] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0) {
    return (
      <div class="jl">
        {key}
        <span class="tk-x">{o + c}</span>
        {comma}
      </div>
    );
  }
  if (!expanded) {
    return (
      <div class="jl">
        <button class="jt" onClick={() => setExpanded(true)} aria-label="expand">
          ▸
        </button>
        {key}
        <span class="tk-x jsum" onClick={() => setExpanded(true)}>
          {o} {entries.length} {Array.isArray(v) ? (entries.length === 1 ? "item" : "items") : entries.length === 1 ? "key" : "keys"} {c}
        </span>
        {comma}
      </div>
    );
  }
  return (
    <div class="jn">
      <div class="jl">
        <button class="jt" onClick={() => setExpanded(false)} aria-label="collapse">
          ▾
        </button>
        {key}
        <span class="tk-x">{o}</span>
      </div>
      <div class="jc">
        {entries.map(([ek, ev], i) => (
          <Node key={ek} k={Array.isArray(v) ? undefined : ek} v={ev} depth={depth + 1} open={open} last={i === entries.length - 1} />
        ))}
      </div>
      <div class="jl">
        <span class="tk-x">{c}</span>
        {comma}
      </div>
    </div>
  );
}

function Scalar({ v }: { v: J }) {
  if (typeof v === "string") return <span class="tk-s">{JSON.stringify(v)}</span>;
  if (typeof v === "number") return <span class="tk-n">{String(v)}</span>;
  return <span class="tk-k">{String(v)}</span>;
}

/** Parses text as JSON; undefined when it isn't. */
export function tryJSON(text: string): { value: unknown } | undefined {
  const t = text.trim();
  if (!t || !(t[0] === "{" || t[0] === "[" || t[0] === '"' || /^[-\d]|^(true|false|null)$/.test(t))) return undefined;
  try {
    return { value: JSON.parse(t) };
  } catch {
    return undefined;
  }
}
