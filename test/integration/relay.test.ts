import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type OpenAI from "openai";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { spawnWorker, startTestGateway, testConfig, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { FAKE_OUTPUT_TOKENS, startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";
import { joinChoices, postJson, postSse, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

const KEY = "sk-test-secret-0123456789";

// The openai-http engine in real worker processes, relaying to a local OpenAI-shaped server.
describe("relay through the openai-http engine", () => {
  let nats: TestNats;
  let fake: FakeOpenAI;
  let gw: GatewayHandle;
  let cfg: Config;
  const workers: WorkerProcess[] = [];
  let chat: string;

  before(async () => {
    nats = await startNats();
    fake = await startFakeOpenAI();
    process.env.FAKE_UPSTREAM_KEY = KEY;
    const model = (name: string) => ({
      name, slots: 2,
      models: [{ id: "relay/m", engine: "openai-http", options: { baseUrl: fake.url, upstreamModel: "up-model", apiKeyEnv: "FAKE_UPSTREAM_KEY", headers: { "x-worker": name } } }],
    });
    cfg = testConfig(nats.url, { workers: [model("a"), model("b")] });
    workers.push(spawnWorker(cfg, "a"), spawnWorker(cfg, "b"));
    gw = await startTestGateway(cfg);
    chat = `${gw.url}/v1/chat/completions`;
    await waitForModel(gw.url, "relay/m");
  });
  after(async () => {
    await gw?.close();
    for (const w of workers) {
      w.child.kill("SIGTERM");
      await w.exited;
    }
    await fake?.close();
    await nats?.close();
  });

  const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: "relay/m", messages: [{ role: "user", content }], ...extra });

  test("non-stream relays the body upstream and the answer back", async () => {
    fake.requests.length = 0;
    const res = await postJson(chat, ask("alpha beta gamma", { top_k: 5, temperature: 0.5, max_completion_tokens: 50 }));
    assert.equal(res.status, 200);
    const body = await readJson<OpenAI.ChatCompletion>(res);
    assert.equal(body.choices[0]?.message.content?.split(" ")[0], "alpha");
    assert.equal(body.choices[0]?.finish_reason, "stop");
    assert.equal(body.usage?.completion_tokens, FAKE_OUTPUT_TOKENS);
    assert.equal(fake.requests.length, 1);
    const up = fake.requests[0] as { headers: Record<string, string>; body: Record<string, unknown> };
    assert.equal(up.body.model, "up-model");
    assert.equal(up.body.top_k, 5, "unknown fields pass through");
    assert.equal(up.body.temperature, 0.5);
    assert.equal(up.body.max_completion_tokens, 50);
    assert.equal(up.headers.authorization, `Bearer ${KEY}`);
  });

  test("stream relays chunks as OpenAI SSE with include_usage, n and stop", async () => {
    const r = await postSse<OpenAI.ChatCompletionChunk>(chat, ask("one two three four", { stream: true, n: 2, stream_options: { include_usage: true } }));
    assert.equal(r.status, 200);
    assert.ok(r.done);
    const choices = joinChoices(r.events);
    assert.equal(choices.size, 2);
    assert.equal(choices.get(0)?.role, "assistant");
    assert.ok(choices.get(0)?.text.startsWith("one two"));
    const last = r.events[r.events.length - 1];
    assert.equal(last?.usage?.completion_tokens, 2 * FAKE_OUTPUT_TOKENS);
    const cut = await postSse(chat, ask("one two three four", { stream: true, stop: ["three"] }));
    assert.equal(joinChoices(cut.events).get(0)?.text, "one two ");
    assert.equal(joinChoices(cut.events).get(0)?.finish, "stop");
    const short = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("one two three", { max_tokens: 2 })));
    assert.equal(short.choices[0]?.finish_reason, "length");
  });

  test("two workers share the model's queue and each job runs exactly once", async () => {
    fake.requests.length = 0;
    fake.setPace({ ttftMs: 30 });
    const N = 24;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => postJson(chat, ask(`job${i} x`))));
    fake.setPace({});
    for (const r of results) assert.equal(r.status, 200);
    const seen = fake.requests.map((q) => ((q.body as { messages: { content: string }[] }).messages[0]?.content ?? "").split(" ")[0]);
    assert.equal(seen.length, N, "one upstream call per job");
    assert.equal(new Set(seen).size, N, "no job ran twice");
    const byWorker = new Set(fake.requests.map((q) => q.headers["x-worker"]));
    assert.deepEqual([...byWorker].sort(), ["a", "b"], "both workers took jobs");
  });

  test("an upstream 429 reaches the client as 429 with its Retry-After", async () => {
    fake.failNext({ status: 429, headers: { "retry-after": "17" }, body: { error: { message: "Rate limit reached", type: "requests", param: null, code: "rate_limit_exceeded" } } });
    const res = await postJson(chat, ask("x", { stream: true }));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "17");
    const body = (await res.json()) as { error: { type: string; message: string } };
    assert.match(body.error.message, /Rate limit/);
  });

  test("upstream 500 and refused credentials become 502, and the key never shows", async () => {
    fake.failNext({ status: 500 });
    assert.equal((await postJson(chat, ask("x"))).status, 502);
    fake.failNext({ status: 401, body: { error: { message: `Incorrect API key provided: ${KEY}`, type: "invalid_request_error", param: null, code: "invalid_api_key" } } });
    const res = await postJson(chat, ask("x"));
    assert.equal(res.status, 502);
    const text = await res.text();
    assert.ok(!text.includes(KEY) && !text.includes("0123456789"), `no key in ${text}`);
    for (const w of workers) assert.ok(!w.output().includes(KEY), "no key in worker logs");
  });

  test("an error after the first token ends the stream with one error event", async () => {
    fake.errorMidStreamNext(3);
    const r = await postSse(chat, ask("a b c d e f g", { stream: true }));
    assert.equal(r.status, 200);
    const last = r.events[r.events.length - 1] as { error?: { message: string; type: string } };
    assert.ok(last.error, `last event is an error: ${r.raw}`);
    assert.equal(r.done, false, "no [DONE] after an error");
    assert.ok((joinChoices(r.events).get(0)?.text ?? "").length > 0, "tokens before the error were delivered");
  });

  test("a worker that goes silent mid-answer is cut off by the gateway's idle timeout", async () => {
    const strict = await startTestGateway({ ...cfg, gateway: { ...cfg.gateway, idleTimeoutMs: 800 } });
    try {
      fake.hangNext(2);
      const started = Date.now();
      const r = await postSse(`${strict.url}/v1/chat/completions`, ask("a b c d e", { stream: true }));
      const last = r.events[r.events.length - 1] as { error?: { code: string } };
      assert.equal(last.error?.code, "timeout", r.raw);
      assert.ok(Date.now() - started < 5000);
      // The relay keeps serving after the cut-off job.
      const ok = await postJson(`${strict.url}/v1/chat/completions`, ask("after"));
      assert.equal(ok.status, 200);
    } finally {
      await strict.close();
    }
  });
});
