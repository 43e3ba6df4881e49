// Browser tests of the dashboard against the real Loupe binary: a real proxy
// and dashboard on 127.0.0.1, a real origin, Debian's Chromium. Screenshots go
// to test-results/e2e/ (not committed).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, harOf, launchBrowser, pool, startLoupe, startOrigin, stopAll, tmpDir, viaProxy, withTimeout, wsExchange } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, browser, page;
const T = { timeout: 60_000 };
const { test, shot, eventually, setFilter, flowCount, waitCount } = pageKit({ page: () => page, prefix: "", eventuallyMs: 5000 });

before(async () => {
  // Several test files share the folder: each writes its own names.
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-");
  // LOUPE_BIN runs an already built binary instead of building ./cmd/loupe.
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  ctx.setDefaultTimeout(15_000);
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.log("# page error:", e.message));
  if (process.env.E2E_DEBUG) {
    page.on("request", (r) => r.url().includes("/api/flows/") && console.log("# req", r.method(), r.url()));
    page.on("requestfinished", (r) => r.url().includes("/api/flows/") && console.log("# done", r.url()));
    page.on("requestfailed", (r) => console.log("# failed", r.url(), r.failure()?.errorText));
    page.on("console", (m) => console.log("# console", m.type(), m.text()));
  }
  await page.goto(`${loupe.ui}/?token=${loupe.token}`);
  await page.waitForURL((u) => !u.search.includes("token"), { timeout: 10_000 });
  await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

const o = () => `http://127.0.0.1:${origin.port}`;
const lo = () => `http://localhost:${origin.port}`;

test("1. fifty requests through the proxy appear live without a reload", T, async () => {
  await page.evaluate(() => (window.__noReload = true));
  const urls = [];
  for (let i = 1; i <= 25; i++) urls.push(`${o()}/api/users/${i}`);
  for (let i = 0; i < 10; i++) urls.push(`${lo()}/status/404?i=${i}`);
  for (let i = 0; i < 5; i++) urls.push(`${lo()}/status/500?i=${i}`);
  urls.push(`${o()}/page.html`, `${o()}/app.js`, `${o()}/style.css`, `${o()}/image.png`, `${o()}/blob`);
  for (let i = 0; i < 5; i++) urls.push(`${o()}/text/${i}`);
  assert.equal(urls.length, 50);
  const res = await pool(urls, 8, (u) => viaProxy(loupe.proxyPort, u));
  assert.ok(res.every((r) => r.headers["x-origin"] === "loupe-e2e"), "every request reached the origin");
  await waitCount(50);
  assert.equal(await page.evaluate(() => window.__noReload), true, "the page was not reloaded");
  assert.equal(await page.locator(".row[data-id]").count() > 20, true, "rows are rendered");
  await shot("01-live-list");
});

test("2. filtering by status and host narrows the list; a bad filter shows its error", T, async () => {
  await setFilter("status:404");
  await waitCount(10);
  const statuses = await page.locator(".row[data-id] .c-status").allTextContents();
  assert.ok(statuses.length > 0 && statuses.every((s) => s === "404"), `all rows 404: ${statuses}`);
  await setFilter("host:localhost");
  await waitCount(15);
  await setFilter("host:localhost status:5xx");
  await waitCount(5);
  await shot("02-filtered");
  await setFilter("status:404 nope:x");
  const err = page.locator("[data-testid=filter-error]");
  await err.waitFor();
  assert.match(await err.textContent(), /nope/);
  await shot("02-filter-error");
  await setFilter("");
  await waitCount(50);
  assert.equal(await err.count(), 0, "the error goes away with a good filter");
  // Sorting by a column header, and back.
  await page.click(".row.head .c-status");
  await page.waitForFunction(() => document.querySelector("[data-testid=flow-list] .row[data-id] .c-status")?.textContent === "200");
  await page.click(".row.head .c-status");
  await page.waitForFunction(() => document.querySelector("[data-testid=flow-list] .row[data-id] .c-status")?.textContent === "500");
  await page.click(".row.head .c-id");
  await page.waitForFunction(() => document.querySelector(".row.head .c-id.sorted")?.textContent.includes("▲"));
  // A quick toggle edits the query.
  await page.click(".toggles button:has-text('JSON')");
  await waitCount(25);
  assert.equal(await page.inputValue("[data-testid=filter]"), "type:json");
  await page.click(".toggles button:has-text('JSON')");
  await waitCount(50);
});

test("3. a JSON flow shows its fields in the pretty viewer and its headers", T, async () => {
  await setFilter("path:/api/users/3");
  await waitCount(1);
  await page.click(".row[data-id]");
  const json = page.locator("[data-testid=detail] [data-testid=json-view]");
  await json.waitFor();
  const text = await json.textContent();
  for (const want of ['"name"', '"User 3"', '"roles"', '"city"', '"Lyon"']) assert.ok(text.includes(want), `JSON view shows ${want}: ${text}`);
  const headers = await page.locator("[data-testid=response-headers]").textContent();
  assert.match(headers, /Content-Type/i);
  assert.match(headers, /X-Origin\s*loupe-e2e/i);
  await shot("03-json-detail");
  await page.click(".tabs button:has-text('Request')");
  await page.locator("[data-testid=request-headers]").waitFor();
  await page.click(".tabs button:has-text('Overview')");
  await page.locator("[data-testid=waterfall], .overview").first().waitFor();
  await shot("03-overview");
  await page.click(".tabs button:has-text('Response')");

  // An image shows as an image, binary as a hex dump, HTML highlighted.
  await setFilter("path:/image.png");
  await waitCount(1);
  await page.click(".row[data-id]");
  await page.waitForFunction(() => document.querySelector("[data-testid=detail] .imageview img")?.naturalWidth === 2);
  await setFilter("path:/blob");
  await waitCount(1);
  await page.click(".row[data-id]");
  const hex = page.locator("[data-testid=detail] [data-testid=hex-view]");
  await hex.waitFor();
  assert.match(await hex.textContent(), /^00000000  00 25 4a 6f 94 b9 de 03/);
  await setFilter("path:/page.html");
  await waitCount(1);
  await page.click(".row[data-id]");
  await page.locator("[data-testid=detail] pre.code[data-lang=html] .tk-t").first().waitFor();
  await shot("03-html");
});

test("4. 'Override this response' serves the edited body; both bodies stay viewable", T, async () => {
  const url = `${o()}/api/users/3`;
  await setFilter("path:/api/users/3");
  await waitCount(1);
  await page.click(".row[data-id]");
  await page.locator("[data-testid=detail] [data-testid=json-view]").waitFor();
  await page.click("[data-testid=override]");
  const editor = page.locator("[data-testid=rule-editor]");
  await editor.waitFor();
  assert.equal(await page.inputValue("[data-testid=match-host]"), "127.0.0.1");
  assert.equal(await page.inputValue("[data-testid=match-path]"), "/api/users/3");
  const newBody = JSON.stringify({ id: 3, name: "Overridden by Loupe" });
  await page.fill("[data-testid=action-body]", newBody);
  await shot("04-rule-editor");
  await page.click("[data-testid=save-rule]");
  await editor.waitFor({ state: "detached" });

  const r = await viaProxy(loupe.proxyPort, url);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), newBody, "the next request gets the new body");

  await waitCount(2);
  const newest = page.locator(".row[data-id]").last();
  await newest.locator(".badge.b-override").waitFor();
  await newest.click();
  const json = page.locator("[data-testid=detail] [data-testid=json-view]");
  await page.locator("[data-testid=variant-switch]").waitFor();
  await page.waitForFunction(() => document.querySelector("[data-testid=detail] [data-testid=json-view]")?.textContent.includes("Overridden by Loupe"));
  await shot("04-served-body");
  await page.click("[data-testid=variant-switch] button:has-text('Upstream')");
  await page.waitForFunction(() => document.querySelector("[data-testid=detail] [data-testid=json-view]")?.textContent.includes('"User 3"'));
  assert.ok((await json.textContent()).includes('"Lyon"'));
  await shot("04-upstream-body");
  await setFilter("");
  await waitCount(51);
  await page.click("[data-testid=variant-switch] button:has-text('Served')");
  await page.waitForFunction(() => document.querySelector("[data-testid=detail] [data-testid=json-view]")?.textContent.includes("Overridden by Loupe"));
  await page.waitForFunction(() => !document.querySelector(".toast"), null, { timeout: 8000 });
  await shot("dashboard");
});

