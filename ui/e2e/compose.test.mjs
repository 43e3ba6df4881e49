// Browser tests of edit and send (compose) against the real Loupe binary: a
// captured flow opened in the editor, changed and sent; a pasted cURL
// command sent; the history; a bad URL answered at its field; "Break on
// this" prefilling a breakpoint rule. The origin records what it was sent.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, openDashboard, startLoupe, startRecordingOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, browser, page;
const T = { timeout: 60_000 };
const { test, shot, eventually, setFilter, waitCount } = pageKit({ page: () => page, prefix: "compose" });

/** seen holds what the origin received, in order. */
const seen = [];

/** headerRow finds the editor's header row named name (case-insensitive); -1 when absent. */
async function headerRow(name) {
  const names = await page.locator("[data-testid^=header-name-]").evaluateAll((els) => els.map((e) => e.value));
  return names.findIndex((n) => n.toLowerCase() === name.toLowerCase());
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-compose-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startRecordingOrigin({ seen, answer: (req) => ({ type: "application/json", body: JSON.stringify({ ok: true, path: req.url }) }) });
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1400, height: 900 }, permissions: ["clipboard-read", "clipboard-write"] });
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

const o = () => `http://127.0.0.1:${origin.port}`;

test("1. Edit and send: a changed header and body reach the origin; the new flow is linked to its original", T, async () => {
  const r = await viaProxy(loupe.proxyPort, `${o()}/orders?page=1`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Mode": "original" },
    body: JSON.stringify({ item: "tea", qty: 1 }),
  });
  assert.equal(r.status, 200);
  assert.equal(seen.length, 1);
  await setFilter("path:/orders*");
  const row = page.locator(".row[data-id]").first();
  await row.waitFor();
  const origID = Number(await row.getAttribute("data-id"));
  await row.click();
  await page.locator("[data-testid=edit-and-send]").click();
  await page.locator("[data-testid=compose]").waitFor();

  assert.equal(await page.inputValue("[data-testid=compose-method]"), "POST");
  assert.equal(await page.inputValue("[data-testid=compose-url]"), `${o()}/orders?page=1`);
  assert.equal(JSON.parse(await page.inputValue("[data-testid=compose-body]")).item, "tea");
  assert.equal(await headerRow("Host"), -1, "Host comes from the URL");
  assert.equal(await headerRow("Content-Length"), -1, "the length is computed");
  assert.match(await page.locator("[data-testid=compose-from]").textContent(), new RegExp(`#${origID}`));

  // Change a header, add one, change a query parameter and the body.
  const mode = await headerRow("X-Mode");
  assert.ok(mode >= 0, "the original header is in the editor");
  await page.fill(`[data-testid=header-value-${mode}]`, "edited");
  await page.click("[data-testid=compose-add-header]");
  const added = (await page.locator("[data-testid^=header-name-]").count()) - 1;
  await page.fill(`[data-testid=header-name-${added}]`, "X-Added");
  await page.fill(`[data-testid=header-value-${added}]`, "yes");
  await page.fill("[data-testid=query-value-0]", "2");
  assert.equal(await page.inputValue("[data-testid=compose-url]"), `${o()}/orders?page=2`);
  await page.fill("[data-testid=compose-body]", '{"item":"coffee","qty":3}');
  await page.click("[data-testid=compose-format-json]");
  assert.equal(await page.inputValue("[data-testid=compose-body]"), '{\n  "item": "coffee",\n  "qty": 3\n}');
  await shot("01-editor");
  await page.click("[data-testid=compose-send]");

  // The flows page shows the new flow, linked.
  const linked = page.locator("[data-testid=composed-from]");
  await page.locator("[data-testid=detail] .tabs button:has-text('Overview')").click();
  await linked.waitFor();
  assert.match(await linked.textContent(), new RegExp(`edited from #${origID}`));
  await eventually(() => seen.length === 2, "the origin got the edited request");
  const got = seen[1];
  assert.equal(got.method, "POST");
  assert.equal(got.url, "/orders?page=2");
  assert.equal(got.headers["x-mode"], "edited");
  assert.equal(got.headers["x-added"], "yes");
  assert.equal(got.headers["content-type"], "application/json");
  assert.equal(got.body, '{\n  "item": "coffee",\n  "qty": 3\n}');
  assert.equal(Number(got.headers["content-length"]), Buffer.byteLength(got.body), "Loupe computed the length");

  const list = await loupe.api("/api/flows?q=" + encodeURIComponent("path:/orders*"));
  const newest = list.json.flows.at(-1);
  assert.equal(newest.composed, true);
  assert.equal(newest.composedFrom, origID);
  await setFilter("path:/orders*");
  await page.locator(`.row[data-id="${newest.id}"] .badge.b-composed`).waitFor();
  await shot("01-sent");

  // The original's menu lists the requests made from it.
  await page.locator(`.row[data-id="${origID}"]`).click({ button: "right" });
  await page.click("[data-testid=menu-made-from]");
  const made = `replay:${origID} or composed:${origID}`;
  await eventually(async () => (await page.inputValue("[data-testid=filter]")) === made, "the filter box shows the query");
  await waitCount(1);
  assert.equal(Number(await page.locator(".row[data-id]").first().getAttribute("data-id")), newest.id);
});

