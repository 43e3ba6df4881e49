// Browser tests of the flows that record a CONNECT: a client that does not
// trust Loupe's CA (curl without --cacert) is a "TLS error" row whose detail
// explains it and links the CA install page; a passthrough tunnel is a
// "tunnel" row with its bytes each way. Real binary, real curl, Debian's
// Chromium; screenshots go to test-results/e2e/.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, openDashboard, startLoupe, startOrigin, stopAll, tmpDir, viaProxy, withTimeout } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, hold, browser, page;
const T = { timeout: 60_000 };
const { test, shot, setFilter, waitCount } = pageKit({ page: () => page, prefix: "tunnels" });

/** curl runs curl through the proxy without Loupe's CA; it resolves with its exit code and stderr. */
function curl(args) {
  return withTimeout(
    new Promise((resolve) => {
      execFile("curl", ["-sS", "--max-time", "10", "-x", `http://127.0.0.1:${loupe.proxyPort}`, ...args], (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stderr }));
    }),
    15_000,
    "curl",
  );
}

/** tunnel opens a CONNECT to target, sends request, reads until the answer holds `until`, and returns the socket (still open), its byte counts and a promise of its close. */
function tunnel(target, request, until) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const sock = net.connect(loupe.proxyPort, "127.0.0.1");
      let buf = Buffer.alloc(0);
      let open = false;
      let sent = 0;
      let received = 0;
      const closed = new Promise((r) => sock.once("close", r));
      sock.on("connect", () => sock.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
      sock.on("data", (d) => {
        if (!open) {
          buf = Buffer.concat([buf, d]);
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = buf.subarray(0, end).toString();
          if (!/^HTTP\/1\.1 200/.test(head)) return reject(new Error("CONNECT refused: " + head.split("\r\n")[0]));
          open = true;
          buf = buf.subarray(end + 4);
          received += buf.length;
          sent += Buffer.byteLength(request);
          sock.write(request);
        } else {
          buf = Buffer.concat([buf, d]);
          received += d.length;
        }
        if (buf.toString().includes(until)) {
          const write = (b) => {
            sent += Buffer.byteLength(b);
            sock.write(b);
          };
          resolve({ sock, closed, write, sent: () => sent, received: () => received });
        }
      });
      sock.on("error", reject);
    }),
    10_000,
    "tunnel",
  );
}

/** startHoldOrigin answers /hold with a head and a first chunk, then holds the rest until release(). */
async function startHoldOrigin() {
  const waiting = [];
  let released = false;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.write("original start\n");
    const finish = () => res.end("original end\n");
    if (released) finish();
    else waiting.push(finish);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    release() {
      released = true;
      waiting.splice(0).forEach((f) => f());
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-tunnels-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  hold = await startHoldOrigin();
  // Tunnels to 127.0.0.1 are relayed without decrypting (localhost ones are
  // intercepted); one replaced body at a time is drained.
  loupe = await startLoupe(bin, path.join(work, "data"), ["-passthrough", "127.0.0.1", "-max-drains", "1"]);
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1280, height: 800 } });
});

after(async () => {
  await stopAll(work, browser, loupe, origin, hold);
});

