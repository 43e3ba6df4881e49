// Browser tests of rules a user can trust: a rule that matches all traffic is
// saved or enabled only after the dashboard asked; an override that only
// changes the status keeps the origin's body; a block's body is editable; a
// banner above the flow list says which rules are on; a WebSocket flow offers
// no response override. Real binary, real origin on 127.0.0.1, Debian's
// Chromium; screenshots go to test-results/e2e/.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, openDashboard, startLoupe, startOrigin, stopAll, tmpDir, viaProxy, wsExchange } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, browser, page;
const T = { timeout: 60_000 };
const { test, shot, eventually, setFilter, waitCount } = pageKit({ page: () => page, prefix: "rules-trust", eventuallyMs: 8000 });

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-rules-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1280, height: 860 } });
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

const o = () => `http://127.0.0.1:${origin.port}`;
const storedRules = async () => (await loupe.api("/api/rules")).json;
const editor = () => page.locator("[data-testid=rule-editor]");

async function openRules() {
  await page.click(".tabs.main a[href='#rules']");
  await page.locator(".rulespage").waitFor();
}

async function openFlows() {
  await page.click(".tabs.main a[href='#']");
  await page.locator("[data-testid=flow-list]").waitFor();
}

/** selectOnly filters the list down to one flow and opens it, waiting for its details (urlPart is in its URL). */
async function selectOnly(filter, urlPart) {
  await setFilter(filter);
  await waitCount(1);
  await page.click(".row[data-id]");
  await page.locator(`[data-testid=detail] .durl .url:has-text("${urlPart}")`).waitFor();
  await page.locator("[data-testid=detail] .actions").waitFor();
}

test("1. a rule that matches all traffic is saved only after the editor asked", T, async () => {
  await openRules();
  await page.click("[data-testid=new-rule]");
  await editor().waitFor();
  assert.equal(await page.isChecked("[data-testid=rule-enabled-edit]"), false, "a new rule made from nothing starts disabled");
  assert.match(await page.textContent("[data-testid=match-words]"), /Matches all traffic/);
  await page.fill("[data-testid=rule-name]", "Everything");
  await page.fill("[data-testid=action-status]", "203");
  await page.check("[data-testid=rule-enabled-edit]");
  await page.click("[data-testid=save-rule]");
  const ask = page.locator("[data-testid=ask-match-all]");
  await ask.waitFor();
  assert.match(await ask.textContent(), /matches all traffic/);
  await shot("01-ask-match-all");

  // Going back keeps the editor open and saves nothing.
  await page.click("[data-testid=ask-match-all-cancel]");
  await ask.waitFor({ state: "detached" });
  await editor().waitFor();
  assert.deepEqual(await storedRules(), [], "nothing saved after Go back");

  // Saving again asks again; confirming saves it.
  await page.click("[data-testid=save-rule]");
  await ask.waitFor();
  await page.click("[data-testid=ask-match-all-confirm]");
  await editor().waitFor({ state: "detached" });
  const saved = await storedRules();
  assert.equal(saved.length, 1);
  assert.deepEqual(saved[0].match, {});
  assert.equal(saved[0].enabled, true);
  // Only a status: no body source, so the origin's body is served.
  assert.deepEqual(saved[0].actions, [{ type: "override", status: 203 }]);
  const r = await viaProxy(loupe.proxyPort, `${o()}/api/users/1`);
  assert.equal(r.status, 203);
  assert.match(r.body.toString(), /"User 1"/, "the upstream body passes through a status-only override");

  // The list says it in words and flags it.
  const li = page.locator(`[data-testid=rule-list] li[data-id="${saved[0].id}"]`);
  await li.locator("[data-testid=rule-all]").waitFor();
  assert.match(await li.locator("[data-testid=rule-words]").textContent(), /^all traffic → overrides the response: answers 203 and keeps the upstream body$/);
  await shot("01-rule-list");

  // Turning it off is free; turning it on again asks, in the page.
  await li.locator(".switch span").click();
  await eventually(async () => (await storedRules())[0].enabled === false, "disabled on the server");
  await li.locator(".switch span").click();
  await li.locator("[data-testid=ask-enable]").waitFor();
  assert.equal((await storedRules())[0].enabled, false, "not enabled before the answer");
  await li.locator("[data-testid=ask-enable-cancel]").click();
  await li.locator("[data-testid=ask-enable]").waitFor({ state: "detached" });
  assert.equal((await storedRules())[0].enabled, false, "Keep it off keeps it off");
  await loupe.api(`/api/rules/${saved[0].id}`, { method: "DELETE" });
  await page.waitForFunction(() => !document.querySelector("[data-testid=rule-list]"));
});

