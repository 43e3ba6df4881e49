// Browser tests of the inspection tools against the real Loupe binary and
// its durable capture: comparing two flows (headers by name, JSON bodies
// by structure) and the structure tree (hosts and paths with counts; a
// click filters the list; new flows update the counts). Screenshots go to
// test-results/e2e/ (not committed).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, openDashboard, startLoupe, startOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, bin, loupe, origin, browser, page;
const T = { timeout: 90_000 };
const { test, shot, eventually, setFilter, waitCount } = pageKit({ page: () => page, prefix: "inspect" });

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-inspect-");
  bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startOrigin();
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1400, height: 900 } });
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

const get = async (url, headers = {}) => {
  const r = await viaProxy(loupe.proxyPort, url, { headers });
  assert.equal(r.status, 200, `${url}: ${r.status}`);
};

test("two flows compare side by side: a changed header and a JSON body compared by structure", T, async () => {
  const o = `http://127.0.0.1:${origin.port}`;
  await get(`${o}/api/users/1`, { "X-Variant": "one", "X-Only-First": "yes" });
  await get(`${o}/api/users/2`, { "X-Variant": "two" });
  await setFilter("path:/api/users/*");
  await waitCount(2);
  const rows = page.locator("[data-testid=flow-list] .row:not(.loading)");
  await rows.nth(0).click();
  await rows.nth(1).click({ modifiers: ["ControlOrMeta"] });
  const diff = page.locator("[data-testid=diff]");
  await diff.waitFor();
  const req = diff.locator("[data-testid=diff-request]");
  await req.locator("tr[data-name=x-variant][data-kind=changed]").waitFor();
  assert.match(await req.locator("tr[data-name=x-variant]").textContent(), /one.*two/);
  await req.locator("tr[data-name=x-only-first][data-kind=removed]").waitFor();
  const resp = diff.locator("[data-testid=diff-response]");
  assert.match(await resp.textContent(), /JSON, keys sorted/);
  const removed = await resp.locator("[data-testid=diff-body] td.removed").allTextContents();
  const added = await resp.locator("[data-testid=diff-body] td.added").allTextContents();
  // Keys sorted: "email" comes first, and only the values that differ are marked.
  assert.deepEqual(removed.map((s) => s.trim()), ['"email": "user1@example.test",', '"id": 1,', '"name": "User 1",']);
  assert.deepEqual(added.map((s) => s.trim()), ['"email": "user2@example.test",', '"id": 2,', '"name": "User 2",']);
  await shot("diff-split");
  await diff.locator("[data-testid=diff-unified]").click();
  await resp.locator("[data-testid=diff-body] tr.removed").first().waitFor();
  assert.equal(await resp.locator("[data-testid=diff-body] tr.added").count(), 3);
  await shot("diff-unified");
  await page.keyboard.press("Escape");
  await diff.waitFor({ state: "detached" });

  // "Compare with…" from the detail pane, then a plain click on the other flow.
  await rows.nth(1).click();
  await page.locator("[data-testid=detail] .durl:has-text('/api/users/2')").waitFor();
  await page.locator("[data-testid=compare-with]").click();
  await rows.nth(0).click();
  await diff.waitFor();
  await diff.locator("text=Compare #").waitFor();
  const title = await diff.locator(".ehead strong").textContent();
  const ids = (await page.locator("[data-testid=flow-list] .row:not(.loading) .c-id").allTextContents()).map(Number);
  assert.equal(title.replace(/\s+/g, " ").trim(), `Compare #${ids[1]} with #${ids[0]}`);
  await page.keyboard.press("Escape");
  await diff.waitFor({ state: "detached" });
  await setFilter("");
});

test("the structure tree counts hosts and paths, filters the list on a click or Enter, and follows new flows", T, async () => {
  const lo = `http://localhost:${origin.port}`;
  await setFilter("");
  for (const p of ["/a/b/1", "/a/b/2", "/a/c", "/"]) await get(lo + p);
  await page.locator("[data-testid=tree-toggle]").click();
  const tree = page.locator("[data-testid=tree]");
  await tree.waitFor();
  const row = (label) => tree.locator("[data-testid=tree-row]", { has: page.locator(`.tlabel:text-is("${label}")`) });
  const countOf = async (label) => Number((await row(label).locator(".tcount").textContent()).replace(/\D/g, ""));
  await row("localhost").waitFor();
  await eventually(async () => (await countOf("localhost")) === 4, "localhost counts 4");
  assert.equal(await countOf("127.0.0.1"), 2);
  await row("localhost").locator(".twisty").click();
  await row("a/").waitFor();
  assert.equal(await countOf("a/"), 3);
  await row("a/").locator(".twisty").click();
  await row("b/").waitFor();
  assert.equal(await countOf("b/"), 2);
  assert.equal(await countOf("c"), 1);
  await shot("tree");

  await row("b/").click();
  await eventually(async () => (await page.inputValue("[data-testid=filter]")) === "host:localhost path:/a/b/*", "a click sets the filter");
  await waitCount(2);

  // A new flow under the node: the list (filtered) and the tree's count follow.
  await get(lo + "/a/b/3");
  await waitCount(3);
  await eventually(async () => (await countOf("b/")) === 3, "b/ counts 3 after a new flow");

  // The keyboard: focus the tree, move to "c", Enter filters to it; the
  // previous node's terms are replaced, the user's own stay.
  await setFilter("method:GET host:localhost path:/a/b/*");
  await tree.locator("[role=tree]").focus();
  await page.keyboard.press("Home");
  for (let i = 0; i < 10; i++) {
    if ((await tree.locator(".trow.focus .tlabel").textContent()) === "c") break;
    await page.keyboard.press("ArrowDown");
  }
  await page.keyboard.press("Enter");
  await eventually(async () => (await page.inputValue("[data-testid=filter]")) === "method:GET host:localhost path:/a/c", "Enter sets the filter");
  await waitCount(1);
  // Left on a leaf goes to its parent; Left again closes it.
  await page.keyboard.press("ArrowLeft");
  assert.equal(await tree.locator(".trow.focus .tlabel").textContent(), "a/");
  await page.keyboard.press("ArrowLeft");
  await row("b/").waitFor({ state: "detached" });
  await page.locator("[data-testid=tree-toggle]").click();
  await tree.waitFor({ state: "detached" });
});