test("1. a client without Loupe's CA is a TLS error row that explains it and links the install page", T, async () => {
  const r = await curl([`https://localhost:${origin.port}/secret`]);
  assert.equal(r.code, 60, `curl refuses Loupe's certificate (exit 60): ${r.code} ${r.stderr}`);
  await waitCount(1);
  const row = page.locator(".row[data-id]").first();
  assert.match(await row.getAttribute("class"), /\berr\b/, "the row reads as an error");
  assert.equal(await row.locator(".badge.b-tlserror").textContent(), "TLS error");
  assert.match(await row.locator(".c-method").textContent(), /CONNECT/);
  assert.match(await row.locator(".c-host").textContent(), /localhost/);
  assert.match(await row.locator(".c-path").textContent(), /unknown authority/);
  await row.click();
  const box = page.locator("[data-testid=detail] [data-testid=tls-error]");
  await box.waitFor();
  const text = await box.textContent();
  assert.match(text, /rejected Loupe's certificate: unknown authority \(TLS alert unknown_ca\)/);
  const link = box.locator("[data-testid=install-link]");
  assert.equal(await link.getAttribute("href"), "/install");
  const overview = await page.locator("[data-testid=detail] .overview").textContent();
  assert.match(overview, /SNI\s*localhost/);
  assert.match(overview, /Client\s*127\.0\.0\.1:\d+/);
  assert.equal(await page.locator("[data-testid=detail] [data-testid=override]").count(), 0, "no override for a failed handshake");
  await shot("01-tls-error");

  // The link leads to the install page, which also explains localhost in browsers.
  const install = await page.context().request.get(`${loupe.ui}/install`);
  assert.equal(install.status(), 200);
  assert.match(await install.text(), /--proxy-bypass-list="&lt;-loopback&gt;"/);
});

test("2. a passthrough tunnel is a tunnel row with its bytes each way", T, async () => {
  const target = `127.0.0.1:${origin.port}`;
  const request = `GET /through-the-tunnel HTTP/1.1\r\nHost: ${target}\r\n\r\n`;
  const t = await tunnel(target, request, "hello from /through-the-tunnel");
  // The start of a second request keeps the origin from closing the idle
  // connection: the tunnel stays open until the test ends it.
  t.write("GET /second HTTP/1.1\r\n");
  try {
    await waitCount(2);
    const row = page.locator(".row.k-tunnel").first();
    await row.waitFor();
    assert.equal(await row.locator(".badge.b-tunnel").textContent(), "tunnel");
    // Still open: the row is live and already counts what came back.
    await page.waitForFunction(() => document.querySelector(".row.k-tunnel")?.classList.contains("pending"));
    await row.click();
    await page.locator("[data-testid=detail] [data-testid=tunnel-received]").waitFor();
    await shot("02-tunnel-open");
  } finally {
    t.sock.end();
  }
  await withTimeout(t.closed, 10_000, "tunnel close");
  await page.waitForFunction(() => !document.querySelector(".row.k-tunnel")?.classList.contains("pending"), null, { timeout: 15_000 });
  await page.waitForFunction(
    ([sent, received]) => {
      const s = document.querySelector("[data-testid=detail] [data-testid=tunnel-sent]")?.textContent ?? "";
      const r = document.querySelector("[data-testid=detail] [data-testid=tunnel-received]")?.textContent ?? "";
      return s.startsWith(`${sent} B`) && r.startsWith(`${received} B`);
    },
    [t.sent(), t.received()],
    { timeout: 10_000 },
  );
  await shot("02-tunnel");

  // The filter shows or hides them.
  await setFilter("kind:tunnel");
  await waitCount(1);
  await setFilter("-kind:tunnel,tls-error");
  await waitCount(0);
  await setFilter("");
  await waitCount(2);
  await page.click(".toggles button:has-text('Tunnels')");
  assert.equal(await page.inputValue("[data-testid=filter]"), "kind:tunnel,tls-error");
  await waitCount(2);
});

test("3. an override whose original was not kept says why, and the toolbar counts it", T, async () => {
  const rule = { name: "replace held", enabled: true, match: { host: "127.0.0.1", path: "/hold*" }, actions: [{ type: "override", body: "replaced" }] };
  assert.equal((await loupe.api("/api/rules", { method: "POST", body: rule })).status, 201);
  // The first override's drain is held open by the origin; the second
  // finds -max-drains (1) in use.
  for (const i of [1, 2]) {
    const r = await viaProxy(loupe.proxyPort, `http://127.0.0.1:${hold.port}/hold?n=${i}`);
    assert.equal(r.body.toString(), "replaced");
  }
  hold.release();
  await setFilter("path:/hold?n=2");
  await waitCount(1);
  await page.click(".row[data-id]");
  await page.click(".tabs button:has-text('Response')");
  await page.click("[data-testid=variant-switch] button:has-text('Upstream')");
  const why = page.locator("[data-testid=detail] [data-testid=upstream-why]");
  await why.waitFor();
  assert.equal(await why.textContent(), "original not kept: 1 drain was already running (-max-drains)");
  const count = page.locator("[data-testid=not-kept]");
  await count.waitFor({ timeout: 10_000 });
  assert.equal(await count.textContent(), "1 original not kept");
  await shot("03-not-kept");
  await setFilter("");
});
