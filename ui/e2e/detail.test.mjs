// Browser tests of the detail pane against the real Loupe binary: the
// query, form, multipart and cookie tables of a real flow; a selected flow
// hidden by the filter says so, and its details follow it to its end; a
// replayed flow's status and badges update in place as it completes.

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, openDashboard, startLoupe, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, browser, page;
const T = { timeout: 60_000 };
const { test, shot, eventually, setFilter } = pageKit({ page: () => page, prefix: "detail" });

/** held are the answers the origin keeps back on /hold until the test releases them. */
const held = [];

function startOrigin() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const u = new URL(req.url, "http://origin");
      if (u.pathname === "/hold") {
        held.push(() => {
          res.writeHead(200, { "Content-Type": "text/plain" });
          res.end("released");
        });
        return;
      }
      const headers = { "Content-Type": "text/plain" };
      if (u.pathname === "/login") {
        headers["Set-Cookie"] = ["sid=new42; Domain=.example.test; Path=/app; Max-Age=3600; Secure; HttpOnly; SameSite=Strict", "old=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"];
      }
      res.writeHead(200, headers);
      res.end("ok " + u.pathname);
    });
  });
  server.keepAliveTimeout = 2000;
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((r) => {
            for (const f of held.splice(0)) f();
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      }),
    ),
  );
}

/** release answers every held request. */
function release() {
  for (const f of held.splice(0)) f();
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-detail-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1400, height: 900 } });
});

after(async () => {
  release();
  await stopAll(work, browser, loupe, origin);
});

const o = () => `http://127.0.0.1:${origin.port}`;

