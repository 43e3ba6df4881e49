// "Paste cURL": turns a curl command line (as browsers' "Copy as cURL"
// write them for bash or for Windows cmd, or as a person types one) into a
// request the compose editor can show. It reads what decides the request
// (method, URL, headers, body, credentials) and lists what it left out.

import type { Field } from "../api/types";

export interface ParsedCurl {
  method: string;
  url: string;
  headers: Field[];
  /** The body as text; null when there is none. */
  body: string | null;
  /** Options read but not applied (a proxy, an output file, an unknown option). */
  warnings: string[];
}

/** CurlError is a command that cannot become a request; the message says why. */
export class CurlError extends Error {}

/**
 * shellWords splits a command line as a POSIX shell would (quotes, $'…',
 * backslashes, line continuations), or as Windows cmd and the C runtime
 * would when the text uses cmd's ^ escapes. Parsing stops at an unquoted
 * pipe, redirection or command separator (`curl … | jq .`).
 */
export function shellWords(text: string): string[] {
  return isCmd(text) ? cmdWords(text) : posixWords(text);
}

/** A Windows cmd line: ^ escapes or continuations, or curl.exe with double quotes. */
function isCmd(text: string): boolean {
  return /\^\r?\n|\^"/.test(text) || (/^\s*curl\.exe\s/i.test(text) && !/'/.test(text.split(/\s/, 3)[1] ?? ""));
}

function posixWords(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let i = 0;
  const end = () => {
    if (inWord) out.push(cur);
    cur = "";
    inWord = false;
  };
  while (i < s.length) {
    const c = s[i];
    if (c === "\\") {
      if (s[i + 1] === "\n") {
        i += 2;
        continue;
      }
      if (s[i + 1] === "\r" && s[i + 2] === "\n") {
        i += 3;
        continue;
      }
      if (i + 1 < s.length) {
        cur += s[i + 1];
        inWord = true;
      }
      i += 2;
      continue;
    }
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new CurlError("a single quote is not closed");
      cur += s.slice(i + 1, j);
      inWord = true;
      i = j + 1;
      continue;
    }
    if (c === "$" && s[i + 1] === "'") {
      const [text, next] = ansiC(s, i + 2);
      cur += text;
      inWord = true;
      i = next;
      continue;
    }
    if (c === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        const d = s[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === "\\" && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1])) {
          if (s[i + 1] !== "\n") cur += s[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
      if (!closed) throw new CurlError("a double quote is not closed");
      inWord = true;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      end();
      i++;
      continue;
    }
    if (!inWord && (c === "|" || c === ";" || c === ">" || c === "<" || c === "&")) break;
    if (!inWord && c === "#") {
      // A comment runs to the end of the line.
      while (i < s.length && s[i] !== "\n") i++;
      continue;
    }
    cur += c;
    inWord = true;
    i++;
  }
  end();
  return out;
}

/** ansiC reads a bash $'…' string from s[i:] (after the opening quote); it returns the text and where it ends. */
function ansiC(s: string, i: number): [string, number] {
  let out = "";
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", e: "\x1b", E: "\x1b", f: "\f", v: "\v", "\\": "\\", "'": "'", '"': '"', "?": "?" };
  let bytes: number[] = [];
  const flush = () => {
    if (!bytes.length) return;
    try {
      out += new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
    } catch {
      // Not UTF-8: Firefox writes characters below 256 as single \xHH
      // bytes (Latin-1), meaning the character.
      out += String.fromCharCode(...bytes);
    }
    bytes = [];
  };
  while (i < s.length) {
    const c = s[i];
    if (c === "'") {
      flush();
      return [out, i + 1];
    }
    if (c !== "\\") {
      flush();
      out += c;
      i++;
      continue;
    }
    const d = s[i + 1];
    if (d === undefined) break;
    if (d in simple) {
      flush();
      out += simple[d];
      i += 2;
      continue;
    }
    let m: RegExpExecArray | null;
    if (d === "x" && (m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 2)))) {
      // \xHH are bytes: several in a row may be one UTF-8 character.
      bytes.push(parseInt(m[0], 16));
      i += 2 + m[0].length;
      continue;
    }
    if ((d === "u" || d === "U") && (m = (d === "u" ? /^[0-9a-fA-F]{1,4}/ : /^[0-9a-fA-F]{1,8}/).exec(s.slice(i + 2)))) {
      flush();
      out += String.fromCodePoint(parseInt(m[0], 16));
      i += 2 + m[0].length;
      continue;
    }
    if ((m = /^[0-7]{1,3}/.exec(s.slice(i + 1)))) {
      bytes.push(parseInt(m[0], 8) & 255);
      i += 1 + m[0].length;
      continue;
    }
    flush();
    out += "\\" + d;
    i += 2;
  }
  throw new CurlError("a $'…' string is not closed");
}

