import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import type { GatewayHandle } from "../../facade/gateway.js";
import { startTestGateway, testConfig } from "../helpers/broker.js";
import { postJson, postSse } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

async function expectError(res: Response, status: number, code: string | null, param?: string): Promise<ErrorBody> {
  assert.equal(res.status, status);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  assert.match(res.headers.get("x-request-id") ?? "", /.+/, "errors carry x-request-id too");
  const body = (await res.json()) as ErrorBody;
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 10, "a message a person can act on");
  if (param !== undefined) assert.equal(body.error.param, param);
  return body;
}

// Errors in OpenAI's shape, from a gateway whose models have no worker.
describe("HTTP errors", () => {
  let nats: TestNats;
  let gw: GatewayHandle;
  let chat: string;

  before(async () => {
    nats = await startNats();
    const cfg = testConfig(nats.url, { gateway: { bodyLimitBytes: 64 * 1024, models: [{ id: "idle-model" }] } });
    gw = await startTestGateway(cfg);
    chat = `${gw.url}/v1/chat/completions`;
  });
  after(async () => {
    await gw?.close();
    await nats?.close();
  });

  const messages = [{ role: "user", content: "hi" }];

  test("unknown model is 404 model_not_found, stream or not", async () => {
    const b = await expectError(await postJson(chat, { model: "nope", messages }), 404, "model_not_found", "model");
    assert.match(b.error.message, /nope/);
    const s = await postSse(chat, { model: "nope", messages, stream: true });
    assert.equal(s.status, 404, "a stream request fails as plain HTTP, never a 200 stream");
  });

  test("a configured model with no worker is 503 with Retry-After", async () => {
    const res = await postJson(chat, { model: "idle-model", messages });
    assert.ok(res.headers.get("retry-after"));
    await expectError(res, 503, "model_unavailable");
  });

  test("unknown route and wrong method are 404 in OpenAI's shape", async () => {
    const b = await expectError(await postJson(`${gw.url}/v1/nothing`, {}), 404, "not_found");
    assert.match(b.error.message, /POST \/v1\/nothing/);
    await expectError(await fetch(`${gw.url}/v1/chat/completions`), 404, "not_found");
    await expectError(await fetch(`${gw.url}/v1/models/nope`), 404, "model_not_found");
  });

  test("malformed JSON and empty bodies are 400 invalid_json", async () => {
    await expectError(await postJson(chat, "{not json"), 400, "invalid_json");
    await expectError(await postJson(chat, ""), 400, "invalid_json");
    await expectError(await postJson(chat, "[1,2]"), 400, "invalid_request");
  });

  test("validation errors name the field, also on stream requests", async () => {
    await expectError(await postJson(chat, { model: "idle-model" }), 400, "invalid_request", "messages");
    await expectError(await postJson(chat, { model: "idle-model", messages, temperature: 7 }), 400, "invalid_request", "temperature");
    await expectError(await postJson(chat, { model: "idle-model", messages: [{ role: "robot", content: "x" }], stream: true }), 400, "invalid_request", "messages[0].role");
    await expectError(await postJson(chat, { model: "idle-model", messages, stream_options: { include_usage: true } }), 400, "invalid_request");
  });

  test("an oversized body is 413 and the client can read it", async () => {
    const big = JSON.stringify({ model: "idle-model", messages: [{ role: "user", content: "x".repeat(512 * 1024) }] });
    await expectError(await postJson(chat, big), 413, "request_too_large");
  });

  test("an oversized body announced by Content-Length is refused before it is read", async () => {
    // A raw request that sends headers only: the gateway must answer without waiting for 1 MB.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(chat, { method: "POST", headers: { "content-type": "application/json", "content-length": String(1024 * 1024) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write("{");
      setTimeout(() => req.destroy(), 3000);
    });
    assert.equal(status, 413);
  });

  test("a body the gateway accepts but NATS cannot carry is 413, not a 5xx", async () => {
    // The test nats-server's max_payload is 1 MB; this gateway accepts 4 MB bodies.
    const cfg = testConfig(nats.url, { gateway: { bodyLimitBytes: 4 * 1024 * 1024, models: [{ id: "big", queueWithoutWorkers: true }] } });
    const big = await startTestGateway(cfg);
    try {
      const body = JSON.stringify({ model: "big", messages: [{ role: "user", content: "x".repeat(2 * 1024 * 1024) }] });
      const b = await expectError(await postJson(`${big.url}/v1/chat/completions`, body), 413, "request_too_large");
      assert.match(b.error.message, /NATS/);
    } finally {
      await big.close();
    }
  });
});
