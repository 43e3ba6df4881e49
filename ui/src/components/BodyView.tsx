// The body viewer: fetches a body on demand (large ones only when asked),
// then shows it as a JSON tree, highlighted text, an image, a hex dump or
// the raw wire bytes.

import { useEffect, useMemo, useState } from "preact/hooks";
import { bodyURL } from "../api/client";
import type { Body, FlowID } from "../api/types";
import { fmtSize } from "../lib/format";
import { grpcKind } from "../lib/grpc";
import { decodeText, HEX_ROW, hexLine, isProbablyText } from "../lib/hex";
import { highlight, langFor, type Token } from "../lib/highlight";
import { GrpcView } from "./GrpcView";
import { JsonView, tryJSON } from "./JsonView";

/** Bodies above LAZY bytes load only when the user asks. */
export const LAZY = 1 << 20;
const HEX_MAX = 256 * 1024;

type Mode = "grpc" | "json" | "text" | "image" | "hex" | "raw";

interface Loaded {
  bytes: Uint8Array;
  text: string | null;
  json?: { value: unknown };
}

interface Props {
  id: FlowID;
  side: "request" | "response";
  upstream?: boolean;
  body: Body;
  contentType: string;
  /** The message's grpc-encoding: how gRPC messages flagged compressed are compressed. */
  grpcEncoding?: string;
}

/** BodyView starts afresh (state and fetches) for every body URL, and again when a body still being recorded grows. */
export function BodyView(p: Props) {
  return <BodyPane key={`${bodyURL(p.id, p.side, { upstream: p.upstream })}#${p.body.size}:${p.body.complete}`} {...p} />;
}

function BodyPane({ id, side, upstream, body, contentType, grpcEncoding }: Props) {
  const url = bodyURL(id, side, { upstream });
  const [wanted, setWanted] = useState(body.size <= LAZY);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [raw, setRaw] = useState<Uint8Array | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [mode, setMode] = useState<Mode | null>(null);
  const isImage = /^image\//i.test(contentType);
  const grpc = grpcKind(contentType);

  useEffect(() => {
    if (!wanted || loaded) return;
    let live = true;
    fetch(url, { credentials: "same-origin" })
      .then(async (res) => {
        if (!res.ok) throw new Error((await res.text()).trim() || res.statusText);
        return new Uint8Array(await res.arrayBuffer());
      })
      .then((bytes) => {
        if (!live) return;
        const text = decodeText(bytes, contentType);
        setLoaded({ bytes, text, json: text !== null && (/json/i.test(contentType) || /^\s*[[{]/.test(text)) ? tryJSON(text) : undefined });
      })
      .catch((e) => live && setError(String(e instanceof Error ? e.message : e)));
    return () => {
      live = false;
    };
  }, [wanted]);

  useEffect(() => {
    if (mode !== "raw" || raw) return;
    let live = true;
    fetch(bodyURL(id, side, { upstream, raw: true }), { credentials: "same-origin" })
      .then((r) => r.arrayBuffer())
      .then((b) => live && setRaw(new Uint8Array(b)))
      .catch((e) => live && setError(String(e)));
    return () => {
      live = false;
    };
  }, [mode]);

  const facts = (
    <span class="muted">
      {fmtSize(body.size)}
      {body.encoding ? ` ${body.encoding}` : ""}
      {body.truncated ? ` · truncated to ${fmtSize(body.captured)}` : ""}
      {!body.complete ? " · incomplete" : ""}
    </span>
  );
  const download = (
    <a class="btn small" href={url} download title="Download the decoded body">
      Download
    </a>
  );

  if (body.size === 0 && body.complete) {
    return <div class="bodyview empty-body muted">No body</div>;
  }
  if (!wanted) {
    return (
      <div class="bodyview">
        <div class="bodybar">
          {facts}
          <span class="grow" />
          {download}
        </div>
        <div class="lazy">
          <p>This body is {fmtSize(body.size)}.</p>
          <button class="btn" onClick={() => setWanted(true)}>
            Load it here
          </button>
        </div>
      </div>
    );
  }

  const modes: Mode[] = [];
  if (grpc) modes.push("grpc");
  if (loaded?.json) modes.push("json");
  if (isImage) modes.push("image");
  if (loaded?.text !== null && loaded?.text !== undefined) modes.push("text");
  modes.push("hex", "raw");
  const m: Mode = mode && modes.includes(mode) ? mode : modes[0];

  return (
    <div class="bodyview">
      <div class="bodybar">
        <div class="seg" role="tablist">
          {modes.map((x) => (
            <button class={x === m ? "on" : ""} onClick={() => setMode(x)} role="tab" aria-selected={x === m}>
              {MODE_LABEL[x]}
            </button>
          ))}
        </div>
        {facts}
        <span class="grow" />
        {download}
      </div>
      {error && <div class="problem">Could not load the body: {error}</div>}
      {!loaded && !error && <div class="muted pad">Loading…</div>}
      {loaded && m === "grpc" && grpc && <GrpcView bytes={loaded.bytes} kind={grpc} encoding={grpcEncoding ?? ""} />}
      {loaded && m === "json" && <JsonView value={loaded.json!.value} />}
      {loaded && m === "text" && <Code text={loaded.text!} contentType={contentType} />}
      {loaded && m === "image" && <ImageView bytes={loaded.bytes} contentType={contentType} />}
      {loaded && m === "hex" && <Hex bytes={loaded.bytes} />}
      {m === "raw" && (raw ? <RawView bytes={raw} /> : <div class="muted pad">Loading…</div>)}
    </div>
  );
}

const MODE_LABEL: Record<Mode, string> = { grpc: "gRPC", json: "JSON", text: "Text", image: "Image", hex: "Hex", raw: "Raw" };

function Code({ text, contentType }: { text: string; contentType: string }) {
  const lang = langFor(contentType);
  const toks: Token[] = useMemo(() => highlight(text, lang), [text, lang]);
  return (
    <pre class="code" data-lang={lang}>
      {toks.map((t) => (t.c ? <span class={"tk-" + t.c}>{t.s}</span> : t.s))}
    </pre>
  );
}

function Hex({ bytes }: { bytes: Uint8Array }) {
  const n = Math.min(bytes.length, HEX_MAX);
  const lines = useMemo(() => {
    const out: string[] = [];
    const b = bytes.subarray(0, n);
    for (let off = 0; off < n; off += HEX_ROW) out.push(hexLine(b, off));
    return out.join("\n");
  }, [bytes]);
  return (
    <>
      <pre class="code hex" data-testid="hex-view">
        {lines}
      </pre>
      {n < bytes.length && <div class="muted pad">First {fmtSize(n)} of {fmtSize(bytes.length)} shown; download for the rest.</div>}
    </>
  );
}

function RawView({ bytes }: { bytes: Uint8Array }) {
  if (isProbablyText(bytes)) return <pre class="code">{new TextDecoder().decode(bytes)}</pre>;
  return <Hex bytes={bytes} />;
}

function ImageView({ bytes, contentType }: { bytes: Uint8Array; contentType: string }) {
  const src = useMemo(() => URL.createObjectURL(new Blob([bytes as BlobPart], { type: contentType.split(";")[0] })), [bytes, contentType]);
  useEffect(() => () => URL.revokeObjectURL(src), [src]);
  const [dim, setDim] = useState("");
  return (
    <div class="imageview">
      <img src={src} alt="response body" onLoad={(e) => setDim(`${(e.target as HTMLImageElement).naturalWidth} × ${(e.target as HTMLImageElement).naturalHeight}`)} />
      {dim && <div class="muted">{dim}</div>}
    </div>
  );
}
