// gRPC bodies without a schema: split the length-prefixed messages (1 flag
// byte, 4 bytes big-endian length), undo their compression (grpc-encoding),
// and read each as protobuf wire format, the way `protoc --decode_raw`
// does: field numbers, wire types, nested messages where the bytes parse as
// one. gRPC-Web carries its trailers as a last frame (flag 0x80) in the
// body; gRPC-Web-text is all of it in base64. Pure functions, no DOM.

import type { Field, Response } from "../api/types";

export type GrpcKind = "grpc" | "grpc-web" | "grpc-web-text";

/** grpcKind tells which gRPC framing a Content-Type names, or null. */
export function grpcKind(contentType: string | undefined): GrpcKind | null {
  const m = /^\s*application\/grpc(-web(-text)?)?(?:[+;]|\s*$)/i.exec(contentType ?? "");
  if (!m) return null;
  return m[2] ? "grpc-web-text" : m[1] ? "grpc-web" : "grpc";
}

/** The names of gRPC status codes, by code (flow.GRPCCodeName in Go). */
export const GRPC_CODES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

export function grpcCodeName(code: number): string {
  return GRPC_CODES[code] ?? String(code);
}

/** grpcMessageText decodes a grpc-message value, which gRPC percent-encodes. */
export function grpcMessageText(v: string): string {
  if (!v.includes("%")) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function fieldValue(fs: Field[] | null | undefined, name: string): string | undefined {
  for (const f of fs ?? []) if (f.name.toLowerCase() === name) return f.value;
  return undefined;
}

export interface GrpcStatus {
  code: number;
  name: string;
  message: string;
}

/** statusFromFields reads grpc-status and grpc-message from one field list. */
export function statusFromFields(fs: Field[] | null | undefined): GrpcStatus | null {
  const v = fieldValue(fs, "grpc-status");
  if (v === undefined || v.trim() === "") return null;
  let code = Number(v.trim());
  if (!Number.isInteger(code) || code < 0) code = 2; // gRPC reads what it cannot parse as UNKNOWN
  return { code, name: grpcCodeName(code), message: grpcMessageText(fieldValue(fs, "grpc-message") ?? "") };
}

/** grpcStatusOf is the status of a gRPC response head: its trailers, else its headers (a trailers-only answer). */
export function grpcStatusOf(resp: Response | null | undefined): GrpcStatus | null {
  if (!resp || !grpcKind(fieldValue(resp.headers, "content-type"))) return null;
  return statusFromFields(resp.trailers) ?? statusFromFields(resp.headers);
}

// ---- framing ----

export interface GrpcFrame {
  /** Byte offset of the frame in the body. */
  offset: number;
  flags: number;
  /** Flag 0x01: the message is compressed with the grpc-encoding. */
  compressed: boolean;
  /** Flag 0x80: gRPC-Web trailers, not a message. */
  trailers: boolean;
  data: Uint8Array;
}

export interface Framing {
  frames: GrpcFrame[];
  /** Set when the body ends inside a frame (cut by the capture, or still streaming). */
  incomplete?: { offset: number; length: number; have: number };
}

/** splitFrames cuts a body into its length-prefixed frames. */
export function splitFrames(bytes: Uint8Array): Framing {
  const frames: GrpcFrame[] = [];
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < 5) return { frames, incomplete: { offset: off, length: -1, have: bytes.length - off } };
    const flags = bytes[off];
    const length = ((bytes[off + 1] << 24) >>> 0) + (bytes[off + 2] << 16) + (bytes[off + 3] << 8) + bytes[off + 4];
    if (bytes.length - off - 5 < length) return { frames, incomplete: { offset: off, length, have: bytes.length - off - 5 } };
    frames.push({ offset: off, flags, compressed: (flags & 1) === 1, trailers: (flags & 0x80) !== 0, data: bytes.subarray(off + 5, off + 5 + length) });
    off += 5 + length;
  }
  return { frames };
}