test("5. HAR export downloads a file that parses and holds the flows; importing it back after a clear restores them", T, async () => {
  await setFilter("");
  await page.waitForFunction(() => !document.querySelector("[data-testid=rule-editor]"));
  const shown = await flowCount();
  await page.click("[data-testid=export-menu]");
  assert.equal(await page.isChecked("[data-testid=secrets]"), false, "secrets are off by default");
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 20_000 }), page.click("[data-testid=export]")]);
  const file = path.join(ARTIFACTS, "export.har");
  await download.saveAs(file);
  const text = fs.readFileSync(file, "utf8");
  let har;
  assert.doesNotThrow(() => (har = JSON.parse(text)), `export parses as JSON: ${text.slice(0, 200)}`);
  const entries = har.log.entries;
  assert.equal(entries.length, shown, "the HAR holds every flow");
  assert.ok(entries.some((e) => e.request.url === `${o()}/api/users/3`));
  assert.ok(entries.some((e) => e.response.status === 404));

  await page.click("[data-testid=clear]");
  await waitCount(0);
  await page.setInputFiles("[data-testid=import-file]", file);
  await waitCount(entries.length);
  const sel = page.locator(".row[data-id]").first();
  await sel.locator(".badge.b-imported").waitFor();
  await shot("05-imported");

  // Dropping the file on the page imports it too.
  await page.click("[data-testid=clear]");
  await waitCount(0);
  await page.evaluate((text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], "dropped.har", { type: "application/json" }));
    const target = document.querySelector(".app");
    target.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, text);
  await waitCount(entries.length);
});

