// Browser tests of the dashboard's gRPC support against the real Loupe
// binary: gRPC calls captured through Loupe by the Go tests (a real grpc-go
// client and server; ui/e2e/testdata/grpc.har, made by
// `go test ./proxy -run TestGRPCFixtures -grpc-fixtures`) are imported, then
// the list shows their gRPC status, the detail pane their trailers and their
// messages decoded, and the filter finds the failed one. Screenshots go to
// test-results/e2e/ (not committed).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { ARTIFACTS, ROOT, buildLoupe, launchBrowser, openDashboard, startLoupe, stopAll, tmpDir } from "./harness.mjs";
import { pageKit } from "./page.mjs";

let work, loupe, browser, page;
const T = { timeout: 60_000 };
const { test, shot, setFilter, waitCount } = pageKit({ page: () => page, prefix: "grpc" });
const HAR = fs.readFileSync(path.join(ROOT, "ui", "e2e", "testdata", "grpc.har"), "utf8");

/** openRow opens the flow whose row holds text (a badge, a path). */
async function openRow(text) {
  await page.locator(".row[data-id]", { hasText: text }).first().click();
  await page.locator("[data-testid=detail]").waitFor();
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = tmpDir("loupe-e2e-grpc-");
  const bin = process.env.LOUPE_BIN || (await buildLoupe(work));
  loupe = await startLoupe(bin, path.join(work, "data"));
  browser = await launchBrowser();
  page = await openDashboard(browser, loupe, { viewport: { width: 1400, height: 900 } });
  const imp = await loupe.api("/api/flows/import", { method: "POST", body: HAR, headers: { "Content-Type": "application/json" } });
  assert.equal(imp.status, 201, imp.text);
  assert.equal(imp.json.ids.length, 3);
});

after(async () => {
  await stopAll(work, browser, loupe);
});

test("1. the list shows each gRPC call's status, a failed one as an error", T, async () => {
  await waitCount(3);
  const badges = await page.locator(".row[data-id] [data-testid=grpc-badge]").allTextContents();
  assert.deepEqual(badges.map((b) => b.toUpperCase()).sort(), ["NOT_FOUND", "OK", "OK"]);
  const failed = page.locator(".row[data-id]", { hasText: "NOT_FOUND" });
  assert.match(await failed.getAttribute("class"), /\berr\b/, "the failed call's row is marked as an error");
  assert.equal(await failed.locator(".c-status").textContent(), "200", "HTTP said 200");
  assert.match(await failed.locator("[data-testid=grpc-badge]").getAttribute("title"), /user 42 not found: ünïcode/);
  await shot("01-list");
});

test("2. a failed call's detail names its status; a successful one shows its trailers and decoded messages", T, async () => {
  await openRow("NOT_FOUND");
  const st = page.locator("[data-testid=detail] .dbody [data-testid=grpc-status]");
  await st.waitFor();
  assert.match(await st.textContent(), /NOT_FOUND\s*\(5\)\s*user 42 not found: ünïcode/);
  await shot("02-not-found");

  // The successful unary call: compressed with gzip both ways.
  await page.locator(".row[data-id]", { hasText: "/Unary" }).filter({ hasText: "OK" }).first().click();
  const trailers = page.locator("[data-testid=detail] [data-testid=response-trailers]");
  await trailers.waitFor();
  const t = await trailers.textContent();
  assert.match(t, /Grpc-Status\s*0/);
  assert.match(t, /X-Server-Trailer\s*t1/);
  const view = page.locator("[data-testid=detail] [data-testid=grpc-view]");
  await view.waitFor();
  const msgs = view.locator("[data-testid=grpc-message]");
  assert.equal(await msgs.count(), 1);
  const text = await msgs.first().textContent();
  assert.match(text, /gzip/, "the message was compressed");
  assert.match(text, /"hello ada"/, "and is shown decoded");
  // The raw and hex views stay available.
  for (const label of ["Hex", "Raw"]) assert.equal(await page.locator(`[data-testid=detail] .bodybar button:has-text('${label}')`).count(), 1, label);
  await shot("02-unary");

  await page.click(".tabs button:has-text('Request')");
  const req = page.locator("[data-testid=detail] [data-testid=grpc-view]");
  await req.waitFor();
  assert.match(await req.textContent(), /"ada"/);
  assert.match(await page.locator("[data-testid=request-headers]").textContent(), /X-Client-Md\s*c1/i);
  await page.click(".tabs button:has-text('Response')");
});

