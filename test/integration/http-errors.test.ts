import assert from "node:assert/strict";
import { request, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, test } from "node:test";
import type { GatewayHandle } from "../../gateway/main.js";
import type { ErrorBody } from "../helpers/bodies.js";
import { startTestGateway, testConfig } from "../helpers/broker.js";
import { postJson, postSse } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";


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

interface Upload {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** Socket errors seen until the connection closed (EPIPE, ECONNRESET): a reset loses the answer for most clients. */
  errors: string[];
}

/**
 * Writes the whole body with a raw node:http client, waits until the write is
 * done, then reads the answer and waits for the connection to close: what a
 * client that does not expect an early answer does.
 */
async function uploadThenRead(url: string, body: Buffer, chunked: boolean): Promise<Upload> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (!chunked) headers["content-length"] = String(body.length);
  const req = request(url, { method: "POST", headers });
  const errors: string[] = [];
  req.on("error", (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
  const closed = new Promise<void>((resolve) => req.once("socket", (s) => s.once("close", () => resolve())));
  const answered = new Promise<Omit<Upload, "errors">>((resolve) => {
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
  });
  // Chunked: several writes, so the body really goes out as chunks.
  const parts = chunked ? 16 : 1;
  const size = Math.ceil(body.length / parts);
  for (let i = 0; i < parts - 1; i++) req.write(body.subarray(i * size, (i + 1) * size));
  await new Promise<void>((resolve) => req.end(body.subarray((parts - 1) * size), () => resolve()));
  // A reset before the answer arrives means no answer at all: the close settles the race.
  const res = await Promise.race([answered, closed.then(() => undefined)]);
  await closed;
  if (!res) assert.fail(`no answer before the connection closed; errors: ${errors.join(", ") || "none"}`);
  return { ...res, errors };
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

  test("an oversized body announced by Content-Length past the discard bound is refused before it is read", async () => {
    // 1 MB is over 4 × the 64 KiB limit: the gateway answers without waiting for the upload.
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

  test("a chunked upload that goes past the discard bound is answered without waiting for its end", async () => {
    // 4 × the 64 KiB limit is 256 KiB; the request is never ended, so only the bound can make the gateway answer.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(chat, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on("error", reject);
      req.write(Buffer.alloc(512 * 1024, "x"));
    });
    assert.equal(status, 413);
  });

  for (const chunked of [false, true]) {
    test(`a 16 MiB body written in full (${chunked ? "chunked" : "Content-Length"}) gets a readable 413 naming the limit, not a reset`, async () => {
      // The default 8 MiB limit: 16 MiB is over it, and within the bound the gateway reads and discards.
      const cfg = testConfig(nats.url, { gateway: { models: [{ id: "idle-model" }] } });
      const gw8 = await startTestGateway(cfg);
      try {
        const body = Buffer.alloc(16 * 1024 * 1024, "x");
        const res = await uploadThenRead(`${gw8.url}/v1/chat/completions`, body, chunked);
        assert.deepEqual(res.errors, [], "the connection closes without a reset");
        assert.equal(res.status, 413);
        assert.match(String(res.headers["content-type"]), /application\/json/);
        assert.equal(res.headers.connection, "close");
        const b = JSON.parse(res.text) as ErrorBody;
        assert.deepEqual(Object.keys(b.error).sort(), ["code", "message", "param", "type"]);
        assert.equal(b.error.code, "request_too_large");
        assert.equal(b.error.type, "invalid_request_error");
        assert.match(b.error.message, /8 MiB|8388608/, "the message names the limit");
      } finally {
        await gw8.close();
      }
    });
  }

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
