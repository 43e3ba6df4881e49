// Browser tests of ports: two origins on one host, two ports. "Override this
// response" on a flow of one of them makes a rule that fires for that port
// only; the list shows non-default ports; port: filters. Screenshots go to
// test-results/e2e/ (not committed).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, buildLoupe, harOf, launchBrowser, openDashboard, startLoupe, startOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, originA, originB, browser, page;
const T = { timeout: 60_000 };
const { test, shot, setFilter, waitCount } = pageKit({ page: () => page, prefix: "ports" });

/** waitURLs waits until the list shows exactly the flows of these URLs. */
async function waitURLs(want, timeout = 10_000) {
  await page.waitForFunction(
    (want) => {
      const got = [...document.querySelectorAll(".row[data-id] .c-path")].map((e) => e.getAttribute("title")).sort();
      return JSON.stringify(got) === JSON.stringify([...want].sort());
    },
    want,
    { timeout },
  );
}

/** hosts is the text of the host column, sorted. */
async function hosts() {
  return (await page.locator(".row[data-id] .c-host").allTextContents()).sort();
}

/** waitHosts waits until the host column holds exactly want (in any order). */
async function waitHosts(want, timeout = 10_000) {
  await page.waitForFunction(
    (want) => {
      const got = [...document.querySelectorAll(".row[data-id] .c-host")].map((e) => e.textContent).sort();
      return JSON.stringify(got) === JSON.stringify([...want].sort());
    },
    want,
    { timeout },
  );
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-ports-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  originA = await startOrigin();
  originB = await startOrigin();
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1280, height: 800 } });
});

after(async () => {
  await stopAll(work, browser, loupe, originA, originB);
});

const urlA = () => `http://127.0.0.1:${originA.port}/api/users/5`;
const urlB = () => `http://127.0.0.1:${originB.port}/api/users/5`;
const NEW_BODY = JSON.stringify({ id: 5, name: "Only on port B" });

test("1. the list shows each flow's port; port: selects one origin; a bad port is named", T, async () => {
  assert.notEqual(originA.port, originB.port);
  for (const u of [urlA(), urlB()]) {
    const r = await viaProxy(loupe.proxyPort, u);
    assert.match(r.body.toString(), /"User 5"/, `${u} reached its origin`);
  }
  await waitCount(2);
  assert.deepEqual(await hosts(), [`127.0.0.1:${originA.port}`, `127.0.0.1:${originB.port}`].sort());

  await setFilter(`port:${originB.port}`);
  await waitCount(1);
  await waitHosts([`127.0.0.1:${originB.port}`]);
  await shot("01-port-filter");

  await setFilter("port:http");
  const err = page.locator("[data-testid=filter-error]");
  await err.waitFor();
  assert.match(await err.textContent(), /port:http/);
  assert.match(await err.textContent(), /1\.\.65535/);
  await setFilter(`-port:${originB.port}`);
  await waitHosts([`127.0.0.1:${originA.port}`]);
  assert.equal(await err.count(), 0);

  // The reference under "?" lists the key.
  await page.click("button.tog.help");
  await page.locator(".fhelp button:has-text('port:>8000')").waitFor();
  await page.click("button.tog.help");
});

test("2. 'Override this response' on port B's flow overrides port B only", T, async () => {
  await setFilter(`port:${originB.port}`);
  // The list before showed one flow too (port A's): wait for B's row itself.
  await waitHosts([`127.0.0.1:${originB.port}`]);
  await page.click(".row[data-id]");
  await page.locator("[data-testid=detail] [data-testid=json-view]").waitFor();
  await page.click("[data-testid=override]");
  const editor = page.locator("[data-testid=rule-editor]");
  await editor.waitFor();
  assert.equal(await page.inputValue("[data-testid=match-host]"), "127.0.0.1");
  assert.equal(await page.inputValue("[data-testid=match-port]"), String(originB.port));
  assert.equal(await page.inputValue("[data-testid=match-path]"), "/api/users/5");
  await page.fill("[data-testid=action-body]", NEW_BODY);
  await shot("02-editor");
  await page.click("[data-testid=save-rule]");
  await editor.waitFor({ state: "detached" });

  const rules = await loupe.api("/api/rules");
  assert.equal(rules.json.length, 1);
  assert.equal(rules.json[0].match.port, originB.port, "the saved rule names port B");

  const b = await viaProxy(loupe.proxyPort, urlB());
  assert.equal(b.body.toString(), NEW_BODY, "port B is overridden");
  const a = await viaProxy(loupe.proxyPort, urlA());
  assert.match(a.body.toString(), /"User 5"/, "port A still gets its origin's answer");
  assert.notEqual(a.body.toString(), NEW_BODY);

  await setFilter("");
  await waitCount(4);
  await setFilter(`port:${originB.port} rule:`);
  await waitCount(1);
  await page.locator(".row[data-id] .badge.b-override").waitFor();
  await setFilter(`port:${originA.port} rule:`);
  await waitCount(0);
  await setFilter("");
  await waitCount(4);
  await shot("02-after");
});

test("3. the rules page shows the port in the rule's match", T, async () => {
  await page.click(".tabs.main a[href='#rules']");
  const list = page.locator("[data-testid=rule-list]");
  await list.waitFor();
  assert.match(await list.locator(".rsub").first().textContent(), new RegExp(`GET requests to 127\\.0\\.0\\.1/api/users/5 on port ${originB.port}`));
  await shot("03-rules");

  // A bad port typed in the editor comes back as a problem at the port field.
  await page.click("[data-testid=new-rule]");
  await page.fill("[data-testid=match-port]", "70000");
  await page.fill("[data-testid=action-body]", "x");
  await page.click("[data-testid=save-rule]");
  const prob = page.locator(".field.bad:has([data-testid=match-port]) .fprob");
  await prob.waitFor();
  assert.match(await prob.textContent(), /1\.\.65535/);
  await shot("03-port-problem");
  await page.keyboard.press("Escape");
  await page.locator("[data-testid=rule-editor]").waitFor({ state: "detached" });
  assert.equal((await loupe.api("/api/rules")).json.length, 1, "the invalid rule was not saved");
  await page.click(".tabs.main a[href='#']");
});

test("4. default ports are hidden in the list and still filter", T, async () => {
  const har = harOf(3, originA.port);
  har.log.entries[0].request.url = "http://default.test/a";
  har.log.entries[1].request.url = "https://default.test:443/b";
  har.log.entries[2].request.url = "https://default.test:8443/c";
  const imp = await loupe.api("/api/flows/import", { method: "POST", body: har });
  assert.ok(imp.status < 300, `import: ${imp.status} ${imp.text.slice(0, 200)}`);
  await setFilter("host:default.test");
  await waitCount(3);
  assert.deepEqual(await hosts(), ["default.test", "default.test", "default.test:8443"]);
  await setFilter("host:default.test port:8443");
  await waitHosts(["default.test:8443"]);
  // port:443 finds the https flow whose URL writes its default port, and
  // port:80 the http flow whose URL writes none.
  await setFilter("host:default.test port:443");
  await waitURLs(["https://default.test:443/b"]);
  await waitHosts(["default.test"]);
  await setFilter("host:default.test port:80");
  await waitURLs(["http://default.test/a"]);
  await setFilter("");
  await shot("04-default-ports");
});
