import { describe, expect, it } from "vitest";
import type { Flow } from "../api/types";
import { tryJSON } from "../components/JsonView";
import { shellQuote, toCurl } from "./curl";
import { hasTerm, splitTerms, term, toggleTerm, TOGGLES } from "./filter";
import { fmtDuration, fmtSize } from "./format";
import { charsetOf, decodeText, hexDump, hexLine, isProbablyText } from "./hex";
import { highlight, langFor } from "./highlight";
import { cleanRule, problemsAt, ruleFromFlow } from "./rules";

describe("toCurl", () => {
  it("writes a GET with headers, skipping hop-by-hop and computed ones", () => {
    const c = toCurl({
      method: "GET",
      url: "https://api.example.com/v1/users?id=1&x=2",
      headers: [
        { name: "Accept", value: "application/json" },
        { name: "Host", value: "api.example.com" },
        { name: "Connection", value: "keep-alive" },
        { name: "Accept-Encoding", value: "gzip" },
      ],
    });
    expect(c).toBe("curl 'https://api.example.com/v1/users?id=1&x=2' -H 'Accept: application/json' -H 'Accept-Encoding: gzip' --compressed");
  });

  it("quotes single quotes in bodies and keeps POST implicit", () => {
    const c = toCurl({ method: "POST", url: "http://h.test/", headers: [{ name: "Content-Type", value: "application/json" }], body: `{"name":"O'Brien"}` });
    expect(c).toBe(`curl http://h.test/ -H 'Content-Type: application/json' --data-raw '{"name":"O'\\''Brien"}'`);
  });

  it("names the method for PUT/DELETE/HEAD and points at a file for a binary body", () => {
    expect(toCurl({ method: "DELETE", url: "http://h.test/x", headers: [] })).toBe("curl -X DELETE http://h.test/x");
    expect(toCurl({ method: "HEAD", url: "http://h.test/x", headers: [] })).toBe("curl --head http://h.test/x");
    expect(toCurl({ method: "PUT", url: "http://h.test/x", headers: null, binaryBody: true })).toBe("curl -X PUT http://h.test/x --data-binary @request-body.bin");
  });

  it("shellQuote leaves safe words alone and quotes the rest", () => {
    expect(shellQuote("abc-1.2")).toBe("abc-1.2");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("$HOME")).toBe("'$HOME'");
    expect(shellQuote("")).toBe("''");
  });
});

describe("hex", () => {
  it("formats offset, hex in two groups and ASCII", () => {
    const b = new TextEncoder().encode("Hello, world!\n\x00\x01ABC");
    const lines = hexDump(b);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe("00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 01  |Hello, world!...|");
    expect(lines[1].startsWith("00000010  41 42 43 ")).toBe(true);
    expect(lines[1].endsWith("|ABC|")).toBe(true);
    expect(lines[1].length).toBe(lines[0].length - 13);
  });

  it("cuts at max", () => {
    expect(hexDump(new Uint8Array(100), 32)).toHaveLength(2);
    expect(hexLine(new Uint8Array([255]), 0)).toContain("ff ");
  });

  it("tells text from binary", () => {
    expect(isProbablyText(new TextEncoder().encode("plain text, ünïcode ✓"))).toBe(true);
    expect(isProbablyText(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]))).toBe(false);
    expect(isProbablyText(new Uint8Array([0xff, 0xfe, 0xfd]))).toBe(false);
    // A multi-byte character cut at the 4096-byte sample edge is still text.
    const long = new TextEncoder().encode("a".repeat(4095) + "é".repeat(10));
    expect(isProbablyText(long)).toBe(true);
  });
});

describe("filter helpers", () => {
  it("splits terms like the server, keeping quoted spaces", () => {
    expect(splitTerms(` host:a.test  body:"x y" -method:GET`)).toEqual(["host:a.test", 'body:"x y"', "-method:GET"]);
    expect(splitTerms(`body:"a \\" b" c`)).toEqual([`body:"a \\" b"`, "c"]);
  });

  it("toggles add, remove and replace within a group", () => {
    const json = TOGGLES.find((t) => t.term === "type:json")!;
    const html = TOGGLES.find((t) => t.term === "type:html")!;
    const errs = TOGGLES.find((t) => t.label === "Errors")!;
    let q = toggleTerm("host:a.test", json);
    expect(q).toBe("host:a.test type:json");
    q = toggleTerm(q, html);
    expect(q).toBe("host:a.test type:html");
    q = toggleTerm(q, errs);
    expect(q).toBe("host:a.test type:html error:");
    expect(hasTerm(q, "TYPE:HTML")).toBe(true);
    q = toggleTerm(q, html);
    expect(q).toBe("host:a.test error:");
  });

  it("quotes values that need it", () => {
    expect(term("host", "a.test")).toBe("host:a.test");
    expect(term("body", 'say "hi"')).toBe('body:"say \\"hi\\""');
  });
});