/**
 * cmdWords splits a line written for Windows cmd: first cmd's layer (^
 * escapes the next character, ^ at the end of a line continues it, ^ and two
 * line ends are a line end kept in the word), then the C runtime's (double
 * quotes group, \" and "" inside them are a quote).
 */
function cmdWords(s: string): string[] {
  // cmd's layer: carets, active outside cmd's own double quotes. An
  // escaped quote (^") reaches the runtime as a quote but does not switch
  // cmd's quoting (which would turn carets off): that is how Chrome quotes.
  let t = "";
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "^" && !quoted) {
      const rest = s.slice(i + 1);
      const two = /^\r?\n\r?\n/.exec(rest);
      const one = /^\r?\n/.exec(rest);
      if (two) {
        t += "\n";
        i += two[0].length;
      } else if (one) {
        i += one[0].length;
      } else if (i + 1 < s.length) {
        t += s[++i];
      }
      continue;
    }
    if (c === '"') quoted = !quoted;
    t += c;
  }
  // The C runtime's layer: double quotes group; inside them "" is a quote.
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let inQuote = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (c === "\\" && (t[i + 1] === "\\" || t[i + 1] === '"')) {
      // Both browsers double every backslash and write a quote as \"
      // for this layer: \\ is one backslash, \" a quote.
      cur += t[++i];
      inWord = true;
      continue;
    }
    if (c === '"') {
      if (inQuote && t[i + 1] === '"') {
        cur += '"';
        i++;
        continue;
      }
      inQuote = !inQuote;
      inWord = true;
      continue;
    }
    if (!inQuote && (c === " " || c === "\t" || c === "\n" || c === "\r")) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
      continue;
    }
    if (!inQuote && !inWord && (c === "|" || c === ">" || c === "<" || c === "&")) break;
    cur += c;
    inWord = true;
  }
  if (inQuote) throw new CurlError("a double quote is not closed");
  if (inWord) out.push(cur);
  return out;
}

/** Options that take a value and are read. */
const VALUE_OPTS: Record<string, string> = {
  "-X": "request",
  "--request": "request",
  "-H": "header",
  "--header": "header",
  "-d": "data",
  "--data": "data",
  "--data-ascii": "data",
  "--data-raw": "data-raw",
  "--data-binary": "data-binary",
  "--data-urlencode": "data-urlencode",
  "--json": "json",
  "-u": "user",
  "--user": "user",
  "--url": "url",
  "-A": "user-agent",
  "--user-agent": "user-agent",
  "-e": "referer",
  "--referer": "referer",
  "-b": "cookie",
  "--cookie": "cookie",
  "-r": "range",
  "--range": "range",
  "-F": "form",
  "--form": "form",
  "--form-string": "form",
  "-T": "upload",
  "--upload-file": "upload",
  "--oauth2-bearer": "bearer",
};

