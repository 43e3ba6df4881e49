// Page helpers shared by the browser tests: a node:test wrapper that leaves a
// screenshot when a test fails, named screenshots, bounded polling, and the
// flow list's filter box and count. Every wait is bounded.

import path from "node:path";
import { test as nodeTest } from "node:test";
import { ARTIFACTS } from "./harness.mjs";

/** countOf reads the leading number of the flow list's footer ("1,234 flows"). */
const countOf = (text) => Number(text.split(" ")[0].replace(/[,.\u202f\u00a0]/g, ""));

/**
 * pageKit builds the helpers for one test file. page returns the file's
 * current Playwright page (it is created in before()); prefix names the
 * file's screenshots ("grpc" gives grpc-<name>.png and FAILED-grpc-<n>.png;
 * "" gives <name>.png); eventuallyMs is eventually's default bound.
 */
export function pageKit({ page, prefix = "", eventuallyMs = 10_000 }) {
  const pre = prefix ? `${prefix}-` : "";

  /** test wraps node:test so that a failing test leaves a screenshot of the page. */
  function test(name, opts, fn) {
    nodeTest(name, opts, async (t) => {
      try {
        await fn(t);
      } catch (err) {
        await page()
          ?.screenshot({ path: path.join(ARTIFACTS, `FAILED-${pre}${name.split(".")[0]}.png`) })
          .catch(() => {});
        throw err;
      }
    });
  }

  async function shot(name) {
    await page().screenshot({ path: path.join(ARTIFACTS, `${pre}${name}.png`) });
  }

  /** eventually polls cond (async) until it holds, for at most ms. */
  async function eventually(cond, what, ms = eventuallyMs) {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`${what}: not true after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function setFilter(q) {
    await page().fill("[data-testid=filter]", q);
    await page().press("[data-testid=filter]", "Enter");
  }

  async function flowCount() {
    return countOf(await page().locator("[data-testid=flow-count]").textContent({ timeout: 5000 }));
  }

  /** waitCount waits until the list shows exactly n flows. */
  async function waitCount(n, timeout = 20_000) {
    await page().waitForFunction(
      (n) => {
        const el = document.querySelector("[data-testid=flow-count]");
        return el && Number(el.textContent.split(" ")[0].replace(/[,.\u202f\u00a0]/g, "")) === n;
      },
      n,
      { timeout },
    );
  }

  return { test, shot, eventually, setFilter, flowCount, waitCount };
}
