import { describe, expect, it } from "vitest";
import fixtureText from "./testdata/grpc.json?raw";
import {
  decodeBase64Chunks,
  decodeGrpcBody,
  decodeProto,
  fixed32Views,
  fixed64Views,
  grpcCodeName,
  grpcKind,
  grpcStatusOf,
  parseTrailerBlock,
  printableText,
  splitFrames,
  toHex,
  varintViews,
  type ProtoField,
} from "./grpc";

/** frame builds one length-prefixed gRPC frame. */
function frame(flags: number, data: number[] | Uint8Array): Uint8Array {
  const d = Uint8Array.from(data);
  const out = new Uint8Array(5 + d.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, d.length);
  out.set(d, 5);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

async function gzip(b: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([b as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

describe("grpcKind", () => {
  it.each([
    ["application/grpc", "grpc"],
    ["application/grpc+proto", "grpc"],
    ["Application/GRPC; charset=x", "grpc"],
    ["application/grpc-web", "grpc-web"],
    ["application/grpc-web+proto", "grpc-web"],
    ["application/grpc-web-text", "grpc-web-text"],
    ["application/grpc-web-text+proto", "grpc-web-text"],
    ["application/grpcfoo", null],
    ["application/json", null],
    ["", null],
  ])("%s is %s", (ct, want) => expect(grpcKind(ct)).toBe(want));
});

describe("gRPC status", () => {
  it("names codes", () => {
    expect(grpcCodeName(0)).toBe("OK");
    expect(grpcCodeName(5)).toBe("NOT_FOUND");
    expect(grpcCodeName(16)).toBe("UNAUTHENTICATED");
    expect(grpcCodeName(42)).toBe("42");
  });
  it("reads trailers, else the headers of a trailers-only answer", () => {
    const ct = { name: "Content-Type", value: "application/grpc" };
    expect(grpcStatusOf({ status: 200, proto: "HTTP/2.0", headers: [ct], trailers: [{ name: "Grpc-Status", value: "5" }, { name: "Grpc-Message", value: "no%20such%20user" }] })).toEqual({
      code: 5,
      name: "NOT_FOUND",
      message: "no such user",
    });
    expect(grpcStatusOf({ status: 200, proto: "HTTP/2.0", headers: [ct, { name: "grpc-status", value: "16" }] })?.name).toBe("UNAUTHENTICATED");
    expect(grpcStatusOf({ status: 200, proto: "HTTP/2.0", headers: [ct] })).toBeNull();
    expect(grpcStatusOf({ status: 200, proto: "HTTP/1.1", headers: [{ name: "Content-Type", value: "text/plain" }], trailers: [{ name: "Grpc-Status", value: "5" }] })).toBeNull();
  });
});

describe("splitFrames", () => {
  it("splits frames and reports a cut one", () => {
    const body = concat(frame(0, [1, 2]), frame(1, [3]), frame(0x80, utf8("grpc-status: 0\r\n")));
    const { frames, incomplete } = splitFrames(body);
    expect(frames.map((f) => [f.offset, f.compressed, f.trailers, toHex(f.data)])).toEqual([
      [0, false, false, "0102"],
      [7, true, false, "03"],
      [13, false, true, toHex(utf8("grpc-status: 0\r\n"))],
    ]);
    expect(incomplete).toBeUndefined();
    expect(splitFrames(body.subarray(0, 12)).incomplete).toEqual({ offset: 7, length: 1, have: 0 });
    expect(splitFrames(body.subarray(0, 9)).incomplete).toEqual({ offset: 7, length: -1, have: 2 });
    expect(splitFrames(body.subarray(0, 3)).incomplete).toEqual({ offset: 0, length: -1, have: 3 });
    expect(splitFrames(new Uint8Array()).frames).toEqual([]);
  });
  it("reads lengths above 2^31 without going negative", () => {
    const { incomplete } = splitFrames(Uint8Array.from([0, 0xff, 0, 0, 1]));
    expect(incomplete?.length).toBe(0xff000001);
  });
});

describe("decodeProto", () => {
  it("reads varints, fixed values, strings, bytes and nested messages", () => {
    // 1: 150, 2: "hi", 3: {1: 1}, 4: fixed32 1.5f, 5: fixed64 2.25, 6: bytes 00 ff, 7: ""
    const b = Uint8Array.from([
      0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69, 0x1a, 0x02, 0x08, 0x01, 0x25, 0x00, 0x00, 0xc0, 0x3f, 0x29, 0, 0, 0, 0, 0, 0, 0x02, 0x40, 0x32, 0x02, 0x00, 0xff, 0x3a, 0x00,
    ]);
    const fs = decodeProto(b)!;
    expect(fs.map((f) => [f.no, f.wire, f.value.kind])).toEqual([
      [1, 0, "varint"],
      [2, 2, "string"],
      [3, 2, "message"],
      [4, 5, "fixed32"],
      [5, 1, "fixed64"],
      [6, 2, "bytes"],
      [7, 2, "string"],
    ]);
    expect(fs[0].value.kind === "varint" && fs[0].value.uint).toBe(150n);
    expect(fs[1].value.kind === "string" && fs[1].value.text).toBe("hi");
    const nested = fs[2].value.kind === "message" ? fs[2].value.fields : [];
    expect(nested.map((f) => [f.no, f.value.kind === "varint" && f.value.uint])).toEqual([[1, 1n]]);
    expect(fs[3].value.kind === "fixed32" && fixed32Views(fs[3].value.raw).float).toBe(1.5);
    expect(fs[4].value.kind === "fixed64" && fixed64Views(fs[4].value.raw).double).toBe(2.25);
    expect(fs[5].value.kind === "bytes" && toHex(fs[5].value.raw)).toBe("00ff");
    expect(fs[6].value.kind === "string" && fs[6].value.text).toBe("");
  });

  it.each([
    ["a truncated varint", [0x08, 0x96]],
    ["a length past the end", [0x0a, 0x05, 0x61]],
    ["field number 0", [0x00, 0x01]],
    ["a group", [0x0b, 0x0c]],
    ["wire type 7", [0x0f]],
    ["fixed64 cut short", [0x09, 1, 2, 3]],
    ["an 11-byte varint", [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
  ])("refuses %s", (_, bytes) => expect(decodeProto(Uint8Array.from(bytes))).toBeNull());

  it("falls back to bytes when a length-delimited field is neither text nor a message", () => {
    const fs = decodeProto(Uint8Array.from([0x0a, 0x03, 0x00, 0xff, 0xfe]))!;
    expect(fs[0].value.kind).toBe("bytes");
  });

  it("stops nesting at a depth bound", () => {
    // 200 levels of {1: {1: ...}} must not overflow the stack.
    let b: Uint8Array = Uint8Array.from([0x08, 0x01]);
    for (let i = 0; i < 200; i++) b = concat(Uint8Array.from([0x0a, ...varint(b.length)]), b);
    expect(decodeProto(b)).not.toBeNull();
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

describe("number views", () => {
  it("reads varints as signed and zigzag where plausible", () => {
    expect(varintViews(150n)).toEqual({ uint: "150", sint: "75" });
    expect(varintViews(3n)).toEqual({ uint: "3", sint: "-2" });
    expect(varintViews(0n)).toEqual({ uint: "0" });
    expect(varintViews((1n << 64n) - 5n)).toEqual({ uint: "18446744073709551611", int64: "-5" });
  });
  it("reads fixed values as floats and integers", () => {
    expect(fixed32Views(Uint8Array.from([0, 0, 0xc0, 0xbf]))).toEqual({ float: -1.5, uint: 0xbfc00000, int32: -1077936128 });
    expect(fixed64Views(Uint8Array.from([0, 0, 0, 0, 0, 0, 0x02, 0x40]))).toEqual({ double: 2.25, uint: "4612248968380809216" });
  });
});

describe("printableText", () => {
  it("takes UTF-8 text and refuses control bytes and invalid UTF-8", () => {
    expect(printableText(utf8("héllo\n\tworld"))).toBe("héllo\n\tworld");
    expect(printableText(Uint8Array.from([0x0a, 0x02, 0x68, 0x69]))).toBeNull();
    expect(printableText(Uint8Array.from([0xc3]))).toBeNull();
  });
});

describe("gRPC-Web", () => {
  it("parses the trailer frame", () => {
    expect(parseTrailerBlock(utf8("grpc-status: 5\r\ngrpc-message: not%20found\r\n"))).toEqual([
      { name: "grpc-status", value: "5" },
      { name: "grpc-message", value: "not%20found" },
    ]);
  });
  it("decodes base64 pieces joined one after another", () => {
    const a = Uint8Array.from([1, 2, 3, 4]);
    const b = Uint8Array.from([5]);
    expect(Array.from(decodeBase64Chunks(btoa("\x01\x02\x03\x04") + btoa("\x05")))).toEqual([...a, ...b]);
    expect(Array.from(decodeBase64Chunks(" AQID\nBA== "))).toEqual([1, 2, 3, 4]);
  });
  it("reports a text body that is not base64", async () => {
    const r = await decodeGrpcBody(utf8("not base64!"), "grpc-web-text");
    expect(r.problem).toMatch(/base64/);
  });
});

describe("decodeGrpcBody", () => {
  it("decompresses gzip messages and leaves identity ones", async () => {
    const msg = Uint8Array.from([0x08, 0x2a]);
    const body = concat(frame(1, await gzip(msg)), frame(0, msg));
    const r = await decodeGrpcBody(body, "grpc", "gzip");
    expect(r.messages.map((m) => [m.frame.compressed, toHex(m.bytes!), m.fields?.[0].no])).toEqual([
      [true, "082a", 1],
      [false, "082a", 1],
    ]);
  });
  it("decodes at most maxMessages and counts the rest", async () => {
    const body = concat(frame(0, [0x08, 1]), frame(0, [0x08, 2]), frame(0, [0x08, 3]));
    const r = await decodeGrpcBody(body, "grpc", "", 2);
    expect([r.messages.length, r.skipped]).toEqual([2, 1]);
  });
  it("says why a compressed message was not decoded", async () => {
    const r = await decodeGrpcBody(frame(1, [1, 2, 3]), "grpc", "snappy");
    expect(r.messages[0].bytes).toBeNull();
    expect(r.messages[0].error).toMatch(/snappy/);
    const bad = await decodeGrpcBody(frame(1, [1, 2, 3]), "grpc", "gzip");
    expect(bad.messages[0].error).toMatch(/Not decompressed/);
  });
});

// ---- the fixture generated by the Go tests from real protobuf bytes ----

interface FixtureField {
  no: number;
  wire: number;
  uint?: string;
  hex?: string;
}
interface FixtureCase {
  name: string;
  contentType: string;
  grpcEncoding?: string;
  body: string;
  messages: FixtureField[][];
  trailers?: Record<string, string>;
}
const fixture = JSON.parse(fixtureText) as { cases: FixtureCase[] };

/** raw renders a decoded field the way protowire reported it. */
function raw(f: ProtoField): FixtureField {
  const v = f.value;
  switch (v.kind) {
    case "varint":
    case "fixed64":
      return { no: f.no, wire: f.wire, uint: v.uint.toString() };
    case "fixed32":
      return { no: f.no, wire: f.wire, uint: String(v.uint) };
    default:
      return { no: f.no, wire: f.wire, hex: toHex(v.raw) };
  }
}

function base64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

describe("real protobuf bytes (proxy/grpcfixture_test.go)", () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const r = await decodeGrpcBody(base64(c.body), grpcKind(c.contentType)!, c.grpcEncoding);
    expect(r.problem).toBeUndefined();
    expect(r.incomplete).toBeUndefined();
    expect(r.messages.map((m) => m.fields?.map(raw))).toEqual(c.messages);
    if (c.trailers) expect(Object.fromEntries((r.trailers ?? []).map((t) => [t.name, t.value]))).toEqual(c.trailers);
  });

  it("reads a Struct's nested messages, strings and doubles", async () => {
    const c = fixture.cases.find((x) => x.name === "struct with nested messages")!;
    const r = await decodeGrpcBody(base64(c.body), "grpc");
    const entries = r.messages[0].fields!;
    // Struct.fields is a map: entries {1: key, 2: Value}.
    const byKey = new Map(
      entries.map((e) => {
        const fs = e.value.kind === "message" ? e.value.fields : [];
        const key = fs[0].value.kind === "string" ? fs[0].value.text : "?";
        return [key, fs[1].value];
      }),
    );
    expect([...byKey.keys()]).toEqual(["id", "name", "nested", "ok", "tags"]);
    const value = (k: string) => {
      const v = byKey.get(k)!;
      return v.kind === "message" ? v.fields[0] : null;
    };
    const id = value("id")!; // Value.number_value: double, field 2
    expect([id.no, id.value.kind === "fixed64" && fixed64Views(id.value.raw).double]).toEqual([2, 42]);
    const name = value("name")!; // Value.string_value, field 3
    expect([name.no, name.value.kind === "string" && name.value.text]).toEqual([3, "Ada Lovelace"]);
    const ok = value("ok")!; // Value.bool_value, field 4
    expect([ok.no, ok.value.kind === "varint" && ok.value.uint]).toEqual([4, 1n]);
  });

  it("reads a negative int64 and a float", async () => {
    const gz = fixture.cases.find((x) => x.name === "gzip and identity frames")!;
    const r = await decodeGrpcBody(base64(gz.body), "grpc", gz.grpcEncoding);
    const neg = r.messages[0].fields![0].value;
    expect(neg.kind === "varint" && varintViews(neg.uint).int64).toBe("-5");
    const fl = fixture.cases.find((x) => x.name === "float double bytes empty")!;
    const r2 = await decodeGrpcBody(base64(fl.body), "grpc");
    const f32 = r2.messages[0].fields![0].value;
    expect(f32.kind === "fixed32" && fixed32Views(f32.raw).float).toBe(1.5);
    expect(r2.messages[3].fields).toEqual([]); // StringValue("") has no field on the wire
  });
});
