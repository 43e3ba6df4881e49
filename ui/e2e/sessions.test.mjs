// Browser tests of sessions against the real Loupe binary and its durable
// capture: record, start a new session, rename, pin, export, open the file
// again as a session, restart Loupe and find everything there. Screenshots
// go to test-results/e2e/ (not committed).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, startLoupe, startOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, bin, dataDir, loupe, origin, browser, ctx, page;
const T = { timeout: 90_000 };
const { test, shot, waitCount } = pageKit({ page: () => page, prefix: "sessions" });

/** login opens the dashboard of the running Loupe with its token. */
async function login() {
  await page.goto(`${loupe.ui}/?token=${loupe.token}`);
  await page.waitForURL((u) => !u.search.includes("token"), { timeout: 10_000 });
  await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
}

async function sessions() {
  const r = await loupe.api("/api/sessions");
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function flowsOf(id) {
  const r = await loupe.api(`/api/flows?session=${id}&limit=10000`);
  assert.equal(r.status, 200, r.text);
  return r.json.flows;
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-sessions-");
  bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  dataDir = path.join(work, "data");
  origin = await startOrigin();
  loupe = await startLoupe(bin, dataDir);
  browser = await launchBrowser();
  ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  ctx.setDefaultTimeout(15_000);
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.log("# page error:", e.message));
  await login();
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

const o = () => `http://127.0.0.1:${origin.port}`;
let first, second, exported;

test("1. flows recorded into the recording session; a new session takes over and the list switches", T, async () => {
  for (let i = 1; i <= 5; i++) await viaProxy(loupe.proxyPort, `${o()}/api/users/${i}`);
  await waitCount(5);
  const ss = await sessions();
  assert.equal(ss.length, 1);
  first = ss[0];
  assert.equal(first.recording, true);
  assert.equal(await page.textContent("[data-testid=session-name]"), first.name, "the bar says which session the list shows");
  await page.locator("[data-testid=session-bar] .badge.b-rec").waitFor();
  await shot("01-recording");

  await page.click("[data-testid=new-session]");
  await waitCount(0);
  await page.waitForFunction((name) => document.querySelector("[data-testid=session-name]")?.textContent !== name, first.name);
  await viaProxy(loupe.proxyPort, `${o()}/text/after-the-switch`);
  await viaProxy(loupe.proxyPort, `${o()}/status/404`);
  await waitCount(2);
  const now = await sessions();
  assert.equal(now.length, 2);
  second = now.find((s) => s.recording);
  assert.notEqual(second.id, first.id);
  assert.equal(now.find((s) => s.id === first.id).flows, 5, "the old session keeps its flows");
  // The old session is one choice away in the bar.
  await page.selectOption("[data-testid=session-select]", String(first.id));
  await waitCount(5);
  await page.locator("[data-testid=not-recording]").waitFor();
  await page.selectOption("[data-testid=session-select]", "all");
  await waitCount(7);
  await page.selectOption("[data-testid=session-select]", "");
  await waitCount(2);
  await shot("01-new-session");
});

test("2. the Sessions page lists both with their counts; rename and pin the old one", T, async () => {
  await page.click("[data-testid=sessions-tab]");
  const list = page.locator("[data-testid=session-list]");
  await list.waitFor();
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=session-row]").length === 2);
  const row = page.locator(`[data-testid=session-row][data-id="${first.id}"]`);
  assert.equal((await row.locator("[data-testid=session-row-flows]").textContent()).trim(), "5");
  await page.locator(`[data-testid=session-row][data-id="${second.id}"] .badge.b-rec`).waitFor();
  assert.equal(await page.locator(`[data-testid=session-row][data-id="${second.id}"] [data-testid=delete-session]`).isDisabled(), true, "the recording session cannot be deleted");

  await row.locator("[data-testid=rename]").click();
  await row.locator("[data-testid=rename-input]").fill("Before the fix");
  await row.locator("[data-testid=rename-input]").press("Enter");
  await row.locator("[data-testid=session-row-name]:has-text('Before the fix')").waitFor();
  await row.locator(".switch span").click();
  await page.waitForFunction((id) => document.querySelector(`[data-testid=session-row][data-id="${id}"] [data-testid=pin]`)?.checked === true, first.id);
  const ss = await sessions();
  const s = ss.find((x) => x.id === first.id);
  assert.equal(s.name, "Before the fix");
  assert.equal(s.pinned, true);
  await shot("02-sessions-page");
});

