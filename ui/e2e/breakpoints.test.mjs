// Browser tests of breakpoints in the dashboard. With the breakpoint core in
// the binary (GET /api/held answers), real requests through the proxy are
// held, edited and released: the origin and the client see the edit.
// Without it (GET /api/held is 404) those tests skip themselves, and the
// queue and editor are checked against a stand-in for the breakpoint API
// (routes and an injected live feed) instead.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe } from "node:test";
import { ARTIFACTS, buildLoupe, launchBrowser, startLoupe, startRecordingOrigin, stopAll, tmpDir, viaProxy } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, origin, browser, ctx, page, hasCore;
const T = { timeout: 60_000 };
const { test, shot, eventually } = pageKit({ page: () => page, prefix: "breakpoints", eventuallyMs: 30_000 });

/** seen holds what the origin received, in order. */
const seen = [];

async function heldCount() {
  return Number(await page.locator("[data-testid=held-count]").textContent());
}

/** heldHeaderRow finds the held editor's header row named name; -1 when absent. */
async function heldHeaderRow(name) {
  const names = await page.locator("[data-testid^=held-header-name-]").evaluateAll((els) => els.map((e) => e.value));
  return names.findIndex((n) => n.toLowerCase() === name.toLowerCase());
}

/** activeTestID is the data-testid of the element that has the keyboard focus. */
const activeTestID = () => page.evaluate(() => document.activeElement?.getAttribute("data-testid") ?? document.activeElement?.tagName);

async function openPage() {
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.log("# page error:", e.message));
  await page.goto(`${loupe.ui}/?token=${loupe.token}`);
  await page.waitForURL((u) => !u.search.includes("token"), { timeout: 10_000 });
  await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-bp-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  origin = await startRecordingOrigin({ seen, answer: (req) => ({ type: "text/plain; charset=utf-8", body: `origin answer for ${req.url}` }) });
  loupe = await startLoupe(bin, path.join(work, "data"));
  hasCore = (await loupe.api("/api/held")).status !== 404;
  browser = await launchBrowser();
  ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  ctx.setDefaultTimeout(15_000);
});

after(async () => {
  await stopAll(work, browser, loupe, origin);
});

const o = () => `http://127.0.0.1:${origin.port}`;

/** addRule adds a breakpoint rule through the API and returns its ID. */
async function addBreakpoint(pathGlob, phase) {
  const r = await loupe.api("/api/rules", {
    method: "POST",
    body: { name: `break ${pathGlob}`, enabled: true, match: { host: "127.0.0.1", port: origin.port, path: pathGlob }, actions: [{ type: "breakpoint", phase, timeoutMs: 60000, onTimeout: "continue", hits: 0 }] },
  });
  assert.equal(r.status, 201, `add rule: ${r.text}`);
  return r.json.id;
}

async function deleteRule(id) {
  await loupe.api(`/api/rules/${encodeURIComponent(id)}`, { method: "DELETE" });
}

