// Test harness for the browser tests: builds the real Loupe binary, starts it
// and an origin server on 127.0.0.1, sends requests through the proxy, and
// drives Debian's Chromium through playwright-core. Everything it starts it
// stops itself, by child handle; every wait is bounded.

import { spawn, execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = path.join(ROOT, "test-results", "e2e");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** withTimeout rejects when p takes longer than ms. */
export function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** buildLoupe compiles ./cmd/loupe once into dir; it rejects with the compiler's output. */
export function buildLoupe(dir) {
  const out = path.join(dir, "loupe");
  return withTimeout(
    new Promise((resolve, reject) => {
      execFile("go", ["build", "-o", out, "./cmd/loupe"], { cwd: ROOT, env: process.env, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`go build ./cmd/loupe failed:\n${stderr || stdout || err.message}`));
        else resolve(out);
      });
    }),
    300_000,
    "go build",
  );
}

/** startLoupe runs the binary on free ports with a fixed token and waits until its API answers; args are more flags. */
export async function startLoupe(bin, dataDir, args = []) {
  const proxyPort = await freePort();
  const uiPort = await freePort();
  const token = crypto.randomBytes(16).toString("hex");
  const logPath = path.join(ARTIFACTS, "loupe.log");
  const log = fs.openSync(logPath, "w");
  const child = spawn(bin, ["-proxy", `127.0.0.1:${proxyPort}`, "-ui", `127.0.0.1:${uiPort}`, "-data", dataDir, ...args], {
    env: { ...process.env, LOUPE_TOKEN: token, HTTP_PROXY: "", HTTPS_PROXY: "", http_proxy: "", https_proxy: "" },
    stdio: ["ignore", log, log],
  });
  let exited = null;
  child.once("exit", (code, sig) => (exited = { code, sig }));
  const ui = `http://127.0.0.1:${uiPort}`;
  const deadline = Date.now() + 20_000;
  let last = "no answer";
  for (;;) {
    if (exited) throw new Error(`loupe exited early (${JSON.stringify(exited)}); log:\n${fs.readFileSync(logPath, "utf8").slice(-2000)}`);
    try {
      const r = await fetchJSON(`${ui}/api/state`, { token, timeout: 2000 });
      if (r.status === 200) break;
      last = `HTTP ${r.status}: ${r.text.slice(0, 200).trim()}`;
    } catch (err) {
      last = String(err?.cause?.code ?? err?.message ?? err); // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error(`loupe did not serve the dashboard API: GET ${ui}/api/state gave ${last} for 20 s (is package web wired into cmd/loupe?); log:\n${fs.readFileSync(logPath, "utf8").slice(-2000)}`);
    }
    await sleep(100);
  }
  return {
    child,
    proxyPort,
    uiPort,
    token,
    ui,
    api: (p, init = {}) => fetchJSON(ui + p, { ...init, token }),
    stop: () => stop(child).finally(() => fs.closeSync(log)),
  };
}

/** stop ends a child we started: SIGTERM, then SIGKILL after 5 s. */
export function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** fetchJSON: a bounded request to the dashboard API with the bearer token. */
export async function fetchJSON(url, { token, method = "GET", body, headers = {}, timeout = 30_000 } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) {
    body = JSON.stringify(body);
    h["Content-Type"] = "application/json";
  }
  const res = await fetch(url, { method, headers: h, body, signal: AbortSignal.timeout(timeout) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: res.status, json, text, headers: res.headers };
}

// A 2x2 PNG (red, green / blue, white).
export const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==", "base64");