describe("highlight", () => {
  const join = (l: Parameters<typeof highlight>[1], s: string) => highlight(s, l).map((t) => (t.c ? `[${t.c}:${t.s}]` : t.s)).join("");

  it("keeps the text intact for every language", () => {
    const src = `<div class="a">x</div><script>const s = "y"; // c\n</script><style>a{color:red}</style>`;
    for (const l of ["html", "xml", "js", "css", "json", "text"] as const) {
      expect(highlight(src, l).map((t) => t.s).join("")).toBe(src);
    }
  });

  it("marks JSON keys, strings, numbers and literals", () => {
    expect(join("json", `{"a": "b", "n": -1.5e3, "t": true}`)).toBe(`[x:{][p:"a"][x::] [s:"b"][x:,] [p:"n"][x::] [n:-1.5e3][x:,] [p:"t"][x::] [k:true][x:}]`);
  });

  it("marks markup tags, attributes, comments and embedded script", () => {
    const out = join("html", `<!-- c --><a href="/x">t</a><script>let y = 1</script>`);
    expect(out).toContain("[c:<!-- c -->]");
    expect(out).toContain("[t:<a]");
    expect(out).toContain("[a:href]");
    expect(out).toContain('[s:"/x"]');
    expect(out).toContain("[k:let]");
    expect(out).toContain("[n:1]");
  });

  it("marks JS comments and strings and CSS properties", () => {
    expect(join("js", `// hi\nreturn 'x'`)).toBe(`[c:// hi]\n[k:return] [s:'x']`);
    expect(join("css", `a { color: #fff; }`)).toContain("[p:color]");
  });

  it("leaves text past the cap plain", () => {
    const toks = highlight(`"a" `.repeat(100), "json", 20);
    expect(toks.at(-1)!.c).toBe("");
    expect(toks.map((t) => t.s).join("")).toBe(`"a" `.repeat(100));
  });

  it("picks a language from the content type", () => {
    expect(langFor("application/json; charset=utf-8")).toBe("json");
    expect(langFor("text/html")).toBe("html");
    expect(langFor("application/xml")).toBe("xml");
    expect(langFor("text/javascript")).toBe("js");
    expect(langFor("text/css")).toBe("css");
    expect(langFor("text/plain")).toBe("text");
  });
});

describe("tryJSON", () => {
  it("parses JSON and refuses the rest", () => {
    expect(tryJSON(` {"a":[1,2]} `)).toEqual({ value: { a: [1, 2] } });
    expect(tryJSON("null")).toEqual({ value: null });
    expect(tryJSON("<html>")).toBeUndefined();
    expect(tryJSON("{broken")).toBeUndefined();
    expect(tryJSON("")).toBeUndefined();
  });
});

describe("rules helpers", () => {
  const flow: Flow = {
    id: 7,
    start: "",
    client: "127.0.0.1:5000",
    state: "done",
    request: { method: "GET", url: "http://api.test:8080/v1/users?id=3", proto: "HTTP/1.1", headers: [] },
    response: {
      status: 200,
      proto: "HTTP/1.1",
      headers: [
        { name: "Content-Type", value: "application/json" },
        { name: "Content-Length", value: "12" },
        { name: "Content-Encoding", value: "gzip" },
      ],
    },
    requestBody: { size: 0, captured: 0, truncated: false, complete: true },
    responseBody: { size: 12, captured: 12, truncated: false, complete: true },
    timings: { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: 1, receive: 0 },
  };

  it("prefills an override from a flow: method, host, port, path; status, content type, body", () => {
    const r = ruleFromFlow(flow, `{"id": 3}`);
    expect(r.match).toEqual({ methods: ["GET"], host: "api.test", port: 8080, path: "/v1/users?id=3" });
    expect(r.actions).toEqual([{ type: "override", status: 200, headers: { "Content-Type": "application/json" }, body: `{"id": 3}` }]);
    expect(r.enabled).toBe(true);
  });

  it("cleans a rule's match", () => {
    const r = cleanRule({ id: "a", name: "  ", enabled: true, match: { methods: ["get", " "], host: " x.test ", path: "", scheme: "" }, actions: [] });
    expect(r).toEqual({ id: "a", enabled: true, match: { methods: ["GET"], host: "x.test" }, actions: [] });
  });

  it("finds the problems of one field", () => {
    const probs = [
      { ruleId: "a", index: 0, field: "actions[0].status", message: "bad status" },
      { ruleId: "b", index: 1, field: "actions[0].status", message: "other rule" },
      { ruleId: "a", index: 0, field: "match.host", message: "bad host" },
    ];
    expect(problemsAt(probs, "a", "actions[0].status")).toEqual(["bad status"]);
    expect(problemsAt(probs, "", "actions[0].status")).toEqual(["bad status", "other rule"]);
  });
});

describe("format", () => {
  it("formats sizes and durations", () => {
    expect(fmtSize(0)).toBe("0 B");
    expect(fmtSize(1536)).toBe("1.5 KB");
    expect(fmtSize(5 * 1024 * 1024)).toBe("5.0 MB");
    expect(fmtDuration(-1)).toBe("");
    expect(fmtDuration(0.5)).toBe("0.50 ms");
    expect(fmtDuration(250.4)).toBe("250 ms");
    expect(fmtDuration(1500)).toBe("1.50 s");
  });
});

describe("decodeText", () => {
  it("decodes text in its declared charset", () => {
    expect(charsetOf('text/html; charset="ISO-8859-1"')).toBe("iso-8859-1");
    expect(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "text/plain; charset=iso-8859-1")).toBe("café");
    expect(decodeText(new Uint8Array([0x82, 0xa0]), "text/plain; charset=Shift_JIS")).toBe("あ");
  });
  it("reads UTF-8 without a charset and refuses binary", () => {
    expect(decodeText(new TextEncoder().encode("héllo"), "text/plain")).toBe("héllo");
    expect(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "text/plain")).toBeNull();
    expect(decodeText(new Uint8Array([0, 1, 2, 3]), "application/octet-stream")).toBeNull();
  });
});
