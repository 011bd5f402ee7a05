import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { GatewayHandle } from "../../gateway/main.js";
import { findChromium, launchChromium, servePage, type PageServer } from "../helpers/browser.js";
import { waitForModel } from "../helpers/broker.js";
import { useHarness } from "../helpers/stack.js";

interface SdkResult {
  whole: { requestId: string | null; object: string; content: string };
  stream: { requestId: string | null; contentType: string | null; chunks: number; text: string };
}
interface FetchResult {
  status: number;
  requestId: string | null;
  done: boolean;
}
interface ErrorResult {
  status: number;
  requestId: string | null;
  code: string;
}

const CHROMIUM = findChromium();
const MISSING = `chromium is not installed${process.env.CHROMIUM_PATH ? ` at CHROMIUM_PATH=${process.env.CHROMIUM_PATH}` : ""}: apt-get install -y chromium (scripts/setup.sh does it when CI=true), or set CHROMIUM_PATH`;
const IN_CI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false" && process.env.CI !== "0";

// A browser enforces CORS; fetch from Node does not. So the real check is a
// page on another origin calling the gateway, as a browser app would. Off CI,
// a machine without chromium skips with the reason; in CI, it fails.
describe("a real browser calls the gateway cross-origin", { skip: !CHROMIUM && !IN_CI ? MISSING : false }, () => {
  const harness = useHarness();
  let app: PageServer;
  let stranger: PageServer;
  let browser: Browser;
  let gw: GatewayHandle;
  let base: string;

  before(async () => {
    if (!CHROMIUM) throw new Error(MISSING);
    app = await servePage();
    stranger = await servePage();
    const cfg = harness.config({
      gateway: { cors: { origins: [app.origin] }, models: [{ id: "sim", queueWithoutWorkers: true }] },
      workers: [{ name: "sim", slots: 2, models: [{ id: "sim", engine: "sim", options: { outputTokens: 6, itlMs: 1 } }] }],
    });
    gw = await harness.gateway(cfg);
    harness.worker(cfg, "sim");
    browser = await launchChromium(CHROMIUM);
    await waitForModel(gw.url, "sim");
    base = `${gw.url}/v1`;
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await stranger?.close();
  });

  /** A fresh page on `origin` with the SDK loaded; page errors fail the wait with their text. */
  async function openPage(origin: string): Promise<Page> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${origin}/`);
    await page.waitForFunction("window.pageReady === true", undefined, { timeout: 30_000 }).catch((e: unknown) => {
      throw new Error(`the page did not load the SDK: ${errors.join("; ") || String(e)}`);
    });
    return page;
  }

  // page.evaluate's result type is the caller's word; the assertions that follow are the check.
  const run = <T>(page: Page, check: string): Promise<T> => page.evaluate<T>(`window.checks.${check}(${JSON.stringify(base)})`);

  test("the openai SDK in the page: a non-stream and a streamed chat completion, x-request-id read from each", async () => {
    const page = await openPage(app.origin);
    const r = await run<SdkResult>(page, "sdk");
    assert.equal(r.whole.object, "chat.completion");
    assert.ok(r.whole.content.length > 0);
    assert.equal(r.whole.requestId, "browser-whole", "the page reads x-request-id of a whole answer");
    assert.equal(r.stream.requestId, "browser-stream", "and of a stream, whose headers bypass Fastify");
    assert.match(r.stream.contentType ?? "", /text\/event-stream/);
    assert.ok(r.stream.chunks > 1 && r.stream.text.length > 0, JSON.stringify(r.stream));
    await page.close();
  });

  test("a page's own fetch reads a stream chunk by chunk, and an error's status, body and headers", async () => {
    const page = await openPage(app.origin);
    const s = await run<FetchResult>(page, "fetchStream");
    assert.equal(s.status, 200);
    assert.ok(s.done, "read to data: [DONE]");
    assert.match(s.requestId ?? "", /.+/);
    const e = await run<ErrorResult>(page, "notFound");
    assert.deepEqual({ status: e.status, code: e.code }, { status: 404, code: "model_not_found" });
    assert.match(e.requestId ?? "", /.+/, "an error's headers are readable too");
    await page.close();
  });

  test("from an origin the gateway does not list, the browser refuses: the preflight has no Access-Control-Allow-Origin", async () => {
    const page = await openPage(stranger.origin);
    const r = await run<string>(page, "blocked");
    assert.match(r, /^refused: TypeError/, r);
    await page.close();
    // What the browser saw, asked again from Node (which does not enforce CORS).
    const pre = await fetch(`${base}/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: stranger.origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
  });
});