test("3. a server stream shows every message", T, async () => {
  await openRow("/Server");
  const msgs = page.locator("[data-testid=detail] [data-testid=grpc-view] [data-testid=grpc-message]");
  // The pane may render again as the flow's row settles: wait for the three messages, then read them.
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=detail] [data-testid=grpc-view] [data-testid=grpc-message]").length === 3);
  assert.deepEqual(await msgs.evaluateAll((els) => els.map((e) => e.querySelector(".pb-str")?.textContent)), ['"tick 0"', '"tick 1"', '"tick 2"']);
  assert.match(await page.locator("[data-testid=response-trailers]").textContent(), /X-Count\s*3/);
  await shot("03-stream");
});

test("4. grpc: and error: filters find the failed call", T, async () => {
  await setFilter("grpc:error");
  await waitCount(1);
  assert.match(await page.locator(".row[data-id]").textContent(), /NOT_FOUND/);
  await setFilter("grpc:NOT_FOUND");
  await waitCount(1);
  await setFilter("error:");
  await waitCount(1);
  await setFilter("grpc:OK");
  await waitCount(2);
  await setFilter("grpc:");
  await waitCount(3);
  // The reference under ? documents the key.
  await page.click(".tog.help");
  assert.match(await page.locator(".fhelp").textContent(), /grpc:NOT_FOUND/);
  await shot("04-filter");
  await page.click(".tog.help");
  await setFilter("");
  await waitCount(3);
});

test("5. export keeps the gRPC bodies byte for byte and the trailers", T, async () => {
  const r = await loupe.api("/api/flows/export.har");
  assert.equal(r.status, 200);
  const byURLAndText = (doc) =>
    doc.log.entries.map((e) => ({ url: e.request.url, req: e.request.postData?.text, resp: e.response.content.text, trailers: e.response._trailers ?? [] }));
  const want = byURLAndText(JSON.parse(HAR));
  const got = byURLAndText(r.json);
  assert.deepEqual(got, want);
});

test("6. nested protobuf messages and gRPC-Web trailers are shown decoded", T, async () => {
  // Bodies made by the protobuf library in the Go tests (ui/src/lib/testdata/grpc.json).
  const cases = JSON.parse(fs.readFileSync(path.join(ROOT, "ui", "src", "lib", "testdata", "grpc.json"), "utf8")).cases;
  const entry = (name, i) => {
    const c = cases.find((x) => x.name === name);
    const text = c.contentType.endsWith("-text") ? Buffer.from(c.body, "base64").toString() : c.body;
    return {
      startedDateTime: new Date(Date.UTC(2026, 0, 2, 0, 0, i)).toISOString(),
      time: 1,
      request: { method: "POST", url: `https://api.test/fixture.Svc/Case${i}`, httpVersion: "HTTP/2.0", cookies: [], headers: [{ name: "Content-Type", value: c.contentType }], queryString: [], headersSize: -1, bodySize: 0 },
      response: {
        status: 200,
        statusText: "OK",
        httpVersion: "HTTP/2.0",
        cookies: [],
        headers: [{ name: "Content-Type", value: c.contentType }],
        content: { size: 0, mimeType: c.contentType, text, ...(c.contentType.endsWith("-text") ? {} : { encoding: "base64" }) },
        redirectURL: "",
        headersSize: -1,
        bodySize: -1,
      },
      cache: {},
      timings: { send: 0, wait: 1, receive: 0 },
    };
  };
  const har = { log: { version: "1.2", creator: { name: "e2e", version: "1" }, entries: [entry("struct with nested messages", 1), entry("grpc-web-text", 2)] } };
  const imp = await loupe.api("/api/flows/import", { method: "POST", body: JSON.stringify(har), headers: { "Content-Type": "application/json" } });
  assert.equal(imp.status, 201, imp.text);
  await waitCount(5);

  await openRow("/Case1");
  const view = page.locator("[data-testid=detail] [data-testid=grpc-view]");
  await view.waitFor();
  const tree = await view.textContent();
  for (const want of ['"Ada Lovelace"', '"nested"', '"pi"', "3.14", '"tags"', "message"]) assert.ok(tree.includes(want), `the tree shows ${want}: ${tree}`);
  await shot("06-struct");

  await openRow("/Case2");
  const web = page.locator("[data-testid=detail] [data-testid=grpc-view]");
  await web.waitFor();
  assert.match(await web.textContent(), /"ada"/);
  assert.match(await web.locator("[data-testid=grpc-web-trailers]").textContent(), /grpc-status\s*5/);
  assert.match(await web.textContent(), /NOT_FOUND\s*user 42 not found/);
  await shot("06-grpc-web");
});