test("6. 20,000 flows: scroll to the end, select the last row; the page stays responsive", { timeout: 180_000 }, async () => {
  await setFilter("");
  await page.click("[data-testid=clear]");
  await waitCount(0);
  const N = 20_000;
  const har = JSON.stringify(harOf(N, origin.port));
  const t0 = Date.now();
  const imp = await loupe.api("/api/flows/import", { method: "POST", body: har, headers: { "Content-Type": "application/json" }, timeout: 60_000 });
  if (imp.status >= 300) {
    // No importer: push the flows through the proxy instead.
    console.log(`# import answered ${imp.status}; sending ${N} requests through the proxy`);
    const idx = Array.from({ length: N }, (_, i) => i);
    await withTimeout(pool(idx, 32, (i) => viaProxy(loupe.proxyPort, `${o()}/bulk/${i}`)), 150_000, "20,000 requests");
  }
  await waitCount(N, 90_000);
  console.log(`# 20,000 flows listed in ${Date.now() - t0} ms`);

  // Scroll to the end through the list and measure the frames.
  const frames = await page.evaluate(async () => {
    const el = document.querySelector("[data-testid=flow-list]");
    el.scrollTop = 0;
    const times = [];
    let last = performance.now();
    for (let i = 0; i <= 40; i++) {
      el.scrollTop = (el.scrollHeight * i) / 40;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    return times;
  });
  const worst = Math.max(...frames);
  console.log(`# scroll frames: worst ${worst.toFixed(1)} ms, median ${frames.sort((a, b) => a - b)[frames.length >> 1].toFixed(1)} ms`);
  assert.ok(worst < 1000, `scrolling stays responsive (worst frame ${worst} ms)`);
  assert.ok((await page.locator(".row[data-id]").count()) < 200, "rows are virtualized");

  await page.focus("[data-testid=flow-list]");
  await page.keyboard.press("End");
  const last = page.locator(".row.sel");
  await last.waitFor();
  const lastId = Number(await last.getAttribute("data-id"));
  const ids = await page.locator(".row[data-id]").evaluateAll((rows) => rows.map((r) => Number(r.dataset.id)));
  assert.equal(lastId, Math.max(...ids), "End selects the last row");
  await page.waitForFunction(() => /\/bulk\/19999$/.test(document.querySelector("[data-testid=detail] .url")?.textContent ?? ""), null, { timeout: 15_000 });
  await page.keyboard.press("ArrowUp");
  await page.waitForFunction(() => /\/bulk\/19998$/.test(document.querySelector("[data-testid=detail] .url")?.textContent ?? ""), null, { timeout: 15_000 });
  // A click answers quickly with 20,000 rows loaded.
  const t1 = Date.now();
  await page.click(".tabs button:has-text('Overview')");
  await page.locator(".overview").waitFor();
  assert.ok(Date.now() - t1 < 2000, "the page answers a click within 2 s");
  await shot("06-20k-flows");
  await page.keyboard.press("Escape");
  await page.locator("[data-testid=detail]").waitFor({ state: "detached" });
});

test("7. rules page: the override rule with its count; server problems shown at their fields; dark mode", T, async () => {
  const r = await viaProxy(loupe.proxyPort, `${o()}/api/users/3`);
  assert.match(r.body.toString(), /Overridden by Loupe/);
  await page.click(".tabs.main a[href='#rules']");
  const list = page.locator("[data-testid=rule-list]");
  await list.waitFor();
  assert.match(await list.textContent(), /Override GET 127\.0\.0\.1\/api\/users\/3/);
  await page.waitForFunction(() => /^1 flow$/.test(document.querySelector("[data-testid=rule-list] .rcount")?.textContent ?? ""), null, { timeout: 10_000 });
  await shot("07-rules");

  // An invalid rule: the server's problem appears next to its field and nothing is saved.
  await page.click("[data-testid=new-rule]");
  await page.fill("[data-testid=match-host]", "bad.test");
  await page.fill("[data-testid=action-status]", "2000");
  await page.click("[data-testid=save-rule]");
  const prob = page.locator("[data-testid=action-0] .field.bad .fprob");
  await prob.waitFor();
  assert.match(await prob.textContent(), /100/);
  await shot("07-rule-problem");
  await page.keyboard.press("Escape");
  await page.locator("[data-testid=rule-editor]").waitFor({ state: "detached" });
  const rules = await loupe.api("/api/rules");
  assert.equal(rules.json.length, 1, "the invalid rule was not saved");

  // A rule added elsewhere shows up live; reorder with the buttons; toggle one off.
  const add = await loupe.api("/api/rules", { method: "POST", body: { id: "slow", name: "Slow everything", enabled: true, match: {}, actions: [{ type: "delay", ms: 1 }] } });
  assert.equal(add.status < 300, true, `rule added: ${add.text}`);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=rule-list] li").length === 2);
  await page.click("[data-testid=rule-list] li:nth-child(2) button[title='Move up']");
  await page.waitForFunction(() => document.querySelector("[data-testid=rule-list] li .rname")?.textContent?.startsWith("Slow everything"));
  // The list moves at once; the server has the new order once the PUT lands.
  await eventually(async () => (await loupe.api("/api/rules")).json[0]?.id === "slow", "reordered on the server");
  await page.click("[data-testid=rule-list] li:nth-child(1) .switch span");
  await eventually(async () => (await loupe.api("/api/rules")).json.find((r) => r.id === "slow")?.enabled === false, "rule toggled off on the server");
  await loupe.api("/api/rules/slow", { method: "DELETE" });
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=rule-list] li").length === 1);
  await page.emulateMedia({ colorScheme: "dark" });
  await shot("07-rules-dark");
  await page.click(".tabs.main a[href='#']");
  await page.locator("[data-testid=flow-list]").waitFor();
  await shot("07-flows-dark");
  await page.emulateMedia({ colorScheme: "light" });
});