describe("with the breakpoint core", () => {
  const skip = () => (hasCore ? false : "GET /api/held answers 404: this Loupe has no breakpoint core");

  test("1. a held request is edited and executed: the origin sees the edit", T, async (t) => {
    if (skip()) return t.skip(skip());
    await openPage();
    const rule = await addBreakpoint("/bp/*", "request");
    try {
      const answer = viaProxy(loupe.proxyPort, `${o()}/bp/1`, { headers: { "X-Mode": "original" }, timeout: 30_000 });
      await page.locator("[data-testid=held-panel]").waitFor();
      await eventually(async () => (await heldCount()) === 1, "the queue shows one held exchange");
      await page.locator("[data-testid=held-editor]").waitFor();
      assert.match(await page.locator("[data-testid=held-item]").first().textContent(), /\/bp\/1/);
      assert.match(await page.locator("[data-testid=countdown]").first().textContent(), /^\d+:\d\d$/);
      assert.equal(seen.length, 0, "the origin was not called while held");
      const row = await heldHeaderRow("X-Mode");
      assert.ok(row >= 0, "the held request's header is in the editor");
      await page.fill(`[data-testid=held-header-value-${row}]`, "edited");
      await shot("01-held");
      await page.click("[data-testid=held-execute]");
      const r = await answer;
      assert.equal(r.status, 200);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].headers["x-mode"], "edited");
      await eventually(async () => (await heldCount()) === 0, "the queue is empty again");
    } finally {
      await deleteRule(rule);
      await page.close();
    }
  });

  test("2. a second hit while the editor is open does not take the focus or the edit; c continues", T, async (t) => {
    if (skip()) return t.skip(skip());
    await openPage();
    const rule = await addBreakpoint("/focus/*", "request");
    const answers = [];
    try {
      answers.push(viaProxy(loupe.proxyPort, `${o()}/focus/a`, { headers: { "X-Mode": "a" }, timeout: 30_000 }));
      await eventually(async () => (await heldCount()) === 1, "the first hit is held");
      const editor = page.locator("[data-testid=held-editor]");
      const firstID = await editor.getAttribute("data-id");
      const row = await heldHeaderRow("X-Mode");
      const input = page.locator(`[data-testid=held-header-value-${row}]`);
      await input.click();
      await page.keyboard.press("End");
      await page.keyboard.type("-typing");

      answers.push(viaProxy(loupe.proxyPort, `${o()}/focus/b`, { headers: { "X-Mode": "b" }, timeout: 30_000 }));
      await eventually(async () => (await heldCount()) === 2, "the second hit joins the queue");
      await page.keyboard.type("-more");
      assert.equal(await editor.getAttribute("data-id"), firstID, "the editor still shows the first hit");
      assert.equal(await activeTestID(), `held-header-value-${row}`, "the focus stayed in the field");
      assert.equal(await input.inputValue(), "a-typing-more");
      await shot("02-second-hit");

      // Outside a text field, c continues the one in the editor (unedited).
      await page.click("[data-testid=held-panel] .hphead h3");
      await page.keyboard.press("c");
      await eventually(() => seen.some((s) => s.url === "/focus/a"), "the first one went on");
      assert.equal(seen.find((s) => s.url === "/focus/a").headers["x-mode"], "a", "continue sends the original");
      await eventually(async () => (await editor.getAttribute("data-id")) !== firstID, "the editor moved to the next one");
      await page.click("[data-testid=held-continue-all]");
      const rs = await Promise.all(answers);
      assert.deepEqual(
        rs.map((r) => r.status),
        [200, 200],
      );
    } finally {
      await deleteRule(rule);
      await page.close();
    }
  });

  test("3. a held response's body is edited: the client gets the edit", T, async (t) => {
    if (skip()) return t.skip(skip());
    await openPage();
    const rule = await addBreakpoint("/resp/*", "response");
    try {
      const answer = viaProxy(loupe.proxyPort, `${o()}/resp/1`, { timeout: 30_000 });
      await eventually(async () => (await heldCount()) === 1, "the response is held");
      await page.locator("[data-testid=held-body]").waitFor();
      assert.equal(await page.inputValue("[data-testid=held-body]"), "origin answer for /resp/1");
      await page.fill("[data-testid=held-body]", "edited by a breakpoint");
      await page.fill("[data-testid=held-status]", "202");
      await page.click("[data-testid=held-execute]");
      const r = await answer;
      assert.equal(r.status, 202);
      assert.equal(r.body.toString(), "edited by a breakpoint");
      assert.equal(Number(r.headers["content-length"]), "edited by a breakpoint".length);
    } finally {
      await deleteRule(rule);
      await page.close();
    }
  });
});

