import { describe, expect, it } from "vitest";
import { toCurl } from "./curl";
import { CurlError, parseCurl, shellWords } from "./curlparse";

const h = (name: string, value: string) => ({ name, value });

describe("parseCurl: browsers' Copy as cURL", () => {
  it("reads Chrome's bash copy of a GET (line continuations, -b cookies)", () => {
    const cmd = String.raw`curl 'https://api.example.com/v1/orders?limit=20&cursor=abc' \
  -H 'accept: application/json, text/plain, */*' \
  -H 'accept-language: en-GB,en-US;q=0.9,en;q=0.8' \
  -H 'authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig' \
  -b 'session=s%3Aabc123; theme=dark' \
  -H 'origin: https://app.example.com' \
  -H 'priority: u=1, i' \
  -H 'referer: https://app.example.com/' \
  -H 'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"' \
  -H 'sec-ch-ua-mobile: ?0' \
  -H 'sec-ch-ua-platform: "Linux"' \
  -H 'sec-fetch-dest: empty' \
  -H 'sec-fetch-mode: cors' \
  -H 'sec-fetch-site: same-site' \
  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'`;
    const r = parseCurl(cmd);
    expect(r.method).toBe("GET");
    expect(r.url).toBe("https://api.example.com/v1/orders?limit=20&cursor=abc");
    expect(r.body).toBeNull();
    expect(r.warnings).toEqual([]);
    expect(r.headers).toHaveLength(14);
    expect(r.headers[2]).toEqual(h("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"));
    expect(r.headers[3]).toEqual(h("Cookie", "session=s%3Aabc123; theme=dark"));
    expect(r.headers.find((x) => x.name === "sec-ch-ua")?.value).toBe('"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"');
  });

  it("reads Chrome's bash copy of a POST whose body needs $'…' quoting", () => {
    // Chrome writes ' as \', a backslash as \\, ! and control characters as \uXXXX.
    const cmd = String.raw`curl 'https://api.example.com/v1/notes' \
  -H 'content-type: application/json' \
  --data-raw $'{"title":"Bob\'s note","text":"line 1\\nline 2","wow":"yes\u0021","city":"Besançon"}'`;
    const r = parseCurl(cmd);
    expect(r.method).toBe("POST");
    expect(r.body).toBe(String.raw`{"title":"Bob's note","text":"line 1\nline 2","wow":"yes!","city":"Besançon"}`);
    expect(JSON.parse(r.body!).text).toBe("line 1\nline 2");
    // The body's type is the one given: curl adds its form type only when none is.
    expect(r.headers).toEqual([h("content-type", "application/json")]);
  });

  it("reads Chrome's bash copy of a PUT with -X and --compressed", () => {
    const r = parseCurl(`curl 'https://api.example.com/v1/items/7' -X 'PUT' -H 'content-type: text/plain' --data-raw 'hello' --compressed`);
    expect(r.method).toBe("PUT");
    expect(r.body).toBe("hello");
    expect(r.headers).toEqual([h("content-type", "text/plain"), h("Accept-Encoding", "gzip, deflate, br")]);
  });

  it("reads Chrome's cmd copy (^ escapes, ^\" quotes, %^ and ^& in the URL)", () => {
    const cmd = [
      `curl ^"https://api.example.com/v1/items?page=2^&q=50^%^25^" ^`,
      `  -H ^"accept: application/json^" ^`,
      `  -H ^"content-type: application/json^" ^`,
      `  --data-raw ^"^{^\\^"a^\\^":^\\^"b c^\\^",^\\^"path^\\^":^\\^"C:^\\^\\^\\^\\tmp^\\^",^\\^"two^\\^":^\\^"x^`,
      ``,
      `y^\\^"^}^"`,
    ].join("\r\n");
    const r = parseCurl(cmd);
    expect(r.url).toBe("https://api.example.com/v1/items?page=2&q=50%25");
    expect(r.headers).toEqual([h("accept", "application/json"), h("content-type", "application/json")]);
    expect(r.body).toBe(`{"a":"b c","path":"C:\\\\tmp","two":"x\ny"}`);
    // The same, as Chrome writes it on Windows (line ends \n, not \r\n).
    const lf = "curl ^\"https://api.example.com/v1/items?page=2^&q=50^%^25^\" ^\n  -H ^\"accept: application/json^\" ^\n  -H ^\"content-type: application/json^\" ^\n  --data-raw ^\"^{^\\^\"a^\\^\":^\\^\"b c^\\^\",^\\^\"path^\\^\":^\\^\"C:^\\^\\^\\^\\tmp^\\^\",^\\^\"two^\\^\":^\\^\"x^\n\ny^\\^\"^}^\"";
    expect(parseCurl(lf)).toEqual(r);
  });

  it("reads Firefox's POSIX copy of a POST", () => {
    const cmd = `curl 'https://shop.example.com/api/cart' -X POST -H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0' -H 'Accept: application/json' -H 'Accept-Language: en-US,en;q=0.5' -H 'Accept-Encoding: gzip, deflate, br' -H 'Content-Type: application/json' -H 'Origin: https://shop.example.com' -H 'Connection: keep-alive' -H 'Cookie: cart=42; lang=en' -H 'Sec-Fetch-Dest: empty' -H 'Sec-Fetch-Mode: cors' -H 'Sec-Fetch-Site: same-origin' -H 'TE: trailers' --data-raw '{"sku":"A-1","qty":2}'`;
    const r = parseCurl(cmd);
    expect(r.method).toBe("POST");
    expect(r.url).toBe("https://shop.example.com/api/cart");
    expect(r.body).toBe('{"sku":"A-1","qty":2}');
    expect(r.headers.map((x) => x.name)).toEqual([
      "User-Agent",
      "Accept",
      "Accept-Language",
      "Accept-Encoding",
      "Content-Type",
      "Origin",
      "Connection",
      "Cookie",
      "Sec-Fetch-Dest",
      "Sec-Fetch-Mode",
      "Sec-Fetch-Site",
      "TE",
    ]);
  });

  it("reads Firefox's POSIX copy with $'…' and \\xHH bytes for Latin-1 characters", () => {
    const r = parseCurl(String.raw`curl 'https://shop.example.com/api/notes' -X POST -H 'Content-Type: text/plain;charset=UTF-8' --data-raw $'it\'s caf\xe9\nnext line \u20ac'`);
    expect(r.body).toBe("it's café\nnext line €");
  });

  it("reads UTF-8 bytes written as \\xHH", () => {
    expect(parseCurl(String.raw`curl http://h.test/ --data-raw $'caf\xc3\xa9'`).body).toBe("café");
  });

  it("reads Firefox's Windows copy (curl.exe, \"\" for a quote)", () => {
    const r = parseCurl(`curl.exe "https://shop.example.com/api/cart" -X POST -H "Content-Type: application/json" --data-raw "{""sku"":""A-1"",""qty"":2}"`);
    expect(r.method).toBe("POST");
    expect(r.url).toBe("https://shop.example.com/api/cart");
    expect(r.body).toBe('{"sku":"A-1","qty":2}');
  });
});

