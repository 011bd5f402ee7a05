import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { GatewayHandle } from "../../gateway/main.js";
import { EXPOSED_HEADERS } from "../../http/openai/cors.js";
import type { ErrorBody } from "../helpers/bodies.js";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { parseSse, postJson, readJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const APP = "http://app.example:3000";
const messages = [{ role: "user", content: "hi" }];
// What the openai SDK sends from a browser, plus our own request headers.
const REQUEST_HEADERS = "authorization,content-type,x-request-id,x-priority,x-upstream-authorization,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout,openai-organization,openai-project";
const API_ROUTES: [string, string][] = [
  ["POST", "/v1/chat/completions"],
  ["POST", "/v1/completions"],
  ["POST", "/v1/embeddings"],
  ["GET", "/v1/models"],
  ["GET", "/v1/models/sim"],
];

function preflight(url: string, origin: string, method = "POST"): Promise<Response> {
  return fetch(url, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": REQUEST_HEADERS },
  });
}

/** What a browser needs to hand the response to the page and let it read our headers. */
function assertReadable(res: Response, origin: string, what: string): void {
  assert.equal(res.headers.get("access-control-allow-origin"), origin, `${what}: Access-Control-Allow-Origin`);
  const exposed = (res.headers.get("access-control-expose-headers") ?? "").split(/,\s*/);
  for (const h of EXPOSED_HEADERS) assert.ok(exposed.includes(h), `${what}: exposes ${h} (got ${exposed.join(",")})`);
}

describe("CORS", () => {
  const harness = useHarness();
  let gw: GatewayHandle;
  let chat: string;

  before(async () => {
    const cfg = harness.config({
      queue: { maxPerModel: 1 },
      gateway: {
        cors: { origins: [APP, "https://other.example"] },
        models: [{ id: "sim", queueWithoutWorkers: true }, { id: "held", queueWithoutWorkers: true }],
      },
      workers: [{ name: "sim", slots: 2, models: [{ id: "sim", engine: "sim", options: { outputTokens: 5, itlMs: 1 } }] }],
    });
    gw = await harness.gateway(cfg);
    harness.worker(cfg, "sim");
    await waitForModel(gw.url, "sim");
    chat = `${gw.url}/v1/chat/completions`;
  });

  test("a preflight from a listed origin is answered on every API route, reflecting the requested headers", async () => {
    for (const [method, path] of API_ROUTES) {
      const res = await preflight(`${gw.url}${path}`, APP, method);
      assert.equal(res.status, 204, `${path}: ${await res.text()}`);
      assert.equal(res.headers.get("access-control-allow-origin"), APP, path);
      assert.deepEqual(res.headers.get("access-control-allow-methods")?.split(/,\s*/), ["GET", "POST", "DELETE", "OPTIONS"], path);
      assert.equal(res.headers.get("access-control-allow-headers"), REQUEST_HEADERS, `${path}: the SDK's headers are allowed`);
      assert.equal(res.headers.get("access-control-max-age"), "600");
      assert.match(res.headers.get("vary") ?? "", /origin/i, "caches keep answers per origin");
      assert.equal(res.headers.get("access-control-allow-credentials"), null, "keys, never cookies");
    }
    assert.equal((await preflight(chat, "https://other.example")).headers.get("access-control-allow-origin"), "https://other.example");
  });

  test("an origin not listed gets no Access-Control-Allow-Origin, so the browser refuses", async () => {
    for (const origin of ["http://evil.example", "http://app.example:3001", "null"]) {
      const pre = await preflight(chat, origin);
      assert.equal(pre.headers.get("access-control-allow-origin"), null, origin);
      const res = await fetch(`${gw.url}/v1/models`, { headers: { origin } });
      assert.equal(res.status, 200, "the server still answers; the browser withholds it");
      assert.equal(res.headers.get("access-control-allow-origin"), null, origin);
    }
  });

  test("a non-stream completion is readable cross-origin", async () => {
    const res = await postJson(chat, { model: "sim", messages }, { origin: APP, "x-request-id": "cors-1" });
    assert.equal(res.status, 200);
    assertReadable(res, APP, "non-stream");
    assert.equal(res.headers.get("x-request-id"), "cors-1");
    assert.equal((await readJson<{ object: string }>(res)).object, "chat.completion");
  });

  test("a stream carries the CORS headers although its headers bypass Fastify", async () => {
    const res = await postJson(chat, { model: "sim", messages, stream: true }, { origin: APP, "x-request-id": "cors-2" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    assertReadable(res, APP, "stream");
    assert.equal(res.headers.get("x-request-id"), "cors-2");
    assert.match(res.headers.get("vary") ?? "", /origin/i);
    const { events, done } = parseSse(await res.text());
    assert.ok(events.length > 0 && done);
  });

  test("errors are readable cross-origin too: 404, 400 and 429 with Retry-After", async () => {
    const h = { origin: APP };
    const unknownModel = await postJson(chat, { model: "nope", messages, stream: true }, h);
    assert.equal(unknownModel.status, 404);
    assertReadable(unknownModel, APP, "unknown model");
    const unknownUrl = await fetch(`${gw.url}/v1/nothing`, { headers: h });
    assert.equal(unknownUrl.status, 404);
    assertReadable(unknownUrl, APP, "unknown URL");
    const badJson = await postJson(chat, "{not json", h);
    assert.equal(badJson.status, 400);
    assertReadable(badJson, APP, "bad JSON");

    // One job waits for a worker that never comes; the queue's bound (1) refuses the next.
    const waiting = new AbortController();
    const first = postJson(chat, { model: "held", messages }, {}, waiting.signal).catch(() => undefined);
    await waitFor(async () => {
      const q = await readJson<{ data: { model: string; waiting: number }[] }>(fetch(`${gw.url}/admin/queues`));
      return q.data.some((x) => x.model === "held" && x.waiting === 1);
    }, "the first job to be queued");
    const full = await postJson(chat, { model: "held", messages }, h);
    assert.equal(full.status, 429);
    assertReadable(full, APP, "queue full");
    assert.ok(full.headers.get("retry-after"));
    assert.equal((await readJson<ErrorBody>(full)).error.code, "queue_full");
    waiting.abort();
    await first;
  });

  test("an OPTIONS without Origin is no preflight: 204 without Access-Control-Allow-Origin", async () => {
    const res = await fetch(chat, { method: "OPTIONS" });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });
});

describe("CORS off and CORS \"*\"", () => {
  const harness = useHarness();

  test("with no origins configured: no CORS headers, and OPTIONS is a 404 as for any unknown route", async () => {
    const gw = await harness.gateway(harness.config({ gateway: { models: [{ id: "sim" }] } }));
    const pre = await preflight(`${gw.url}/v1/chat/completions`, APP);
    assert.equal(pre.status, 404);
    assert.equal((await readJson<ErrorBody>(pre)).error.code, "not_found");
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    const res = await fetch(`${gw.url}/v1/models`, { headers: { origin: APP } });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("access-control-expose-headers"), null);
  });

  test("\"*\" (auth off on loopback) answers any origin with *", async () => {
    const gw = await harness.gateway(harness.config({ gateway: { cors: { origins: "*" }, models: [{ id: "sim" }] } }));
    const pre = await preflight(`${gw.url}/v1/chat/completions`, "http://anything.example");
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "*");
    const res = await fetch(`${gw.url}/v1/models`, { headers: { origin: "http://anything.example" } });
    assertReadable(res, "*", "models");
  });
});
