import { describe, expect, it } from "vitest";
import { expiryOf, headerParams, isForm, multipartBoundary, multipartParts, parseParams, queryParams, requestCookies, setCookies } from "./params";

const enc = new TextEncoder();
const crlf = (...lines: string[]) => lines.join("\r\n");

describe("query and form parameters", () => {
  it("decodes names and values, keeps repeated names in order", () => {
    expect(queryParams("https://a.test/p?tag=a&q=caf%C3%A9+au+lait&tag=b&tag=a")).toEqual([
      { name: "tag", value: "a" },
      { name: "q", value: "café au lait" },
      { name: "tag", value: "b" },
      { name: "tag", value: "a" },
    ]);
  });
  it("has no parameters without a query, and leaves the fragment out", () => {
    expect(queryParams("https://a.test/p")).toEqual([]);
    expect(queryParams("https://a.test/p?")).toEqual([]);
    expect(queryParams("/p?a=1#b=2")).toEqual([{ name: "a", value: "1" }]);
  });
  it("marks a pair without = and keeps empty values", () => {
    expect(parseParams("flag&empty=&=v&&x==y")).toEqual([
      { name: "flag", value: "", bare: true },
      { name: "empty", value: "" },
      { name: "", value: "v" },
      { name: "x", value: "=y" },
    ]);
  });
  it("shows a bad percent escape as sent and marks it", () => {
    expect(parseParams("a=%E0%A4%A&b=100%&c=%zz+1")).toEqual([
      { name: "a", value: "%E0%A4%A", malformed: true },
      { name: "b", value: "100%", malformed: true },
      { name: "c", value: "%zz 1", malformed: true },
    ]);
  });
  it("knows a form content type", () => {
    expect(isForm("application/x-www-form-urlencoded; charset=UTF-8")).toBe(true);
    expect(isForm("Application/X-WWW-Form-Urlencoded")).toBe(true);
    expect(isForm("application/json")).toBe(false);
    expect(isForm("")).toBe(false);
  });
});

describe("header parameters", () => {
  it("reads tokens and quoted strings, first one wins", () => {
    const ps = headerParams(`form-data; name="a \\"b\\""; filename=x.txt; NAME=c`);
    expect(ps.get("name")).toBe(`a "b"`);
    expect(ps.get("filename")).toBe("x.txt");
  });
  it("finds a multipart boundary", () => {
    expect(multipartBoundary('multipart/form-data; boundary="--X y"')).toBe("--X y");
    expect(multipartBoundary("multipart/form-data; boundary=abc")).toBe("abc");
    expect(multipartBoundary("multipart/form-data")).toBeNull();
    expect(multipartBoundary("multipart/mixed; boundary=abc")).toBeNull();
  });
});