describe("against a stand-in for the breakpoint API", () => {
  const skip = () => (hasCore ? "the real breakpoint core answers: the tests above cover it" : false);

  /** standIn routes the breakpoint API of page to a fake; send() pushes a held/update. */
  async function standIn(initial) {
    const calls = [];
    let list = initial;
    const sockets = [];
    await page.routeWebSocket(/\/api\/ws$/, (ws) => {
      // A mocked feed: open, quiet, and ours to write to.
      sockets.push(ws);
    });
    await page.route(/\/api\/held(\/.*)?$/, async (route) => {
      const req = route.request();
      const u = new URL(req.url());
      if (req.method() === "GET" && u.pathname === "/api/held") return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(list) });
      const m = /^\/api\/held\/([^/]+)\/([a-z-]+)$/.exec(u.pathname) ?? /^\/api\/held\/([a-z-]+)$/.exec(u.pathname);
      calls.push({ path: u.pathname, body: req.postData() ? JSON.parse(req.postData()) : null });
      if (m) {
        const id = Number(m[1]);
        list = Number.isNaN(id) ? [] : list.filter((h) => h.id !== id);
      }
      return route.fulfill({ status: 204, body: "" });
    });
    return {
      calls,
      send(next) {
        list = next;
        for (const ws of sockets) ws.send(JSON.stringify({ type: "held/update", held: next }));
      },
    };
  }

  const heldReq = (id, url, remainingMs = 45_000) => ({
    id,
    phase: "request",
    deadline: new Date(Date.now() + remainingMs).toISOString(),
    remainingMs,
    request: { method: "POST", url, headers: [{ name: "Content-Type", value: "application/json" }, { name: "X-Mode", value: "original" }], body: '{"n":1}' },
  });

  test("4. the queue opens on a first hit; a second one leaves the editor and the focus alone; execute sends only the edit", T, async (t) => {
    if (skip()) return t.skip(skip());
    page = await ctx.newPage();
    page.on("pageerror", (e) => console.log("# page error:", e.message));
    const fake = await standIn([]);
    await page.goto(`${loupe.ui}/?token=${loupe.token}`);
    await page.waitForSelector("[data-testid=feed-status]:has-text('live')", { timeout: 10_000 });
    await page.locator("[data-testid=held-badge]").waitFor();
    assert.equal(await heldCount(), 0);

    fake.send([heldReq(101, "http://api.test/items/1")]);
    await page.locator("[data-testid=held-panel]").waitFor();
    const editor = page.locator("[data-testid=held-editor]");
    await editor.waitFor();
    assert.equal(await editor.getAttribute("data-id"), "101");
    const c1 = await page.locator("[data-testid=countdown]").first().textContent();
    assert.match(c1, /^0:4\d$/);

    const row = await heldHeaderRow("X-Mode");
    const input = page.locator(`[data-testid=held-header-value-${row}]`);
    await input.click();
    await page.keyboard.press("End");
    await page.keyboard.type("-edited");
    fake.send([heldReq(101, "http://api.test/items/1"), heldReq(102, "http://api.test/items/2")]);
    await eventually(async () => (await heldCount()) === 2, "the second hit joins the queue");
    await page.keyboard.type("!");
    assert.equal(await editor.getAttribute("data-id"), "101", "the editor stays on the first hit");
    assert.equal(await activeTestID(), `held-header-value-${row}`, "the focus stays in the field");
    assert.equal(await input.inputValue(), "original-edited!");
    await shot("04-stand-in-second-hit");

    // Shortcuts do nothing while typing: "c" is text here.
    await page.keyboard.type("c");
    assert.equal(fake.calls.length, 0);
    assert.equal(await input.inputValue(), "original-edited!c");

    await page.click("[data-testid=held-execute]");
    await eventually(() => fake.calls.length === 1, "execute was called");
    assert.equal(fake.calls[0].path, "/api/held/101/execute");
    assert.deepEqual(fake.calls[0].body, {
      headers: [
        { name: "Content-Type", value: "application/json" },
        { name: "X-Mode", value: "original-edited!c" },
      ],
    });
    await eventually(async () => (await editor.getAttribute("data-id")) === "102", "the editor moved to the next one");

    // Outside a text field: a aborts, with the status given.
    await page.fill("[data-testid=held-abort-status]", "503");
    await page.click("[data-testid=held-panel] .hphead h3");
    await page.keyboard.press("a");
    await eventually(() => fake.calls.length === 2, "abort was called");
    assert.deepEqual(fake.calls[1], { path: "/api/held/102/abort", body: { status: 503 } });
    await page.close();
  });

  test("5. a held response edited in raw mode; Respond answers a request; Save as rule prefills an override", T, async (t) => {
    if (skip()) return t.skip(skip());
    page = await ctx.newPage();
    // The flow of the held response, for the rule's match.
    await page.route(/\/api\/flows\/201$/, (route) =>
      route.fulfill({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({ id: 201, start: new Date().toISOString(), client: "127.0.0.1:1", state: "pending", request: { method: "GET", url: "http://api.test/page?x=1", proto: "HTTP/1.1", headers: [] }, requestBody: {}, responseBody: {}, timings: {} }),
      }),
    );
    const fake = await standIn([{ id: 201, phase: "response", deadline: new Date(Date.now() + 30_000).toISOString(), remainingMs: 30_000, response: { status: 200, headers: [{ name: "Content-Type", value: "text/plain" }], body: "hello" } }]);
    await page.goto(`${loupe.ui}/?token=${loupe.token}`);
    const editor = page.locator("[data-testid=held-editor]");
    await editor.waitFor();
    assert.equal(await page.inputValue("[data-testid=held-body]"), "hello");
    await page.click("[data-testid=held-mode-raw]");
    assert.equal(await page.inputValue("[data-testid=held-raw]"), "HTTP/1.1 200\nContent-Type: text/plain\n\nhello");
    await page.fill("[data-testid=held-raw]", "HTTP/1.1 404 Not Found\nContent-Type: text/plain\nX-Edited: 1\n\ngone");
    await page.click("[data-testid=held-save-rule]");
    await page.locator("[data-testid=rule-editor]").waitFor();
    assert.equal(await page.inputValue("[data-testid=action-status]"), "404");
    assert.equal(await page.inputValue("[data-testid=action-body]"), "gone");
    assert.equal(await page.inputValue("[data-testid=match-host]"), "api.test");
    assert.equal(await page.inputValue("[data-testid=match-path]"), "/page?x=1");
    await page.keyboard.press("Escape");
    await page.locator("[data-testid=rule-editor]").waitFor({ state: "detached" });
    await page.click("[data-testid=held-execute]");
    await eventually(() => fake.calls.length === 1, "execute was called");
    assert.deepEqual(fake.calls[0], {
      path: "/api/held/201/execute",
      body: {
        status: 404,
        headers: [
          { name: "Content-Type", value: "text/plain" },
          { name: "X-Edited", value: "1" },
        ],
        body: "gone",
      },
    });

    fake.send([heldReq(202, "http://api.test/answer")]);
    await eventually(async () => (await editor.getAttribute("data-id")) === "202", "the next hit opens: no editor was open");
    await page.click("[data-testid=held-respond]");
    await page.fill("[data-testid=held-respond-status]", "418");
    await page.fill("[data-testid=held-respond-body]", "short and stout");
    await page.click("[data-testid=held-respond-send]");
    await eventually(() => fake.calls.length === 2, "respond was called");
    assert.deepEqual(fake.calls[1], { path: "/api/held/202/respond", body: { status: 418, headers: [{ name: "Content-Type", value: "text/plain; charset=utf-8" }], body: "short and stout" } });

    fake.send([heldReq(203, "http://api.test/a"), heldReq(204, "http://api.test/b")]);
    await eventually(async () => (await heldCount()) === 2, "two held");
    await page.click("[data-testid=held-continue-all]");
    await eventually(() => fake.calls.length === 3, "continue-all was called");
    assert.equal(fake.calls[2].path, "/api/held/continue-all");
    await eventually(async () => (await heldCount()) === 0, "the queue is empty");
    await page.close();
  });
});