/** decodeBase64Chunks decodes gRPC-Web-text: base64, possibly several padded pieces one after another. */
export function decodeBase64Chunks(text: string): Uint8Array {
  const s = text.replace(/\s+/g, "");
  const parts: Uint8Array[] = [];
  let i = 0;
  while (i < s.length) {
    // A piece ends after its padding, or at the end of the text.
    let end = s.indexOf("=", i);
    if (end < 0) end = s.length;
    else while (end < s.length && s[end] === "=") end++;
    parts.push(base64Bytes(s.slice(i, end)));
    i = end;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function base64Bytes(s: string): Uint8Array {
  const bin = atob(s); // throws on what is not base64
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** parseTrailerBlock reads a gRPC-Web trailer frame: HTTP/1-style "name: value" lines. */
export function parseTrailerBlock(data: Uint8Array): Field[] {
  const out: Field[] = [];
  for (const line of new TextDecoder().decode(data).split(/\r?\n/)) {
    if (!line.trim()) continue;
    const i = line.indexOf(":");
    if (i <= 0) out.push({ name: line.trim(), value: "" });
    else out.push({ name: line.slice(0, i).trim(), value: line.slice(i + 1).trim() });
  }
  return out;
}

/** inflate undoes a message's grpc-encoding; it rejects encodings it cannot undo. */
export async function inflate(data: Uint8Array, encoding: string): Promise<Uint8Array> {
  const enc = encoding.trim().toLowerCase();
  const format = enc === "gzip" ? "gzip" : enc === "deflate" ? "deflate" : null;
  if (!format) throw new Error(enc === "" || enc === "identity" ? "compressed, but no grpc-encoding says how" : `${enc} is not decoded here`);
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export interface GrpcMessage {
  frame: GrpcFrame;
  /** The message bytes, decompressed; null when they could not be. */
  bytes: Uint8Array | null;
  /** Its protobuf fields; null when the bytes are not protobuf. */
  fields: ProtoField[] | null;
  error?: string;
}

export interface GrpcBody {
  kind: GrpcKind;
  messages: GrpcMessage[];
  /** gRPC-Web's in-body trailers, when the body has them. */
  trailers: Field[] | null;
  incomplete?: Framing["incomplete"];
  /** Messages past maxMessages, counted but not decoded. */
  skipped: number;
  /** Set when the body could not be read at all (bad base64). */
  problem?: string;
}

/** decodeGrpcBody splits, decompresses and decodes the messages of a body, the first maxMessages of them. */
export async function decodeGrpcBody(bytes: Uint8Array, kind: GrpcKind, encoding = "", maxMessages = 1000): Promise<GrpcBody> {
  if (kind === "grpc-web-text") {
    try {
      bytes = decodeBase64Chunks(new TextDecoder().decode(bytes));
    } catch {
      return { kind, messages: [], trailers: null, skipped: 0, problem: "the body is not base64, as gRPC-Web-text should be" };
    }
  }
  const { frames, incomplete } = splitFrames(bytes);
  const out: GrpcBody = { kind, messages: [], trailers: null, incomplete, skipped: 0 };
  for (const frame of frames) {
    if (frame.trailers && kind !== "grpc") {
      out.trailers = [...(out.trailers ?? []), ...parseTrailerBlock(frame.data)];
      continue;
    }
    if (out.messages.length >= maxMessages) {
      out.skipped++;
      continue;
    }
    const m: GrpcMessage = { frame, bytes: frame.data, fields: null };
    if (frame.compressed) {
      try {
        m.bytes = await inflate(frame.data, encoding);
      } catch (e) {
        m.bytes = null;
        m.error = `Not decompressed: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    if (m.bytes) m.fields = decodeProto(m.bytes);
    out.messages.push(m);
  }
  return out;
}

// ---- protobuf wire format ----

export type ProtoValue =
  | { kind: "varint"; uint: bigint }
  | { kind: "fixed64"; uint: bigint; raw: Uint8Array }
  | { kind: "fixed32"; uint: number; raw: Uint8Array }
  | { kind: "message"; raw: Uint8Array; fields: ProtoField[] }
  | { kind: "string"; raw: Uint8Array; text: string }
  | { kind: "bytes"; raw: Uint8Array };

export interface ProtoField {
  no: number;
  /** 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
  wire: number;
  value: ProtoValue;
}

const MAX_DEPTH = 64;
const MAX_FIELD = 2 ** 29 - 1;

/** readVarint reads a base-128 varint at off; null when it runs off the end or past 10 bytes. */
function readVarint(b: Uint8Array, off: number): { v: bigint; next: number } | null {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    if (off + i >= b.length) return null;
    const c = b[off + i];
    v |= BigInt(c & 0x7f) << BigInt(7 * i);
    if (c < 0x80) {
      if (i === 9 && c > 1) return null; // more than 64 bits
      return { v, next: off + i + 1 };
    }
  }
  return null;
}

/**
 * decodeProto reads bytes as a protobuf message without its schema, or
 * returns null when they are not one (every byte must belong to a field).
 * A length-delimited field is shown as text when it is printable UTF-8,
 * else as a nested message when it parses as one, else as bytes.
 */
export function decodeProto(b: Uint8Array, depth = 0): ProtoField[] | null {
  const fields: ProtoField[] = [];
  let off = 0;
  while (off < b.length) {
    const tag = readVarint(b, off);
    if (!tag || tag.v > BigInt(0xffffffff)) return null;
    off = tag.next;
    const no = Number(tag.v >> 3n);
    const wire = Number(tag.v & 7n);
    if (no < 1 || no > MAX_FIELD) return null;
    switch (wire) {
      case 0: {
        const r = readVarint(b, off);
        if (!r) return null;
        off = r.next;
        fields.push({ no, wire, value: { kind: "varint", uint: r.v } });
        break;
      }
      case 1: {
        if (off + 8 > b.length) return null;
        const raw = b.subarray(off, off + 8);
        off += 8;
        fields.push({ no, wire, value: { kind: "fixed64", uint: new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0, true), raw } });
        break;
      }
      case 5: {
        if (off + 4 > b.length) return null;
        const raw = b.subarray(off, off + 4);
        off += 4;
        fields.push({ no, wire, value: { kind: "fixed32", uint: new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0, true), raw } });
        break;
      }
      case 2: {
        const r = readVarint(b, off);
        if (!r || r.v > BigInt(b.length - r.next)) return null;
        const raw = b.subarray(r.next, r.next + Number(r.v));
        off = r.next + Number(r.v);
        fields.push({ no, wire, value: lengthDelimited(raw, depth) });
        break;
      }
      default:
        // Groups (3, 4) are long deprecated; 6 and 7 do not exist.
        return null;
    }
  }
  return fields;
}

function lengthDelimited(raw: Uint8Array, depth: number): ProtoValue {
  const text = printableText(raw);
  if (text !== null) return { kind: "string", raw, text };
  if (raw.length > 0 && depth < MAX_DEPTH) {
    const fields = decodeProto(raw, depth + 1);
    if (fields) return { kind: "message", raw, fields };
  }
  return { kind: "bytes", raw };
}

/** printableText is raw as text when it is valid UTF-8 without control characters (tab and newlines aside). */
export function printableText(raw: Uint8Array): string | null {
  if (raw.length === 0) return "";
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return null;
  }
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffd]/.test(text) ? null : text;
}

const TWO64 = 1n << 64n;
const TWO63 = 1n << 63n;

/** How a varint may be read: unsigned, as a negative int64, as a zigzag sint. */
export function varintViews(u: bigint): { uint: string; int64?: string; sint?: string } {
  const out: { uint: string; int64?: string; sint?: string } = { uint: u.toString() };
  if (u >= TWO63) out.int64 = (u - TWO64).toString();
  // Zigzag is plausible for values an int64 would not have written negative.
  else if (u > 0n) out.sint = ((u >> 1n) ^ -(u & 1n)).toString();
  return out;
}

/** How 8 fixed bytes may be read: a double, unsigned, a negative int64. */
export function fixed64Views(raw: Uint8Array): { double: number; uint: string; int64?: string } {
  const dv = new DataView(raw.buffer, raw.byteOffset, 8);
  const u = dv.getBigUint64(0, true);
  const out: { double: number; uint: string; int64?: string } = { double: dv.getFloat64(0, true), uint: u.toString() };
  if (u >= TWO63) out.int64 = (u - TWO64).toString();
  return out;
}

/** How 4 fixed bytes may be read: a float, unsigned, a negative int32. */
export function fixed32Views(raw: Uint8Array): { float: number; uint: number; int32?: number } {
  const dv = new DataView(raw.buffer, raw.byteOffset, 4);
  const u = dv.getUint32(0, true);
  const out: { float: number; uint: number; int32?: number } = { float: dv.getFloat32(0, true), uint: u };
  if (u >= 2 ** 31) out.int32 = dv.getInt32(0, true);
  return out;
}

/** fmtFloat prints a float without the noise of its binary form (1.5, not 1.5000000000000002). */
export function fmtFloat(v: number, single = false): string {
  if (!Number.isFinite(v)) return String(v);
  return String(single ? Number(v.toPrecision(7)) : v);
}

export function toHex(b: Uint8Array, max = Infinity): string {
  let s = "";
  const n = Math.min(b.length, max);
  for (let i = 0; i < n; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}