describe("multipart parts", () => {
  const body = enc.encode(
    crlf(
      "preamble",
      "--B",
      'Content-Disposition: form-data; name="title"',
      "",
      "Zoë's file",
      "--B",
      'Content-Disposition: form-data; name="upload"; filename="a.bin"',
      "Content-Type: application/octet-stream",
      "",
      "\x00\x01\x02",
      "--B  ",
      'Content-Disposition: form-data; name="empty"',
      "",
      "",
      "--B--",
      "epilogue",
    ),
  );
  it("lists name, filename, content type and size, with text values", () => {
    expect(multipartParts(body, "B")).toEqual({
      parts: [
        { name: "title", contentType: "", size: enc.encode("Zoë's file").length, text: "Zoë's file" },
        { name: "upload", filename: "a.bin", contentType: "application/octet-stream", size: 3 },
        { name: "empty", contentType: "", size: 0, text: "" },
      ],
    });
  });
  it("reads a UTF-8 name and an RFC 5987 filename", () => {
    const b = new Uint8Array([
      ...enc.encode('--B\r\nContent-Disposition: form-data; name="'),
      ...enc.encode("naïve"),
      ...enc.encode(`"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--B--\r\n`),
    ]);
    expect(multipartParts(b, "B").parts).toEqual([{ name: "naïve", filename: "résumé.pdf", contentType: "application/pdf", size: 4 }]);
  });
  it("does not show a value that is not UTF-8 as text", () => {
    const b = new Uint8Array([...enc.encode('--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n'), 0xff, 0xfe, ...enc.encode("\r\n--B--")]);
    expect(multipartParts(b, "B").parts).toEqual([{ name: "x", contentType: "", size: 2 }]);
  });
  it("keeps what it read from a body cut short, and says so", () => {
    const cut = body.subarray(0, body.indexOf(0x01) + 1);
    const m = multipartParts(cut, "B");
    expect(m.parts.map((p) => [p.name, p.size])).toEqual([
      ["title", enc.encode("Zoë's file").length],
      ["upload", 2],
    ]);
    expect(m.problem).toBe("no closing boundary");
  });
  it("says what is wrong with a body that is not multipart at all", () => {
    expect(multipartParts(enc.encode("hello"), "B")).toEqual({ parts: [], problem: "the boundary does not occur in the body" });
    expect(multipartParts(enc.encode("--B\r\nContent-Disposition: form-data; name=a"), "B")).toEqual({
      parts: [],
      problem: "part 1 has no blank line after its headers",
    });
    expect(multipartParts(enc.encode("--B"), "B").problem).toBe("no closing boundary");
    expect(multipartParts(enc.encode(""), "B").parts).toEqual([]);
  });
});

describe("cookies", () => {
  it("reads every Cookie header in order, quotes removed", () => {
    expect(
      requestCookies([
        { name: "Cookie", value: 'sid=abc; theme="dark"; ; sid=second' },
        { name: "Accept", value: "*/*" },
        { name: "cookie", value: "lonely;  a=b=c " },
      ]),
    ).toEqual([
      { name: "sid", value: "abc" },
      { name: "theme", value: "dark" },
      { name: "sid", value: "second" },
      { name: "", value: "lonely", bare: true },
      { name: "a", value: "b=c" },
    ]);
    expect(requestCookies(null)).toEqual([]);
  });
  it("reads Set-Cookie attributes", () => {
    const [a, b, c] = setCookies([
      { name: "Set-Cookie", value: "sid=new; Domain=.example.test; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure; HttpOnly; SameSite=Lax" },
      { name: "set-cookie", value: "gone=; Max-Age=0; Partitioned; Priority=High" },
      { name: "Set-Cookie", value: "t=1; max-age=soon; Max-Age=60" },
    ]);
    expect(a).toEqual({
      name: "sid",
      value: "new",
      domain: "example.test",
      path: "/",
      expires: "Wed, 21 Oct 2037 07:28:00 GMT",
      secure: true,
      httpOnly: true,
      sameSite: "Lax",
      partitioned: false,
      other: [],
    });
    expect(b).toMatchObject({ name: "gone", value: "", maxAge: 0, partitioned: true, other: ["Priority=High"] });
    expect(expiryOf(b)).toBe("deleted (Max-Age 0)");
    expect(c).toMatchObject({ maxAge: 60, other: ["max-age=soon"] });
    expect(expiryOf(c)).toBe("Max-Age 60s");
    expect(expiryOf(a)).toBe("Wed, 21 Oct 2037 07:28:00 GMT");
  });
  it("marks a Set-Cookie without a name=value pair", () => {
    expect(setCookies([{ name: "Set-Cookie", value: "justavalue; Path=/" }])[0]).toMatchObject({ name: "", value: "justavalue", path: "/", malformed: true });
    expect(setCookies([{ name: "Set-Cookie", value: "" }])[0]).toMatchObject({ malformed: true });
    expect(expiryOf(setCookies([{ name: "Set-Cookie", value: "a=b" }])[0])).toBe("session");
  });
});