test("8. a WebSocket flow lists its messages with direction and time", T, async () => {
  await page.click(".tabs.main a[href='#']");
  await page.locator("[data-testid=flow-list]").waitFor();
  const echoes = await wsExchange(loupe.proxyPort, `ws://127.0.0.1:${origin.port}/ws`, ["hello 1", "hello 2"]);
  assert.deepEqual(echoes, ["echo: hello 1", "echo: hello 2"]);
  await setFilter("ws:");
  await waitCount(1);
  const row = page.locator(".row[data-id]").first();
  await row.locator(".badge.b-ws").waitFor();
  await row.click();
  await page.click("[data-testid=detail] .tabs button:has-text('Messages')");
  const msgs = page.locator("[data-testid=ws-messages]");
  await msgs.waitFor();
  await page.waitForFunction(() => (document.querySelector("[data-testid=ws-messages]")?.textContent ?? "").includes("echo: hello 2"));
  const text = await msgs.textContent();
  assert.match(text, /hello 1/);
  assert.ok((await page.locator("[data-testid=ws-messages] td.dir.send").count()) >= 2, "sent messages marked");
  assert.ok((await page.locator("[data-testid=ws-messages] td.dir.receive").count()) >= 2, "received messages marked");
  await shot("08-websocket");
  await setFilter("");
});