test("2. Paste cURL: a browser's command becomes a request; it is sent and kept in the history", T, async () => {
  await page.click("[data-testid=nav-compose]");
  await page.click("[data-testid=compose-paste]");
  const cmd = `curl '${o()}/pasted?x=1' \\\n  -H 'accept: application/json' \\\n  -H $'x-pasted: it\\'s here' \\\n  --data-raw 'a=1&b=two' \\\n  --compressed`;
  await page.fill("[data-testid=paste-text]", cmd);
  await page.click("[data-testid=paste-create]");
  assert.equal(await page.inputValue("[data-testid=compose-url]"), `${o()}/pasted?x=1`);
  assert.equal(await page.inputValue("[data-testid=compose-method]"), "POST");
  assert.equal(await page.inputValue("[data-testid=compose-body]"), "a=1&b=two");
  await shot("02-pasted");

  // Copy as cURL gives the edited request back.
  await page.click("[data-testid=compose-curl]");
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(clip, /^curl /);
  assert.ok(clip.includes(`${o()}/pasted?x=1`) && clip.includes("--data-raw 'a=1&b=two'") && clip.includes("x-pasted: it'\\''s here"), clip);

  const before = seen.length;
  await page.click("[data-testid=compose-send]");
  await eventually(() => seen.length === before + 1, "the origin got the pasted request");
  const got = seen.at(-1);
  assert.equal(got.method, "POST");
  assert.equal(got.url, "/pasted?x=1");
  assert.equal(got.headers["x-pasted"], "it's here");
  assert.equal(got.headers["content-type"], "application/x-www-form-urlencoded");
  assert.equal(got.body, "a=1&b=two");
  await page.locator("[data-testid=detail]").waitFor();

  // The history lists both sent requests, newest first, and reopens one.
  await page.click("[data-testid=nav-compose]");
  const entries = page.locator("[data-testid=compose-history] li");
  await eventually(async () => (await entries.count()) === 2, "two history entries");
  assert.match(await entries.first().textContent(), /pasted\?x=1/);
  await entries.nth(1).locator(".hentry").click();
  await eventually(async () => (await page.inputValue("[data-testid=compose-url]")) === `${o()}/orders?page=2`, "the older request reopened");
  assert.equal(await page.inputValue("[data-testid=compose-body]"), '{\n  "item": "coffee",\n  "qty": 3\n}');
});

test("3. a bad URL is shown at its field; a bad cURL command says why", T, async () => {
  await page.click("[data-testid=compose-new]");
  await page.fill("[data-testid=compose-url]", "ftp://files.test/x");
  await page.click("[data-testid=compose-send]");
  const alert = page.locator(".cedit .fprob[role=alert]");
  await alert.waitFor();
  assert.match(await alert.textContent(), /only http and https/);
  assert.match(await page.getAttribute("[data-testid=compose-url]", "class"), /\bbad\b/);

  await page.click("[data-testid=compose-paste]");
  await page.fill("[data-testid=paste-text]", "curl -F file=@photo.jpg https://x.test/upload");
  await page.click("[data-testid=paste-create]");
  assert.match(await page.locator("[data-testid=paste-error]").textContent(), /multipart/);
  await page.keyboard.press("Escape");
});

test("4. Break on this opens the rule editor with a breakpoint for the flow", T, async () => {
  await page.click("a[href='#']");
  await setFilter("path:/pasted*");
  const row = page.locator(".row[data-id]").first();
  await row.waitFor();
  await row.click();
  await page.click("[data-testid=break-on-this]");
  await page.locator("[data-testid=rule-editor]").waitFor();
  assert.equal(await page.inputValue("[data-testid=match-host]"), "127.0.0.1");
  assert.equal(await page.inputValue("[data-testid=match-port]"), String(origin.port));
  assert.equal(await page.inputValue("[data-testid=match-path]"), "/pasted?x=1");
  assert.equal(await page.inputValue("[data-testid=breakpoint-phase]"), "request");
  assert.equal(await page.inputValue("[data-testid=breakpoint-timeout]"), "60000");
  assert.equal(await page.inputValue("[data-testid=breakpoint-ontimeout]"), "continue");
  await shot("04-break-on-this");
  await page.keyboard.press("Escape");
  await page.locator("[data-testid=rule-editor]").waitFor({ state: "detached" });
});

test("5. a breakpoint rule lets a composed request pass unless the editor says it may hold it", T, async () => {
  const rule = await loupe.api("/api/rules", {
    method: "POST",
    body: { name: "break composed", enabled: true, match: { host: "127.0.0.1", port: origin.port, path: "/held-compose*" }, actions: [{ type: "breakpoint", phase: "request", timeoutMs: 60000, onTimeout: "continue", hits: 0 }] },
  });
  assert.equal(rule.status, 201, `add rule: ${rule.text}`);
  try {
    const sendTo = async (p) => {
      await page.click("[data-testid=nav-compose]");
      await page.click("[data-testid=compose-new]");
      await page.fill("[data-testid=compose-url]", `${o()}${p}`);
      await page.click("[data-testid=compose-send]");
      await page.locator("[data-testid=detail]").waitFor();
    };
    const before = seen.length;
    await sendTo("/held-compose/passes");
    await eventually(() => seen.length === before + 1, "the composed request passed the breakpoint");
    assert.equal(Number(await page.locator("[data-testid=held-count]").textContent()), 0);

    await page.click("[data-testid=nav-compose]");
    await page.check("[data-testid=compose-breakpoints]");
    await sendTo("/held-compose/held");
    await eventually(async () => Number(await page.locator("[data-testid=held-count]").textContent()) === 1, "the composed request is held");
    assert.equal(seen.length, before + 1, "the held request has not reached the origin");
    const held = await loupe.api("/api/held");
    assert.match(JSON.stringify(held.json), /held-compose\/held/);
  } finally {
    await loupe.api("/api/held/abort-all", { method: "POST", body: {} });
    await loupe.api(`/api/rules/${encodeURIComponent(rule.json.id)}`, { method: "DELETE" });
    await page.click("[data-testid=nav-compose]");
    await page.uncheck("[data-testid=compose-breakpoints]");
  }
});
