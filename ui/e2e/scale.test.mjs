// Browser test of the flow list at scale: 200,000 imported flows in the
// durable capture, a list that pages from the server, a filter answered by
// the server, older pages loaded by scrolling, a filtered live feed, and
// the same capture after a restart. Screenshots go to test-results/e2e/.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, startLoupe, startOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

const N = 200_000;
let work, bin, loupe, origin, browser, page;
let flowRequests = 0; // GET /api/flows made by the page
const T = { timeout: 120_000 };
const { test, setFilter } = pageKit({ page: () => page, prefix: "scale" });

/** The imported flows: hosts and statuses vary so that a filter selects a known share. */
function hostOf(i) {
  return i % 3 === 0 ? `svc${i % 11}.example.com` : i % 3 === 1 ? "cdn.example.org" : `h${i % 5}.test`;
}
function statusOf(i) {
  return i % 7 === 0 ? 503 : i % 7 === 3 ? 500 : 200;
}
const matches = (i) => hostOf(i).endsWith(".example.com") && statusOf(i) >= 500;

function harChunk(from, to) {
  const t0 = Date.UTC(2026, 0, 1);
  const entries = [];
  for (let i = from; i < to; i++) {
    entries.push({
      startedDateTime: new Date(t0 + i).toISOString(),
      time: 2,
      request: { method: "GET", url: `http://${hostOf(i)}/item/${i}`, httpVersion: "HTTP/1.1", cookies: [], headers: [], queryString: [], headersSize: -1, bodySize: 0 },
      response: { status: statusOf(i), statusText: "", httpVersion: "HTTP/1.1", cookies: [], headers: [{ name: "Content-Type", value: "text/plain" }], content: { size: 0, mimeType: "text/plain" }, redirectURL: "", headersSize: -1, bodySize: 0 },
      cache: {},
      timings: { send: 0, wait: 1, receive: 1 },
    });
  }
  return JSON.stringify({ log: { version: "1.2", creator: { name: "loupe-e2e", version: "1" }, entries } });
}

/** The list's footer: the server's total, and the flows loaded when fewer. */
async function counts() {
  const el = page.locator("[data-testid=flow-count]");
  const [total, loaded] = await Promise.all([el.getAttribute("data-total", { timeout: 5000 }), el.getAttribute("data-loaded", { timeout: 5000 })]);
  return { total: Number(total), loaded: Number(loaded) };
}