test("3. export the old session and open the file again: a new session whose flows match", T, async () => {
  const row = page.locator(`[data-testid=session-row][data-id="${first.id}"]`);
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 20_000 }), row.locator("[data-testid=export-session]").click()]);
  exported = path.join(ARTIFACTS, "session-export.loupe");
  await download.saveAs(exported);
  assert.match(download.suggestedFilename(), /Before the fix\.loupe$/);
  const lines = zlib.gunzipSync(fs.readFileSync(exported)).toString().trim().split("\n");
  assert.equal(JSON.parse(lines[0]).loupe, "session");
  assert.deepEqual(JSON.parse(lines.at(-1)), { end: { flows: 5 } });

  await page.setInputFiles("[data-testid=open-file-input]", exported);
  // Opening it shows it: the list switches to the new session.
  await waitCount(5);
  const ss = await sessions();
  assert.equal(ss.length, 3);
  const opened = ss.find((s) => s.id !== first.id && s.id !== second.id);
  assert.equal(opened.name, "Before the fix");
  assert.equal(opened.recording, false);
  assert.equal(opened.flows, 5);
  assert.equal(await page.textContent("[data-testid=session-name]"), "Before the fix");

  const a = await flowsOf(first.id);
  const b = await flowsOf(opened.id);
  assert.deepEqual(
    b.map((f) => [f.method, f.url, f.status, f.size, f.contentType]),
    a.map((f) => [f.method, f.url, f.status, f.size, f.contentType]),
  );
  for (let i = 0; i < a.length; i++) {
    const ra = await loupe.api(`/api/flows/${a[i].id}/response/body?raw=1`);
    const rb = await loupe.api(`/api/flows/${b[i].id}/response/body?raw=1`);
    assert.equal(rb.text, ra.text, `body of flow ${i}`);
  }
  await page.locator(".row[data-id]").first().click();
  await page.locator("[data-testid=detail] [data-testid=json-view]").waitFor();
  await shot("03-opened-file");
});

test("4. after a restart the sessions and their flows are there", { timeout: 120_000 }, async () => {
  const beforeRestart = await sessions();
  await loupe.stop();
  loupe = await startLoupe(bin, dataDir);
  await login();
  const ss = await sessions();
  for (const s of beforeRestart) {
    const now = ss.find((x) => x.id === s.id);
    assert.ok(now, `session ${s.name} survives`);
    assert.equal(now.name, s.name);
    assert.equal(now.pinned, s.pinned);
    assert.equal(now.flows, s.flows);
    assert.equal(now.recording, false, "a restart records into a new session");
  }
  const rec = ss.find((s) => s.recording);
  assert.ok(rec && !beforeRestart.some((s) => s.id === rec.id), "a new recording session");
  await waitCount(0);

  await page.click("[data-testid=sessions-tab]");
  await page.waitForFunction((n) => document.querySelectorAll("[data-testid=session-row]").length === n, ss.length);
  await shot("04-after-restart");
  await page.locator(`[data-testid=session-row][data-id="${first.id}"] [data-testid=session-row-name]`).click();
  await waitCount(5);
  assert.equal(await page.textContent("[data-testid=session-name]"), "Before the fix");
  const r = await loupe.api(`/api/flows/${(await flowsOf(first.id))[2].id}/response/body`);
  assert.match(r.text, /"User 3"/);
});

test("5. deleting a session removes it and its flows", T, async () => {
  await page.click("[data-testid=sessions-tab]");
  const ss = await sessions();
  const opened = ss.find((s) => s.name === "Before the fix" && s.id !== first.id);
  const row = page.locator(`[data-testid=session-row][data-id="${opened.id}"]`);
  await row.locator("[data-testid=delete-session]").click();
  await row.locator("[data-testid=confirm-delete]").click();
  await page.waitForFunction((id) => !document.querySelector(`[data-testid=session-row][data-id="${id}"]`), opened.id);
  assert.equal((await loupe.api(`/api/flows?session=${opened.id}`)).status, 404);
  assert.equal((await sessions()).length, ss.length - 1);
});