describe("parseCurl: options people type", () => {
  const cases: { name: string; cmd: string; method: string; url: string; headers?: { name: string; value: string }[]; body: string | null; warnings?: string[] }[] = [
    { name: "bare URL without a scheme", cmd: "curl example.com/path", method: "GET", url: "http://example.com/path", body: null },
    { name: "-d is a form POST", cmd: "curl -d 'a=1' -d 'b=two words' http://h.test/f", method: "POST", url: "http://h.test/f", headers: [h("Content-Type", "application/x-www-form-urlencoded")], body: "a=1&b=two words" },
    { name: "--data-binary keeps newlines", cmd: "curl --data-binary $'l1\\nl2' -H 'Content-Type: text/plain' http://h.test/", method: "POST", url: "http://h.test/", headers: [h("Content-Type", "text/plain")], body: "l1\nl2" },
    { name: "--data-urlencode", cmd: "curl --data-urlencode 'q=a b&c' --data-urlencode '=x/y' --data-urlencode \"it's\" http://h.test/s", method: "POST", url: "http://h.test/s", headers: [h("Content-Type", "application/x-www-form-urlencoded")], body: "q=a%20b%26c&x%2Fy&it%27s" },
    { name: "-G moves the data into the query", cmd: "curl -G -d q=1 -d page=2 'http://h.test/search?lang=en'", method: "GET", url: "http://h.test/search?lang=en&q=1&page=2", body: null },
    { name: "-u is basic auth", cmd: "curl -u 'alice:s3cr:et' https://h.test/private", method: "GET", url: "https://h.test/private", headers: [h("Authorization", "Basic " + btoa("alice:s3cr:et"))], body: null },
    { name: "-u without a password", cmd: "curl -u bob https://h.test/", method: "GET", url: "https://h.test/", headers: [h("Authorization", "Basic " + btoa("bob:"))], body: null },
    { name: "--json", cmd: `curl --json '{"a":1}' https://h.test/j`, method: "POST", url: "https://h.test/j", headers: [h("Content-Type", "application/json"), h("Accept", "application/json")], body: '{"a":1}' },
    { name: "-I is HEAD", cmd: "curl -I https://h.test/", method: "HEAD", url: "https://h.test/", body: null },
    { name: "clustered flags and an attached value", cmd: "curl -sSLk -XDELETE -H'X-Why: test' https://h.test/x/1", method: "DELETE", url: "https://h.test/x/1", headers: [h("X-Why", "test")], body: null },
    { name: "--url, -A, -e, --oauth2-bearer", cmd: "curl --url https://h.test/u -A 'agent/1.0' -e https://ref.test/ --oauth2-bearer tok", method: "GET", url: "https://h.test/u", headers: [h("User-Agent", "agent/1.0"), h("Referer", "https://ref.test/"), h("Authorization", "Bearer tok")], body: null },
    { name: "a header with an empty value, and one curl is told to drop", cmd: "curl -H 'X-Empty;' -H 'Accept:' http://h.test/", method: "GET", url: "http://h.test/", headers: [h("X-Empty", "")], body: null },
    { name: "double quotes and backslashes", cmd: `curl "http://h.test/a b" -H "X-Q: say \\"hi\\" \\$HOME" -d "x=\\\\"`, method: "POST", url: "http://h.test/a b", headers: [h("X-Q", 'say "hi" $HOME'), h("Content-Type", "application/x-www-form-urlencoded")], body: "x=\\" },
    { name: "a pipe ends the command", cmd: "curl -s https://h.test/j | jq .", method: "GET", url: "https://h.test/j", body: null },
    { name: "a prompt before the command", cmd: "$ curl https://h.test/", method: "GET", url: "https://h.test/", body: null },
    { name: "options that change nothing are listed", cmd: "curl -o out.json --proxy http://p:3128 --retry 3 --frobnicate https://h.test/", method: "GET", url: "https://h.test/", body: null, warnings: ["-o out.json: ignored", "--proxy http://p:3128: ignored", "--retry 3: ignored", "--frobnicate: ignored"] },
    { name: "-r is a Range header", cmd: "curl -r 0-99 https://h.test/big", method: "GET", url: "https://h.test/big", headers: [h("Range", "bytes=0-99")], body: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parseCurl(c.cmd);
      expect(r.method).toBe(c.method);
      expect(r.url).toBe(c.url);
      expect(r.headers).toEqual(c.headers ?? []);
      expect(r.body).toBe(c.body);
      expect(r.warnings).toEqual(c.warnings ?? []);
    });
  }

  it("refuses what an editor cannot hold, saying why", () => {
    expect(() => parseCurl("wget http://h.test/")).toThrow(/start with curl/);
    expect(() => parseCurl("curl -s")).toThrow(/no URL/);
    expect(() => parseCurl("curl -F file=@a.png http://h.test/")).toThrow(/multipart/);
    expect(() => parseCurl("curl -d @body.json http://h.test/")).toThrow(/file/);
    expect(() => parseCurl("curl -T a.bin http://h.test/")).toThrow(/uploads a file/);
    expect(() => parseCurl("curl 'http://h.test/")).toThrow(CurlError);
    expect(() => parseCurl("curl -H")).toThrow(/needs a value/);
  });

  it("reads back what Copy as cURL writes", () => {
    const reqs = [
      { method: "GET", url: "https://api.example.com/v1/users?id=1&x=2", headers: [h("Accept", "application/json"), h("Accept-Encoding", "gzip")] },
      { method: "POST", url: "http://h.test/", headers: [h("Content-Type", "application/json")], body: `{"name":"O'Brien","nl":"a\nb"}` },
      { method: "PATCH", url: "http://h.test/p", headers: [h("X-Dollar", "$HOME and `cmd`")], body: "it's" },
      { method: "DELETE", url: "http://h.test/x", headers: [] },
      { method: "HEAD", url: "http://h.test/x", headers: [] },
    ];
    for (const req of reqs) {
      const r = parseCurl(toCurl(req));
      expect(r.method).toBe(req.method);
      expect(r.url).toBe(req.url);
      expect(r.body).toBe(req.body ?? null);
      for (const x of req.headers) expect(r.headers).toContainEqual(x);
    }
  });
});

describe("shellWords", () => {
  it("splits like a shell", () => {
    expect(shellWords(`a 'b c' "d \\"e\\"" f\\ g $'h\\ti' j"k"'l'`)).toEqual(["a", "b c", 'd "e"', "f g", "h\ti", "jkl"]);
    expect(shellWords("a \\\n  b # comment\n c")).toEqual(["a", "b", "c"]);
    expect(shellWords("a ''")).toEqual(["a", ""]);
  });
});