test("2. a status-only override keeps the upstream body; an explicit empty body empties it", T, async () => {
  await viaProxy(loupe.proxyPort, `${o()}/api/users/7`);
  await openFlows();
  await selectOnly("path:/api/users/7", "/api/users/7");
  await page.click("[data-testid=override]");
  await editor().waitFor();
  assert.match(await page.inputValue("[data-testid=action-body]"), /"User 7"/, "prefilled with the response body");
  await page.fill("[data-testid=action-status]", "418");
  await page.fill("[data-testid=action-body]", "");
  assert.equal(await page.isChecked("[data-testid=empty-body]"), false, "an empty body is not chosen by default");
  await page.click("[data-testid=save-rule]");
  await editor().waitFor({ state: "detached" });
  const [rule] = await storedRules();
  assert.equal(rule.actions[0].status, 418);
  assert.equal("body" in rule.actions[0], false, `no body source stored: ${JSON.stringify(rule.actions[0])}`);

  const r = await viaProxy(loupe.proxyPort, `${o()}/api/users/7`);
  assert.equal(r.status, 418);
  const body = JSON.parse(r.body.toString());
  assert.equal(body.name, "User 7", "the origin's body went through the override");

  // Asking for an empty body serves one.
  await openRules();
  const li = page.locator(`[data-testid=rule-list] li[data-id="${rule.id}"]`);
  assert.match(await li.locator("[data-testid=rule-words]").textContent(), /answers 418, sets the header Content-Type and keeps the upstream body$/);
  await li.locator("button:has-text('Edit')").click();
  await editor().waitFor();
  await page.check("[data-testid=empty-body]");
  await page.click("[data-testid=save-rule]");
  await editor().waitFor({ state: "detached" });
  assert.equal((await storedRules())[0].actions[0].body, "");
  const r2 = await viaProxy(loupe.proxyPort, `${o()}/api/users/7`);
  assert.equal(r2.status, 418);
  assert.equal(r2.body.length, 0, "an explicit empty body");
  await loupe.api(`/api/rules/${rule.id}`, { method: "DELETE" });
});

test("3. a block rule's status, body and headers are editable", T, async () => {
  await openRules();
  await page.click("[data-testid=new-rule]");
  await editor().waitFor();
  await page.fill("[data-testid=rule-name]", "Block one path");
  await page.fill("[data-testid=match-host]", "127.0.0.1");
  await page.fill("[data-testid=match-path]", "/blocked*");
  await page.selectOption("[data-testid=action-0] [data-testid=action-type]", "block");
  await page.fill("[data-testid=action-status]", "451");
  await page.fill("[data-testid=action-body]", "Blocked for testing");
  const headers = page.locator("[data-testid=action-0] [data-testid=block-headers]");
  await headers.locator("button:has-text('+ header')").click();
  await headers.locator("input[placeholder=Name]").fill("X-Blocked-By");
  await headers.locator("input[placeholder=Value]").fill("Loupe");
  await page.check("[data-testid=rule-enabled-edit]");
  await shot("03-block-editor");
  await page.click("[data-testid=save-rule]");
  await editor().waitFor({ state: "detached" });
  const [rule] = await storedRules();
  assert.deepEqual(rule.actions, [{ type: "block", status: 451, headers: { "X-Blocked-By": "Loupe" }, body: "Blocked for testing" }]);

  const r = await viaProxy(loupe.proxyPort, `${o()}/blocked/x`);
  assert.equal(r.status, 451);
  assert.equal(r.body.toString(), "Blocked for testing");
  assert.equal(r.headers["x-blocked-by"], "Loupe");
  const li = page.locator(`[data-testid=rule-list] li[data-id="${rule.id}"]`);
  assert.match(await li.locator("[data-testid=rule-words]").textContent(), /^requests to 127\.0\.0\.1\/blocked\* → blocks with 451 and a 19-byte body$/);
  await page.waitForFunction((id) => document.querySelector(`[data-testid=rule-list] li[data-id="${id}"] [data-testid=rule-count]`)?.textContent === "1 flow", rule.id);
});

test("4. the flow list says which rules are on, and leads to them", T, async () => {
  // The block rule of test 3 is on; add a second, disabled one: it is not counted.
  await loupe.api("/api/rules", { method: "POST", body: { id: "off", name: "Off rule", enabled: false, match: { host: "x.test" }, actions: [{ type: "delay", ms: 1 }] } });
  await openFlows();
  const banner = page.locator("[data-testid=rules-banner]");
  await banner.waitFor();
  assert.equal(await page.textContent("[data-testid=rules-active]"), "1 rule active");
  assert.match(await banner.textContent(), /Block one path \(1 flow\)/);
  assert.doesNotMatch(await banner.textContent(), /Off rule/);
  assert.equal(await page.textContent("[data-testid=rules-pill]"), "1");
  await shot("04-banner");

  // Show the flows rules changed: the filter rule: selects the blocked one.
  await page.click("[data-testid=rules-banner-show]");
  await eventually(async () => (await page.inputValue("[data-testid=filter]")) === "rule:", "the filter box shows rule:");
  await page.locator(".row[data-id]:has(.c-path:has-text('/blocked/x'))").waitFor();
  await page.locator(".row[data-id]:has(.c-path:has-text('/ws'))").waitFor({ state: "detached" });
  await setFilter("");

  await page.click("[data-testid=rules-banner-open]");
  await page.locator("[data-testid=rule-list]").waitFor();
  await openFlows();
  await page.click("[data-testid=rules-banner-off]");
  await banner.waitFor({ state: "detached" });
  assert.ok((await storedRules()).every((r) => !r.enabled), "every rule off on the server");
  assert.equal(await page.locator("[data-testid=rules-pill]").count(), 0);
});

test("5. a WebSocket flow offers no response override", T, async () => {
  const echoes = await wsExchange(loupe.proxyPort, `ws://127.0.0.1:${origin.port}/ws`, ["hi"]);
  assert.deepEqual(echoes, ["echo: hi"]);
  await openFlows();
  await selectOnly("ws:", "/ws");
  assert.equal(await page.locator("[data-testid=detail] [data-testid=override]").count(), 0, "no override for a WebSocket");
  await page.locator("[data-testid=detail] [data-testid=break-on-this]").waitFor();
  await setFilter("");
  // A plain flow still offers it.
  await selectOnly("path:/api/users/1", "/api/users/1");
  await page.locator("[data-testid=detail] [data-testid=override]").waitFor();
});