test("9. auto-scroll stops when the user scrolls up; a large body loads only on request", T, async () => {
  await setFilter("");
  await page.waitForFunction(() => Number(document.querySelector("[data-testid=flow-count]").textContent.split(" ")[0].replace(/[,.\u202f\u00a0]/g, "")) > 20_000);
  const list = page.locator("[data-testid=flow-list]");
  // The user scrolls to the top, and again if the list was still following
  // (an update that lands before the scroll event takes the list back down,
  // as it would for a person).
  await eventually(
    () =>
      list.evaluate(async (el) => {
        el.scrollTop = 0;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 100))));
        return el.scrollTop === 0;
      }),
    "the list stays at the top once scrolled there",
  );
  const before = await flowCount();
  await viaProxy(loupe.proxyPort, `${o()}/big`);
  await waitCount(before + 1);
  assert.equal(await list.evaluate((el) => el.scrollTop), 0, "the list stays where the user put it");
  await page.click("button:has-text('Follow newest')");
  await page.waitForFunction(() => {
    const el = document.querySelector("[data-testid=flow-list]");
    return el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
  });
  await viaProxy(loupe.proxyPort, `${o()}/text/after-follow`);
  await waitCount(before + 2);
  await page.waitForFunction(() => /\/text\/after-follow/.test(document.querySelector("[data-testid=flow-list] .row[data-id]:last-child .c-path")?.textContent ?? ""));

  await page.locator(".row[data-id] .c-path:text-is('/big')").click();
  const lazy = page.locator("[data-testid=detail] .lazy");
  await lazy.waitFor();
  assert.match(await lazy.textContent(), /2\.1 MB/);
  const dl = page.locator("[data-testid=detail] .bodybar a:has-text('Download')");
  assert.match(await dl.getAttribute("href"), /\/response\/body$/);
  await lazy.locator("button").click();
  await page.locator("[data-testid=detail] pre.code").waitFor();
  await shot("09-large-body");
});

test("10. pausing recording stops new flows from appearing; resuming brings them back", T, async () => {
  const rec = page.locator("[data-testid=record]");
  await rec.click();
  await page.waitForFunction(() => document.querySelector("[data-testid=record]")?.textContent.includes("Paused"));
  const before = await flowCount();
  const r = await viaProxy(loupe.proxyPort, `${o()}/text/while-paused`);
  assert.equal(r.status, 200, "traffic still flows while paused");
  await page.waitForTimeout(500);
  assert.equal(await flowCount(), before, "nothing recorded while paused");
  await shot("10-paused");
  await rec.click();
  await page.waitForFunction(() => document.querySelector("[data-testid=record]")?.textContent.includes("Recording"));
  await viaProxy(loupe.proxyPort, `${o()}/text/after-resume`);
  await waitCount(before + 1);
});

test("11. replay sends the request again as a new, badged flow; delete removes a flow", T, async () => {
  await viaProxy(loupe.proxyPort, `${o()}/api/users/7`);
  await setFilter("path:/api/users/7");
  await waitCount(1);
  await page.click(".row[data-id]");
  await page.locator("[data-testid=detail] [data-testid=json-view]").waitFor();
  await page.click("[data-testid=detail] button:has-text('Replay')");
  await waitCount(2);
  const replay = page.locator(".row[data-id]").last();
  await replay.locator(".badge.b-replay").waitFor();
  await replay.click();
  await page.waitForFunction(() => document.querySelector("[data-testid=detail] [data-testid=json-view]")?.textContent.includes('"User 7"'));
  await shot("11-replay");
  await page.click("[data-testid=detail] button:has-text('Delete')");
  await waitCount(1);
  const flows = await loupe.api("/api/flows?q=" + encodeURIComponent("path:/api/users/7"));
  assert.equal(flows.json.flows.length, 1, "the server deleted it too");
  await setFilter("");
});

test("12. a filter typed right after another was applied is the one that stays", T, async () => {
  await viaProxy(loupe.proxyPort, `${o()}/text/typed-filter`);
  await setFilter("");
  // Apply one filter, and type the next in the same moment, before the
  // page has painted: the bar must not take the first one's arrival for
  // a filter set elsewhere and wipe what was typed since.
  await page.evaluate(async () => {
    const box = document.querySelector("[data-testid=filter]");
    const type = (v) => {
      box.value = v;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    };
    const enter = () => box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    const paint = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    type("path:/no-such-path");
    enter();
    await new Promise((r) => setTimeout(r, 0)); // the bar applies the first filter
    type("path:/text/typed-filter"); // typed before the page painted
    await paint();
    enter();
  });
  await eventually(async () => (await page.inputValue("[data-testid=filter]")) === "path:/text/typed-filter", "the typed filter stays in the box");
  await eventually(
    async () => (await flowCount()) === 1 && (await page.locator(".row[data-id] .c-path").first().textContent()) === "/text/typed-filter",
    "the list shows the typed filter's one flow",
  );
  assert.equal(await page.inputValue("[data-testid=filter]"), "path:/text/typed-filter");
  await setFilter("");
});
