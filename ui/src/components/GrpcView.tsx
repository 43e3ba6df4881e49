// The gRPC body viewer: each length-prefixed message decoded as protobuf
// without a schema (lib/grpc), gRPC-Web's in-body trailers and status.

import { useEffect, useState } from "preact/hooks";
import type { Field } from "../api/types";
import { fmtSize } from "../lib/format";
import {
  decodeGrpcBody,
  fixed32Views,
  fixed64Views,
  fmtFloat,
  statusFromFields,
  toHex,
  varintViews,
  type GrpcBody,
  type GrpcKind,
  type ProtoField,
  type ProtoValue,
} from "../lib/grpc";

const WIRE: Record<number, string> = { 0: "varint", 1: "i64", 2: "len", 5: "i32" };
const BYTES_SHOWN = 64;

export function GrpcView({ bytes, kind, encoding }: { bytes: Uint8Array; kind: GrpcKind; encoding: string }) {
  const [body, setBody] = useState<GrpcBody | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    decodeGrpcBody(bytes, kind, encoding)
      .then((b) => live && setBody(b))
      .catch((e) => live && setError(String(e instanceof Error ? e.message : e)));
    return () => {
      live = false;
    };
  }, [bytes, kind, encoding]);
  if (error) return <div class="problem">Could not decode: {error}</div>;
  if (!body) return <div class="muted pad">Decoding…</div>;
  const st = statusFromFields(body.trailers);
  return (
    <div class="grpcview" data-testid="grpc-view">
      {body.problem && <div class="problem">{body.problem}</div>}
      {body.messages.length === 0 && !body.problem && <p class="muted pad">No messages.</p>}
      {body.messages.map((m, i) => (
        <section class="grpc-msg" data-testid="grpc-message">
          <h5>
            Message {i + 1} <span class="muted">· {fmtSize(m.frame.data.length)}{m.frame.compressed ? ` ${encoding || "compressed"}` : ""}
            {m.frame.compressed && m.bytes ? `, ${fmtSize(m.bytes.length)} decompressed` : ""}</span>
          </h5>
          {m.error && <div class="problem">{m.error}</div>}
          {m.bytes && m.fields && (m.fields.length ? <ProtoTree fields={m.fields} /> : <p class="muted">empty message (every field at its default)</p>)}
          {m.bytes && !m.fields && (
            <>
              <p class="muted">Not protobuf: shown as bytes.</p>
              <code class="pb-bytes">{hexOf(m.bytes)}</code>
            </>
          )}
        </section>
      ))}
      {body.skipped > 0 && <p class="muted pad">{body.skipped} more messages not decoded.</p>}
      {body.incomplete && (
        <p class="muted pad">
          The body ends inside a message at byte {body.incomplete.offset} (cut by the capture, or still streaming).
        </p>
      )}
      {body.trailers && (
        <>
          {st && (
            <p>
              gRPC status <span class={"badge " + (st.code === 0 ? "b-grpc-ok" : "b-grpc-err")}>{st.name}</span> {st.message}
            </p>
          )}
          <h4>gRPC-Web trailers</h4>
          <FieldTable fields={body.trailers} />
        </>
      )}
    </div>
  );
}

function FieldTable({ fields }: { fields: Field[] }) {
  return (
    <table class="htable" data-testid="grpc-web-trailers">
      <tbody>
        {fields.map((h) => (
          <tr>
            <th>{h.name}</th>
            <td>{h.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function hexOf(b: Uint8Array): string {
  const h = toHex(b, BYTES_SHOWN).replace(/(..)(?!$)/g, "$1 ");
  return b.length > BYTES_SHOWN ? `${h} … (${b.length} bytes)` : h;
}

/** ProtoTree lists fields with their numbers and wire types, nesting messages. */
export function ProtoTree({ fields }: { fields: ProtoField[] }) {
  return (
    <ul class="pbtree">
      {fields.map((f) => (
        <li>
          <span class="pb-no" title={`field ${f.no}, wire type ${f.wire} (${WIRE[f.wire]})`}>
            {f.no}
          </span>
          <span class="pb-wire">{kindLabel(f.value)}</span>
          <Value v={f.value} />
        </li>
      ))}
    </ul>
  );
}

function kindLabel(v: ProtoValue): string {
  switch (v.kind) {
    case "message":
      return `message · ${v.raw.length} B`;
    case "bytes":
      return `bytes · ${v.raw.length} B`;
    default:
      return v.kind;
  }
}

function Value({ v }: { v: ProtoValue }) {
  switch (v.kind) {
    case "varint": {
      const w = varintViews(v.uint);
      return (
        <span class="pb-val">
          {w.uint}
          {w.int64 !== undefined && <span class="muted"> · int64 {w.int64}</span>}
          {w.sint !== undefined && <span class="muted"> · sint {w.sint}</span>}
        </span>
      );
    }
    case "fixed64": {
      const w = fixed64Views(v.raw);
      return (
        <span class="pb-val">
          {fmtFloat(w.double)} <span class="muted">(double) · {w.uint}{w.int64 !== undefined ? ` · int64 ${w.int64}` : ""}</span>
        </span>
      );
    }
    case "fixed32": {
      const w = fixed32Views(v.raw);
      return (
        <span class="pb-val">
          {fmtFloat(w.float, true)} <span class="muted">(float) · {w.uint}{w.int32 !== undefined ? ` · int32 ${w.int32}` : ""}</span>
        </span>
      );
    }
    case "string":
      return <span class="pb-val pb-str">{JSON.stringify(v.text)}</span>;
    case "bytes":
      return <code class="pb-val pb-bytes">{v.raw.length ? hexOf(v.raw) : '""'}</code>;
    case "message":
      return <ProtoTree fields={v.fields} />;
  }
}