async function waitCounts(ok, what, timeout = 30_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const c = await counts().catch(() => null);
    if (c && ok(c)) return c;
    if (Date.now() > end) throw new Error(`${what}: the list shows ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-scale-");
  bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  loupe = await startLoupe(bin, path.join(work, "data"), ["-max-flows", "300000"]);
  // 200,000 flows, imported in four requests.
  for (let from = 0; from < N; from += 50_000) {
    const r = await loupe.api("/api/flows/import", { method: "POST", body: harChunk(from, from + 50_000), timeout: 120_000 });
    assert.equal(r.status, 201, `import ${from}: ${r.text.slice(0, 200)}`);
  }
  browser = await launchBrowser();
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctx.setDefaultTimeout(15_000);
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.log("# page error:", e.message));
  page.on("request", (r) => {
    if (new URL(r.url()).pathname === "/api/flows") flowRequests++;
  });
  await page.goto(`${loupe.ui}/?token=${loupe.token}`);
  await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

test("1. the first page of 200,000 flows appears, with the server's total", T, async () => {
  const c = await waitCounts((c) => c.total === N && c.loaded > 0, "first page");
  assert.ok(c.loaded <= 1000, `only a page is loaded, not ${c.loaded}`);
  // The newest flow is at the bottom, in view.
  await page.waitForSelector(`.row[data-id="${N}"]`);
  await page.screenshot({ path: path.join(ARTIFACTS, "scale-01-first-page.png") });
});

test("2. status:5xx host:*.example.com is answered by the server; scrolling loads older pages", T, async () => {
  let want = 0;
  for (let i = 0; i < N; i++) if (matches(i)) want++;
  await setFilter("status:5xx host:*.example.com");
  const c = await waitCounts((c) => c.total === want, "filtered total");
  assert.ok(c.loaded < want, `a page (${c.loaded}) of ${want} matches`);
  const rows = await page.locator(".row[data-id]").evaluateAll((els) =>
    els.map((el) => ({ status: el.querySelector(".c-status").textContent, host: el.querySelector(".c-host").textContent })),
  );
  assert.ok(rows.length > 10, "rows are rendered");
  for (const r of rows) {
    assert.match(r.status, /^5\d\d$/, `status of ${JSON.stringify(r)}`);
    assert.match(r.host, /\.example\.com$/, `host of ${JSON.stringify(r)}`);
  }
  // Scroll up past the loaded rows: placeholders come into view and the next pages arrive.
  const list = page.locator("[data-testid=flow-list]");
  for (let pages = 2; pages <= 3; pages++) {
    const before = (await counts()).loaded;
    await list.evaluate((el) => (el.scrollTop = 0));
    const after = await waitCounts((c) => c.loaded > before, `page ${pages} after scrolling`);
    assert.equal(after.total, want);
  }
  // The scroll range covers every match, loaded or not.
  assert.ok((await list.evaluate((el) => el.scrollHeight)) >= want * 24, "the scroll range covers the total");
  await page.screenshot({ path: path.join(ARTIFACTS, "scale-02-filtered-paged.png") });
});

test("3. new matching traffic appears live, non-matching does not, and the list is not refetched", T, async () => {
  await setFilter(`status:503 port:${origin.port}`);
  await waitCounts((c) => c.total === 0, "empty filtered list");
  const fetched = flowRequests;
  const o = `http://127.0.0.1:${origin.port}`;
  await viaProxy(loupe.proxyPort, `${o}/status/200`);
  await viaProxy(loupe.proxyPort, `${o}/status/503`);
  await viaProxy(loupe.proxyPort, `${o}/status/500`);
  await viaProxy(loupe.proxyPort, `${o}/status/503?again`);
  const c = await waitCounts((c) => c.loaded === 2, "two live matches");
  assert.equal(c.total, 2);
  const statuses = await page.locator(".row[data-id] .c-status").allTextContents();
  assert.deepEqual(statuses, ["503", "503"]);
  // A moment later still two: the others never arrive.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await counts()).loaded, 2);
  assert.equal(flowRequests, fetched, "the filtered list was not refetched");
  await page.screenshot({ path: path.join(ARTIFACTS, "scale-03-live.png") });
});

test("4. after a restart on the same capture, the flows and the filtered list are back", T, async () => {
  await loupe.stop();
  loupe = await startLoupe(bin, path.join(work, "data"), ["-max-flows", "300000"]);
  await page.goto(`${loupe.ui}/?token=${loupe.token}`);
  await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
  // This run records into a new, empty session; the previous run's session
  // holds the 200,000 imported flows and the four of the live test.
  await setFilter("");
  await waitCounts((c) => c.total === 0, "the new recording session");
  const sessions = JSON.parse((await loupe.api("/api/sessions")).text);
  const previous = sessions.find((s) => s.flows === N + 4);
  assert.ok(previous, `a session with the ${N + 4} flows: ${JSON.stringify(sessions)}`);
  await page.selectOption("[data-testid=session-select]", String(previous.id));
  await waitCounts((c) => c.total === N + 4, "the previous session after the restart");
  let want = 0;
  for (let i = 0; i < N; i++) if (matches(i)) want++;
  await setFilter("status:5xx host:*.example.com");
  const c = await waitCounts((c) => c.total === want, "filtered total after the restart");
  assert.ok(c.loaded > 0 && c.loaded < want, `a page (${c.loaded}) of ${want} matches`);
  const statuses = await page.locator(".row[data-id] .c-status").allTextContents();
  assert.ok(statuses.length > 10 && statuses.every((s) => /^5\d\d$/.test(s)), `statuses ${statuses.slice(0, 5)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, "scale-04-restarted.png") });
});