/** Options that take a value that does not change the request (or that Loupe decides). */
const IGNORED_VALUE_OPTS = new Set(
  (
    "-o --output -x --proxy -U --proxy-user -m --max-time --connect-timeout -w --write-out --retry --retry-delay --retry-max-time " +
    "--resolve --connect-to --cacert --capath --cert -E --key --cert-type --key-type --pass -c --cookie-jar -D --dump-header " +
    "--limit-rate -y --speed-time -Y --speed-limit --max-redirs --interface --dns-servers --ciphers --tls-max --expect100-timeout " +
    "--keepalive-time --happy-eyeballs-timeout-ms --noproxy --proxy-header --trace --trace-ascii --stderr -K --config " +
    "-C --continue-at -z --time-cond --max-filesize --local-port --unix-socket --abstract-unix-socket --preproxy --request-target " +
    "--socks4 --socks4a --socks5 --socks5-hostname --proto --proto-redir --netrc-file --aws-sigv4 --variable --output-dir"
  ).split(" "),
);

/** Short options that take a value (the rest of a cluster like -XPOST is that value). */
const SHORT_WITH_VALUE = new Set("XHduAebrFToxUmwEcDyYKCz".split(""));

/** Flags whose effect Loupe decides or that only change curl's output: accepted silently. */
const QUIET_FLAGS = new Set(
  (
    "-s --silent -S --show-error -L --location -k --insecure -v --verbose -i --include -f --fail --fail-with-body -N --no-buffer " +
    "--http1.0 --http1.1 --http2 --http2-prior-knowledge --http3 -g --globoff -# --progress-bar --raw --path-as-is -0 -4 -6 " +
    "--ipv4 --ipv6 --no-keepalive --tcp-nodelay --location-trusted --no-progress-meter -q --disable --compressed-ssh --tr-encoding -j --junk-session-cookies"
  ).split(" "),
);

/**
 * parseCurl reads a curl command line. It throws a CurlError when the text
 * is not a curl command or asks for what an editor cannot hold (a file to
 * upload, a multipart form).
 */