/** startOrigin serves JSON, text, HTML, an image, binary and any status code on 127.0.0.1. */
export async function startOrigin() {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://origin");
    const send = (status, type, body) => {
      res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "X-Origin": "loupe-e2e" });
      res.end(body);
    };
    req.resume();
    req.on("end", () => {
      let m;
      if ((m = /^\/api\/users\/(\d+)$/.exec(u.pathname))) {
        const id = Number(m[1]);
        return send(200, "application/json; charset=utf-8", JSON.stringify({ id, name: `User ${id}`, email: `user${id}@example.test`, roles: ["reader", "writer"], profile: { city: "Lyon", active: true, score: 4.5 } }));
      }
      if ((m = /^\/status\/(\d{3})$/.exec(u.pathname))) return send(Number(m[1]), "text/plain; charset=utf-8", `status ${m[1]}\n`);
      if (u.pathname === "/page.html") return send(200, "text/html; charset=utf-8", `<!doctype html><html><head><title>Origin</title></head><body><h1 class="t">Hello</h1><script>const a = 1;</script></body></html>`);
      if (u.pathname === "/app.js") return send(200, "text/javascript", `export const answer = 42; // the answer\n`);
      if (u.pathname === "/style.css") return send(200, "text/css", `body { color: #123456; margin: 0; }\n`);
      if (u.pathname === "/image.png") return send(200, "image/png", PNG);
      if (u.pathname === "/big") return send(200, "text/plain; charset=utf-8", "0123456789abcdef\n".repeat(128 * 1024));
      if (u.pathname === "/blob") return send(200, "application/octet-stream", Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 255)));
      return send(200, "text/plain; charset=utf-8", `hello from ${u.pathname}\n`);
    });
  });
  server.keepAliveTimeout = 2000;
  attachEcho(server);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  return {
    port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

/**
 * startRecordingOrigin serves on 127.0.0.1 and appends every request it gets
 * (method, url, headers, body text) to seen, in order; answer(req) gives the
 * reply's { type, body }, status 200.
 */
export function startRecordingOrigin({ seen, answer }) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const { type, body } = answer(req);
      res.writeHead(200, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 2000;
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      }),
    ),
  );
}

const proxyAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** viaProxy sends one request through the proxy (absolute-URI form), bounded in time. */
export function viaProxy(proxyPort, url, { method = "GET", headers = {}, body, timeout = 15_000 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port: proxyPort, method, path: url, headers: { Host: u.host, ...headers }, agent: proxyAgent, timeout },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`request ${url} via proxy timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** pool runs fn over items with at most n in flight. */
export async function pool(items, n, fn) {
  let i = 0;
  const out = new Array(items.length);
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) {
        const k = i++;
        out[k] = await fn(items[k], k);
      }
    }),
  );
  return out;
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium)`);
  return withTimeout(
    chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
      timeout: 30_000,
    }),
    40_000,
    "launch chromium",
  );
}

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** harOf builds a HAR 1.2 document of n simple GET entries (for the 20,000-flow test). */
export function harOf(n, originPort) {
  const t0 = Date.UTC(2026, 0, 1);
  const entries = [];
  for (let i = 0; i < n; i++) {
    const text = `{"n":${i}}`;
    entries.push({
      startedDateTime: new Date(t0 + i).toISOString(),
      time: 3,
      request: { method: "GET", url: `http://127.0.0.1:${originPort}/bulk/${i}`, httpVersion: "HTTP/1.1", cookies: [], headers: [{ name: "Accept", value: "*/*" }], queryString: [], headersSize: -1, bodySize: 0 },
      response: { status: 200, statusText: "OK", httpVersion: "HTTP/1.1", cookies: [], headers: [{ name: "Content-Type", value: "application/json" }], content: { size: text.length, mimeType: "application/json", text }, redirectURL: "", headersSize: -1, bodySize: text.length },
      cache: {},
      timings: { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: 2, receive: 1 },
    });
  }
  return { log: { version: "1.2", creator: { name: "loupe-e2e", version: "1" }, entries } };
}

// ---- WebSocket, just enough for a test: text frames under 64 KiB, close ----

