// The detail pane's parameter tables: the request's query, its form or
// multipart body, its cookies, and the response's Set-Cookie headers with
// their attributes. Parsing lives in lib/params.ts.

import { useEffect, useState } from "preact/hooks";
import { bodyURL } from "../api/client";
import type { Field, Flow } from "../api/types";
import { fmtSize } from "../lib/format";
import { expiryOf, isForm, multipartBoundary, multipartParts, parseParams, queryParams, requestCookies, setCookies, type Multipart, type Param } from "../lib/params";

/** MAX_BODY bounds the request body fetched to read a form from. */
const MAX_BODY = 4 << 20;

function contentTypeOf(f: Flow): string {
  if (f.requestBody.contentType) return f.requestBody.contentType;
  for (const h of f.request.headers ?? []) if (h.name.toLowerCase() === "content-type") return h.value;
  return "";
}

/** RequestParams shows the query, the form or multipart body and the cookies of a request (what it has of them). */
export function RequestParams({ f }: { f: Flow }) {
  const query = queryParams(f.request.url);
  const cookies = requestCookies(f.request.headers);
  return (
    <>
      {query.length > 0 && <ParamTable title="Query parameters" testid="query-params" params={query} />}
      <FormBody f={f} />
      {cookies.length > 0 && <ParamTable title="Cookies" testid="request-cookies" params={cookies} />}
    </>
  );
}

function ParamTable({ title, testid, params }: { title: string; testid: string; params: Param[] }) {
  return (
    <section class="params">
      <h4>
        {title} <span class="muted">({params.length})</span>
      </h4>
      <table class="htable" data-testid={testid}>
        <tbody>
          {params.map((p) => (
            <tr class={p.malformed ? "warn" : ""} title={p.malformed ? "A percent escape could not be decoded: shown as sent" : undefined}>
              <th>{p.name === "" ? <span class="muted">(no name)</span> : p.name}</th>
              <td>{p.bare ? <span class="muted">(no value)</span> : p.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

type Loaded = { kind: "form"; params: Param[] } | { kind: "multipart"; m: Multipart } | { kind: "note"; text: string };

/** FormBody reads a form or multipart request body from the capture and shows it as a table. */
function FormBody({ f }: { f: Flow }) {
  const ct = contentTypeOf(f);
  const form = isForm(ct);
  const boundary = multipartBoundary(ct);
  const body = f.requestBody;
  const want = (form || boundary !== null) && body.captured > 0;
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  useEffect(() => {
    setLoaded(null);
    if (!want) return;
    if (body.captured > MAX_BODY) {
      setLoaded({ kind: "note", text: `The body is ${fmtSize(body.captured)}: too large to read as a form here.` });
      return;
    }
    let live = true;
    void (async () => {
      try {
        const res = await fetch(bodyURL(f.id, "request"), { credentials: "same-origin" });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (!live) return;
        if (boundary !== null) setLoaded({ kind: "multipart", m: multipartParts(bytes, boundary) });
        else setLoaded({ kind: "form", params: parseParams(new TextDecoder().decode(bytes)) });
      } catch (err) {
        if (live) setLoaded({ kind: "note", text: "The body could not be read: " + (err instanceof Error ? err.message : String(err)) });
      }
    })();
    return () => {
      live = false;
    };
  }, [f.id, want, body.captured, boundary]);
  if (!want || !loaded) return null;
  if (loaded.kind === "note") return <p class="muted">{loaded.text}</p>;
  const cut = body.truncated || !body.complete ? <p class="warn">The body was not captured whole: the table shows the part that was.</p> : null;
  if (loaded.kind === "form") {
    return (
      <>
        <ParamTable title="Form" testid="form-params" params={loaded.params} />
        {cut}
      </>
    );
  }
  const { parts, problem } = loaded.m;
  return (
    <section class="params">
      <h4>
        Multipart form <span class="muted">({parts.length})</span>
      </h4>
      <table class="htable parts" data-testid="multipart-parts">
        <thead>
          <tr>
            <th>Name</th>
            <th>File</th>
            <th>Type</th>
            <th>Size</th>
            <th>Value</th>
          </tr>
        </thead>
        <tbody>
          {parts.map((p) => (
            <tr>
              <th>{p.name}</th>
              <td>{p.filename ?? ""}</td>
              <td>{p.contentType}</td>
              <td class="num">{fmtSize(p.size)}</td>
              <td>{p.text ?? (p.filename === undefined ? <span class="muted">(not shown)</span> : "")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {problem && <p class="warn">Malformed multipart body: {problem}.</p>}
      {cut}
    </section>
  );
}

/** ResponseCookies shows the Set-Cookie headers of a response with their attributes. */
export function ResponseCookies({ headers }: { headers: Field[] | null | undefined }) {
  const cs = setCookies(headers);
  if (cs.length === 0) return null;
  return (
    <section class="params">
      <h4>
        Cookies set <span class="muted">({cs.length})</span>
      </h4>
      <table class="htable cookies" data-testid="set-cookies">
        <thead>
          <tr>
            <th>Name</th>
            <th>Value</th>
            <th>Domain</th>
            <th>Path</th>
            <th>Expires</th>
            <th>Flags</th>
          </tr>
        </thead>
        <tbody>
          {cs.map((c) => (
            <tr class={c.malformed ? "warn" : ""} title={c.malformed ? "No name=value pair: browsers ignore this header" : undefined}>
              <th>{c.name}</th>
              <td>{c.value}</td>
              <td>{c.domain ?? ""}</td>
              <td>{c.path ?? ""}</td>
              <td>{expiryOf(c)}</td>
              <td>{[c.secure && "Secure", c.httpOnly && "HttpOnly", c.sameSite && "SameSite=" + c.sameSite, c.partitioned && "Partitioned", ...c.other].filter(Boolean).join("; ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
