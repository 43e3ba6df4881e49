// Browser tests of the "Browsers & hosts" page: the browsers Loupe found,
// "Open a browser" (Loupe starts one with a temporary profile and lists
// it), and the host mapping editor (saved to hosts.json, in force at once:
// a request through the proxy for the mapped name reaches the origin).
// Real binary, Debian's Chromium; screenshots go to test-results/e2e/.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, openDashboard, startLoupe, startOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, browser, page;
const T = { timeout: 60_000 };
const { test, setFilter, waitCount } = pageKit({ page: () => page, prefix: "modes" });

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-modes-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  // The browser Loupe starts must not leave the machine: every host but
  // 127.0.0.1 goes to a closed local port.
  loupe = await startLoupe(bin, path.join(work, "data"), ["-map-host", "127.0.0.1=127.0.0.1", "-map-host", "*.google.com=127.0.0.1:9", "-map-host", "*.googleapis.com=127.0.0.1:9"]);
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1280, height: 800 }, hash: "#modes", live: false });
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

test("1. the page lists the browsers found and the command line's mappings", T, async () => {
  await page.click("[data-testid=tab-modes]");
  await page.waitForSelector("[data-testid=browsers-panel]");
  const options = await page.locator("[data-testid=browser-select] option").allTextContents();
  assert.ok(options.some((o) => /chromium|chrome/i.test(o)), `the browser list names Chromium: ${options}`);
  const fixed = await page.locator("[data-testid=hostmap-panel] ul.fixed").textContent();
  assert.match(fixed, /\*\.google\.com.*127\.0\.0\.1:9/);
  await page.screenshot({ path: path.join(ARTIFACTS, "modes-page.png") });
});

test("2. a host mapping added in the dashboard is saved and in force at once", T, async () => {
  await page.click("[data-testid=hostmap-add]");
  const row = page.locator("[data-testid=hostmap-row]").last();
  await row.locator("input").nth(0).fill("api.mapped.test");
  await row.locator("input").nth(1).fill(`127.0.0.1:${origin.port}`);
  await page.click("[data-testid=hostmap-save]");
  await page.waitForSelector(".toast:has-text('Host mapping saved')");
  const saved = JSON.parse(fs.readFileSync(path.join(work, "data", "hosts.json"), "utf8"));
  assert.deepEqual(saved, [{ host: "api.mapped.test", to: `127.0.0.1:${origin.port}` }]);
  const r = await viaProxy(loupe.proxyPort, "http://api.mapped.test/mapped");
  assert.equal(r.status, 200);
  assert.match(r.body.toString(), /hello from \/mapped/);
  // The flow keeps the URL asked for and says where the mapping sent it.
  await page.click(".tabs.main a[href='#']");
  await setFilter("path:/mapped");
  await waitCount(1);
  await page.click(".row[data-id]");
  await page.locator("[data-testid=detail] .tabs button:has-text('Overview')").click();
  const sentTo = page.locator("[data-testid=detail] [data-testid=sent-to]");
  await sentTo.waitFor();
  assert.match(await sentTo.textContent(), new RegExp(`127\\.0\\.0\\.1:${origin.port} \\(host mapping\\)`));
  assert.match(await page.locator("[data-testid=detail] .durl").textContent(), /api\.mapped\.test\/mapped/);
  await setFilter("");
  await page.evaluate(() => (location.hash = "#modes"));
  await page.locator("[data-testid=hostmap-panel]").waitFor();

  // A bad address is refused with the server's words, and nothing changes.
  await page.click("[data-testid=hostmap-add]");
  const bad = page.locator("[data-testid=hostmap-row]").last();
  await bad.locator("input").nth(0).fill("bad.test");
  await bad.locator("input").nth(1).fill("http://nope");
  await page.click("[data-testid=hostmap-save]");
  const msg = await page.locator("[data-testid=hostmap-error]").textContent();
  assert.match(msg, /bad\.test/);
  const api = await loupe.api("/api/hostmap");
  assert.equal(JSON.parse(api.text).entries.length, 1);
});

test("3. Open a browser asks Loupe to start one, and it is listed", T, async () => {
  await page.click("[data-testid=open-browser]");
  await page.waitForSelector(".toast:has-text('through Loupe')");
  await page.waitForSelector("[data-testid=browsers-launched] tbody tr");
  const row = await page.locator("[data-testid=browsers-launched] tbody tr").first().textContent();
  assert.match(row, /chrom/i);
  await page.screenshot({ path: path.join(ARTIFACTS, "modes-launched.png") });
});