/** wsFrame encodes one frame; clients mask, servers don't. */
function wsFrame(opcode, payload, mask) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | len]) : Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | 126, len >> 8, len & 255]);
  if (!mask) return Buffer.concat([head, payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([head, key, body]);
}

/** wsParse takes the complete frames off the front of buf. */
function wsParse(buf) {
  const frames = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const opcode = buf[off] & 15;
    const masked = buf[off + 1] & 0x80;
    let len = buf[off + 1] & 127;
    let p = off + 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      p += 2;
    } else if (len === 127) throw new Error("frame too large for this test helper");
    const key = masked ? buf.subarray(p, p + 4) : null;
    if (masked) p += 4;
    if (buf.length < p + len) break;
    let data = Buffer.from(buf.subarray(p, p + len));
    if (key) data = Buffer.from(data.map((b, i) => b ^ key[i & 3]));
    frames.push({ opcode, data });
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** attachEcho makes server answer WebSocket upgrades on /ws with "echo: <text>". */
export function attachEcho(server) {
  server.on("upgrade", (req, sock) => {
    const accept = crypto.createHash("sha1").update(req.headers["sec-websocket-key"] + WS_GUID).digest("base64");
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    sock.on("data", (d) => {
      const r = wsParse(Buffer.concat([buf, d]));
      buf = r.rest;
      for (const f of r.frames) {
        if (f.opcode === 1) sock.write(wsFrame(1, Buffer.from("echo: " + f.data.toString()), false));
        if (f.opcode === 8) {
          sock.end(wsFrame(8, f.data, false));
        }
      }
    });
    sock.on("error", () => sock.destroy());
  });
}

/** wsExchange opens ws://target through the proxy, sends each text, collects the echoes, then closes. */
export function wsExchange(proxyPort, target, texts, timeout = 10_000) {
  const u = new URL(target);
  return withTimeout(
    new Promise((resolve, reject) => {
      const sock = net.connect(proxyPort, "127.0.0.1");
      const key = crypto.randomBytes(16).toString("base64");
      let buf = Buffer.alloc(0);
      let open = false;
      let closing = false;
      const got = [];
      sock.on("connect", () =>
        sock.write(
          `GET http://${u.host}${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      sock.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        if (!open) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = buf.subarray(0, end).toString();
          if (!/^HTTP\/1\.1 101/.test(head)) return reject(new Error("websocket upgrade refused: " + head.split("\r\n")[0]));
          open = true;
          buf = buf.subarray(end + 4);
          for (const t of texts) sock.write(wsFrame(1, Buffer.from(t), true));
        }
        const r = wsParse(buf);
        buf = r.rest;
        for (const f of r.frames) {
          if (f.opcode === 1) got.push(f.data.toString());
          if (f.opcode === 8) sock.end();
        }
        if (!closing && got.length === texts.length) {
          closing = true;
          sock.write(wsFrame(8, Buffer.from([3, 232]), true));
        }
      });
      sock.on("close", () => resolve(got));
      sock.on("error", reject);
    }),
    timeout,
    "websocket exchange",
  );
}

/**
 * openDashboard opens Loupe's dashboard in a new page of browser: the token
 * exchanged for the session cookie, page errors logged, and (unless live is
 * false) the live feed connected. hash opens another page ("#modes");
 * permissions are granted to the dashboard's origin.
 */
export async function openDashboard(browser, loupe, { viewport = { width: 1280, height: 800 }, hash = "", permissions, live = true } = {}) {
  const ctx = await browser.newContext({ viewport });
  if (permissions) await ctx.grantPermissions(permissions, { origin: loupe.ui });
  ctx.setDefaultTimeout(15_000);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.log("# page error:", e.message));
  await page.goto(`${loupe.ui}/?token=${loupe.token}${hash}`);
  await page.waitForURL((u) => !u.search.includes("token"), { timeout: 10_000 });
  if (live) await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
  return page;
}

/**
 * stopAll ends what a test file started, in the order given (a browser,
 * Loupe, origins: each may be missing, and a failure to stop one does not
 * keep the others running), then removes its work directory.
 */
export async function stopAll(work, ...started) {
  for (const s of started) {
    await (s?.stop ?? s?.close)?.call(s).catch(() => {});
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
}
