// Browser tests of marks, colours and comments on flows against the real
// Loupe binary (durable capture): mark and colour from the list's keyboard
// and context menu, comment from the detail pane, filter by them, reload
// the page and find them all again. Screenshots go to test-results/e2e/
// (not committed).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, startLoupe, startOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, browser, ctx, page;
const T = { timeout: 90_000 };
const { test, shot, setFilter, waitCount, eventually } = pageKit({ page: () => page, prefix: "marks" });
const ids = {};

async function login() {
  await page.goto(`${loupe.ui}/?token=${loupe.token}`);
  await page.waitForURL((u) => !u.search.includes("token"), { timeout: 10_000 });
  await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
}

async function annotationOf(id) {
  const r = await loupe.api(`/api/flows/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json.annotation ?? {};
}

const row = (id) => page.locator(`.row[data-id="${id}"]`);

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-marks-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctx.setDefaultTimeout(15_000);
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.log("# page error:", e.message));
  await login();
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

test("1. the list marks and colours a flow from the keyboard and from its context menu", T, async () => {
  const o = `http://127.0.0.1:${origin.port}`;
  for (const p of ["/api/users/1", "/api/users/2", "/api/users/3", "/status/404"]) await viaProxy(loupe.proxyPort, o + p);
  await waitCount(4);
  const r = await loupe.api("/api/flows");
  for (const f of r.json.flows) ids[f.path] = f.id;

  await row(ids["/api/users/2"]).click();
  await page.locator("[data-testid=flow-list]").focus();
  await page.keyboard.press("m");
  await row(ids["/api/users/2"]).locator("[data-testid=row-mark]").waitFor();
  await page.keyboard.press("2");
  await row(ids["/api/users/2"]).locator("[data-testid=row-color][data-color=orange]").waitFor();
  assert.deepEqual(await annotationOf(ids["/api/users/2"]), { marked: true, color: "orange" });

  await row(ids["/api/users/3"]).click({ button: "right" });
  await page.locator("[data-testid=row-menu] [data-testid=color-blue]").click();
  await row(ids["/api/users/3"]).locator("[data-testid=row-color][data-color=blue]").waitFor();
  await row(ids["/api/users/3"]).click({ button: "right" });
  await page.locator("[data-testid=menu-mark]").click();
  await row(ids["/api/users/3"]).locator("[data-testid=row-mark]").waitFor();
  assert.equal(await page.locator("[data-testid=row-menu]").count(), 0, "the menu closes after a choice");
  await shot("01-marked");
});

test("2. the detail pane writes a comment, and its controls match the list", T, async () => {
  const id = ids["/api/users/2"];
  await row(id).click();
  const pane = page.locator("[data-testid=detail] [data-testid=annotation]");
  await pane.locator("[data-testid=mark][aria-pressed=true]").waitFor();
  await pane.locator("[data-testid=color-orange][aria-pressed=true]").waitFor();
  await pane.locator("[data-testid=add-comment]").click();
  await pane.locator("[data-testid=comment-input]").fill("Token expired here:\nthe retry storm starts");
  await page.keyboard.press("Control+Enter");
  await pane.locator("[data-testid=comment-text]").waitFor();
  await row(id).locator("[data-testid=row-comment]").waitFor();
  assert.equal((await annotationOf(id)).comment, "Token expired here:\nthe retry storm starts");

  // Unmark from the pane: the list follows.
  await pane.locator("[data-testid=mark]").click();
  await eventually(async () => (await row(id).locator("[data-testid=row-mark]").count()) === 0, "the row loses its star");
  await pane.locator("[data-testid=mark]").click();
  await row(id).locator("[data-testid=row-mark]").waitFor();
  await shot("02-comment");
});

test("3. the filter finds marked, coloured and commented flows", T, async () => {
  for (const [q, n] of [
    ["marked:", 2],
    ["-marked:", 2],
    ["color:orange", 1],
    ["color:", 2],
    ['comment:"retry storm"', 1],
    ["marked: -color:blue", 1],
  ]) {
    await setFilter(q);
    await waitCount(n);
  }
  await setFilter("color:orange");
  await waitCount(1);
  assert.equal(await page.locator(`.row[data-id="${ids["/api/users/2"]}"]`).count(), 1);
  await shot("03-filtered");
  await setFilter("");
  await waitCount(4);
});

test("4. after a reload the marks, colours and comment are still there", T, async () => {
  await page.reload();
  await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
  await waitCount(4);
  await row(ids["/api/users/2"]).locator("[data-testid=row-color][data-color=orange]").waitFor();
  await row(ids["/api/users/3"]).locator("[data-testid=row-color][data-color=blue]").waitFor();
  assert.equal(await page.locator("[data-testid=row-mark]").count(), 2);
  assert.equal(await page.locator("[data-testid=row-comment]").count(), 1);
  await row(ids["/api/users/2"]).click();
  await page.locator("[data-testid=detail] [data-testid=comment-text]").waitFor();
  assert.match(await page.textContent("[data-testid=detail] [data-testid=comment-text]"), /retry storm/);
  await setFilter("marked: comment:token");
  await waitCount(1);
  await shot("04-after-reload");
});