/** rowsOf reads a table's rows as arrays of cell texts (header cells included). */
function rowsOf(testid) {
  return page.locator(`[data-testid=${testid}] tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent.trim())));
}

/** openOnly filters the list down to one path and opens its newest flow. */
async function openOnly(q) {
  await setFilter(q);
  const row = page.locator(".row[data-id]").last();
  await row.waitFor();
  await row.click();
  await page.locator("[data-testid=detail]").waitFor();
  return Number(await row.getAttribute("data-id"));
}

const tab = (name) => page.locator(".detail .tabs button", { hasText: name }).click();

test("1. Query, form and cookie tables of a real flow; Set-Cookie attributes", T, async () => {
  const form = "user=ann&note=hi+there&tag=x&tag=y&bad=%zz";
  const r = await viaProxy(loupe.proxyPort, `${o()}/login?tag=a&q=caf%C3%A9+cr%C3%A8me&tag=b&flag`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: "sid=abc; theme=dark" },
    body: form,
  });
  assert.equal(r.status, 200);
  await openOnly("path:/login*");
  await tab("Request");
  await page.locator("[data-testid=query-params]").waitFor();
  assert.deepEqual(await rowsOf("query-params"), [
    ["tag", "a"],
    ["q", "café crème"],
    ["tag", "b"],
    ["flag", "(no value)"],
  ]);
  await page.locator("[data-testid=form-params]").waitFor();
  assert.deepEqual(await rowsOf("form-params"), [
    ["user", "ann"],
    ["note", "hi there"],
    ["tag", "x"],
    ["tag", "y"],
    ["bad", "%zz"],
  ]);
  assert.deepEqual(await rowsOf("request-cookies"), [
    ["sid", "abc"],
    ["theme", "dark"],
  ]);
  await shot("request-tables");

  await tab("Response");
  await page.locator("[data-testid=set-cookies]").waitFor();
  const [sid, old] = await rowsOf("set-cookies");
  assert.deepEqual(sid, ["sid", "new42", "example.test", "/app", "Max-Age 3600s", "Secure; HttpOnly; SameSite=Strict"]);
  assert.deepEqual(old, ["old", "", "", "", "Thu, 01 Jan 1970 00:00:00 GMT", ""]);
  await shot("set-cookies");
});

test("2. A multipart upload lists its parts: name, file name, type, size, text values", T, async () => {
  const b = "XyZ";
  const body = [
    `--${b}`,
    'Content-Disposition: form-data; name="title"',
    "",
    "Holiday photos",
    `--${b}`,
    'Content-Disposition: form-data; name="file"; filename="pic.png"',
    "Content-Type: image/png",
    "",
    "\x89PNG....",
    `--${b}--`,
    "",
  ].join("\r\n");
  const r = await viaProxy(loupe.proxyPort, `${o()}/upload`, { method: "POST", headers: { "Content-Type": `multipart/form-data; boundary=${b}` }, body: Buffer.from(body, "latin1") });
  assert.equal(r.status, 200);
  await openOnly("path:/upload*");
  await tab("Request");
  await page.locator("[data-testid=multipart-parts]").waitFor();
  assert.deepEqual(await rowsOf("multipart-parts"), [
    ["title", "", "", "14 B", "Holiday photos"],
    ["file", "pic.png", "image/png", "8 B", ""],
  ]);
});

test("3. A selected flow hidden by the filter says so, not 'Waiting for the response', and its details follow it to its end", T, async () => {
  const pending = viaProxy(loupe.proxyPort, `${o()}/hold?n=1`);
  const id = await openOnly("path:/hold*");
  await eventually(async () => held.length === 1, "the origin holds the request");
  await tab("Response");
  await page.locator(".detail .dbody", { hasText: "Waiting for the response" }).waitFor();

  await setFilter("path:/nothing-matches-this*");
  await page.locator("[data-testid=detail-presence]", { hasText: "Hidden by the filter" }).waitFor();
  assert.equal(await page.locator(".detail .dbody", { hasText: "Waiting for the response" }).count(), 0);
  assert.match(await page.locator(".detail .dbody").textContent(), /Hidden by the filter/);
  assert.equal(await page.locator(`.row[data-id="${id}"]`).count(), 0, "the list does not show it");
  await shot("hidden-pending");

  // The flow ends while hidden: the pane shows its answer without being selected again.
  release();
  assert.equal((await pending).status, 200);
  await page.locator(".detail .dhead .st", { hasText: "200" }).waitFor();
  await page.locator("[data-testid=response-headers]").waitFor();

  // Cleared from the capture: the pane says the flow is gone.
  await setFilter("");
  await loupe.api("/api/flows", { method: "DELETE" });
  await page.locator("[data-testid=detail-presence]", { hasText: "No longer in the capture" }).waitFor();
});

test("4. A replay's status and badges update in place as it completes", T, async () => {
  const first = viaProxy(loupe.proxyPort, `${o()}/hold?n=2`);
  await eventually(async () => held.length === 1, "the origin holds the request");
  release();
  assert.equal((await first).status, 200);
  const origID = await openOnly("path:/hold*");
  // A rule that touches the next exchanges: the replay carries its badge.
  const add = await loupe.api("/api/rules", {
    method: "POST",
    body: { id: "tag", name: "Tag", enabled: true, match: { path: "/hold*" }, actions: [{ type: "setResponseHeaders", headers: { "X-Tag": "1" } }] },
  });
  assert.ok(add.status < 300, `add rule: ${add.status} ${add.text}`);
  try {
    await page.locator(".detail .actions button", { hasText: "Replay" }).click();
    await eventually(async () => held.length === 1, "the origin holds the replay");
    // The replay is selected while pending.
    await eventually(async () => (await page.locator(".detail .dhead .st").textContent()) === "…", "the replay shows as pending");
    const badges = () => page.locator(".detail .dhead .durl .badge").allTextContents();
    await eventually(async () => (await badges()).includes("replay"), "the replay badge");
    const replayURL = await page.locator(".detail .dhead .url").textContent();
    assert.equal(replayURL, `${o()}/hold?n=2`);

    release();
    await page.locator(".detail .dhead .st", { hasText: "200" }).waitFor();
    await eventually(async () => {
      const b = await badges();
      return b.includes("replay") && b.includes("rule");
    }, "replay and rule badges after completion");
    await tab("Response");
    await page.locator("[data-testid=response-headers]", { hasText: "X-Tag" }).waitFor();
    assert.notEqual(await page.locator(".row.sel").getAttribute("data-id"), String(origID));
    await shot("replay-done");
  } finally {
    await loupe.api("/api/rules/tag", { method: "DELETE" });
  }
});