export function parseCurl(text: string): ParsedCurl {
  const words = shellWords(text.trim().replace(/^\$\s+/, ""));
  if (words.length === 0 || !/^curl(\.exe)?$/i.test(words[0].split(/[\\/]/).pop() ?? "")) {
    throw new CurlError("not a curl command: it should start with curl");
  }
  let method = "";
  let url = "";
  const headers: Field[] = [];
  const data: string[] = [];
  let json = false;
  let get = false;
  let head = false;
  let compressed = false;
  let dataSeen = false;
  const warnings: string[] = [];
  const extraURLs: string[] = [];

  const setHeader = (name: string, value: string, onlyIfAbsent = false) => {
    const i = headers.findIndex((h) => h.name.toLowerCase() === name.toLowerCase());
    if (i >= 0) {
      if (!onlyIfAbsent) headers[i] = { name: headers[i].name, value };
      return;
    }
    headers.push({ name, value });
  };

  const apply = (kind: string, v: string, opt: string) => {
    switch (kind) {
      case "request":
        method = v;
        return;
      case "header": {
        const colon = v.indexOf(":");
        if (colon < 0) {
          // "Name;" sends the header with an empty value.
          if (v.endsWith(";")) headers.push({ name: v.slice(0, -1).trim(), value: "" });
          else if (v.startsWith("@")) warnings.push(`${opt} ${v}: headers from a file are not read`);
          else warnings.push(`${opt} ${JSON.stringify(v)}: not a header (Name: value)`);
          return;
        }
        const name = v.slice(0, colon).trim();
        const value = v.slice(colon + 1).trim();
        // "Name:" alone removes a header curl would add: nothing to send.
        if (value === "") return;
        headers.push({ name, value });
        return;
      }
      case "data":
      case "data-binary":
        dataSeen = true;
        if (v.startsWith("@")) throw new CurlError(`${opt} ${v} reads the body from a file: paste the body into the editor instead`);
        data.push(v);
        return;
      case "data-raw":
        dataSeen = true;
        data.push(v);
        return;
      case "data-urlencode": {
        dataSeen = true;
        const eq = v.indexOf("=");
        const at = v.indexOf("@");
        if (at >= 0 && (eq < 0 || at < eq)) throw new CurlError(`${opt} ${v} reads the value from a file: paste it instead`);
        if (eq < 0) data.push(urlencode(v));
        else if (eq === 0) data.push(urlencode(v.slice(1)));
        else data.push(v.slice(0, eq) + "=" + urlencode(v.slice(eq + 1)));
        return;
      }
      case "json":
        dataSeen = true;
        json = true;
        if (v.startsWith("@")) throw new CurlError(`${opt} ${v} reads the body from a file: paste the body into the editor instead`);
        data.push(v);
        return;
      case "user": {
        const bytes = new TextEncoder().encode(v.includes(":") ? v : v + ":");
        setHeader("Authorization", "Basic " + btoa(String.fromCharCode(...bytes)));
        return;
      }
      case "bearer":
        setHeader("Authorization", "Bearer " + v);
        return;
      case "url":
        if (url) extraURLs.push(v);
        else url = v;
        return;
      case "user-agent":
        setHeader("User-Agent", v);
        return;
      case "referer":
        setHeader("Referer", v.replace(/;auto$/, ""));
        return;
      case "cookie":
        if (v.includes("=")) setHeader("Cookie", v);
        else warnings.push(`${opt} ${v}: cookies from a file are not read`);
        return;
      case "range":
        setHeader("Range", "bytes=" + v);
        return;
      case "form":
        throw new CurlError(`${opt} (a multipart form) is not supported: write the body in the editor instead`);
      case "upload":
        throw new CurlError(`${opt} ${v} uploads a file: paste the body into the editor instead`);
    }
  };

  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    const next = (opt: string): string => {
      if (i + 1 >= words.length) throw new CurlError(`${opt} needs a value`);
      return words[++i];
    };
    if (w === "--") {
      for (const rest of words.slice(i + 1)) {
        if (url) extraURLs.push(rest);
        else url = rest;
      }
      break;
    }
    if (w.startsWith("--")) {
      if (w in VALUE_OPTS) apply(VALUE_OPTS[w], next(w), w);
      else if (w === "--compressed") compressed = true;
      else if (w === "--get") get = true;
      else if (w === "--head") head = true;
      else if (IGNORED_VALUE_OPTS.has(w)) warnings.push(`${w} ${next(w)}: ignored`);
      else if (!QUIET_FLAGS.has(w) && !w.startsWith("--no-")) warnings.push(`${w}: ignored`);
      continue;
    }
    if (w.startsWith("-") && w.length > 1) {
      // A cluster of short options: -sSL, -XPOST, -H'X: 1'.
      for (let k = 1; k < w.length; k++) {
        const o = "-" + w[k];
        if (SHORT_WITH_VALUE.has(w[k])) {
          const v = k + 1 < w.length ? w.slice(k + 1) : next(o);
          if (o in VALUE_OPTS) apply(VALUE_OPTS[o], v, o);
          else warnings.push(`${o} ${v}: ignored`);
          break;
        }
        if (o === "-G") get = true;
        else if (o === "-I") head = true;
        else if (!QUIET_FLAGS.has(o)) warnings.push(`${o}: ignored`);
      }
      continue;
    }
    if (url) extraURLs.push(w);
    else url = w;
  }
  if (!url) throw new CurlError("no URL in the command");
  if (extraURLs.length) warnings.push(`only the first URL is used (${extraURLs.length} more ignored)`);
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(url)) url = "http://" + url; // as curl does

  let body: string | null = null;
  if (dataSeen) {
    const joined = data.join("&");
    if (get) {
      const hash = url.indexOf("#");
      const base = hash >= 0 ? url.slice(0, hash) : url;
      url = base + (base.includes("?") ? "&" : "?") + joined;
    } else {
      body = joined;
      if (json) {
        setHeader("Content-Type", "application/json", true);
        setHeader("Accept", "application/json", true);
      } else {
        setHeader("Content-Type", "application/x-www-form-urlencoded", true);
      }
    }
  }
  if (compressed) setHeader("Accept-Encoding", "gzip, deflate, br", true);
  if (!method) method = head ? "HEAD" : body !== null ? "POST" : "GET";
  return { method, url, headers, body, warnings };
}

/** urlencode escapes as curl --data-urlencode does: everything but letters, digits and -._~. */
function urlencode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}
