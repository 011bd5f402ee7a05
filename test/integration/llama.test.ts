import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { GatewayHandle } from "../../gateway/main.js";
import { writeDemoModel } from "../../workers/engines/llama-cpp/demo-model.js";
import { spawnWorker, startTestGateway, testConfig, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { joinChoices, postJson, postSse } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

type Json = Record<string, any>;
const ask = (content: string, extra: Json = {}) => ({ model: "demo", messages: [{ role: "user", content }], ...extra });

// Real llama.cpp inference on the generated demo model, in a real worker process, through NATS and the facade.
describe("llama-cpp engine through the broker", () => {
  let nats: TestNats;
  let gw: GatewayHandle;
  let worker: WorkerProcess;
  let chat: string;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "demo-model-"));
    const modelPath = join(dir, "demo.gguf");
    await writeDemoModel(modelPath);
    nats = await startNats();
    const cfg = testConfig(nats.url, {
      workers: [{ name: "llama", slots: 2, models: [{ id: "demo", engine: "llama-cpp", options: { modelPath, gpu: false, threads: 1, contextSize: 1024 } }] }],
    });
    worker = spawnWorker(cfg, "llama");
    gw = await startTestGateway(cfg);
    chat = `${gw.url}/v1/chat/completions`;
    await waitForModel(gw.url, "demo", 30_000);
  });
  after(async () => {
    await gw?.close();
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await nats?.close();
  });

  test("stream with usage; the same seed gives the same text", async () => {
    const r = await postSse(chat, ask("Tell me a story", { stream: true, seed: 42, max_tokens: 24, stream_options: { include_usage: true } }));
    assert.equal(r.status, 200);
    assert.ok(r.done);
    const c = joinChoices(r.events).get(0);
    assert.equal(c?.role, "assistant");
    assert.ok(c?.finish === "stop" || c?.finish === "length");
    const usage = (r.events[r.events.length - 1] as Json).usage;
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0 && usage.completion_tokens <= 24);
    const again = (await (await postJson(chat, ask("Tell me a story", { seed: 42, max_tokens: 24 }))).json()) as Json;
    assert.equal(again.choices[0].message.content, c?.text);
  });

  test("max_tokens gives finish_reason length with exactly that many tokens", async () => {
    const b = (await (await postJson(chat, ask("Count", { max_tokens: 3, seed: 1, temperature: 0.9 }))).json()) as Json;
    // The model may end on its own end-of-turn token first; then it is "stop" with fewer tokens.
    const { finish_reason: finish } = b.choices[0];
    const n: number = b.usage.completion_tokens;
    assert.ok((finish === "length" && n === 3) || (finish === "stop" && n < 3), `${finish} after ${n} tokens`);
  });

  test("stop cuts the text before the stop sequence", async () => {
    const full = (await (await postJson(chat, ask("Go on", { seed: 9, max_tokens: 30 }))).json()) as Json;
    const text: string = full.choices[0].message.content;
    const words = text.trim().split(/\s+/);
    assert.ok(words.length >= 3, `seed 9 gives a long enough answer to cut: ${text}`);
    const stop = ` ${words[2]}`;
    const cut = (await (await postJson(chat, ask("Go on", { seed: 9, max_tokens: 30, stop }))).json()) as Json;
    assert.equal(cut.choices[0].message.content, text.slice(0, text.indexOf(stop)));
    assert.equal(cut.choices[0].finish_reason, "stop");
  });

  test("json_schema output parses and follows the schema", async () => {
    const schema = { type: "object", properties: { city: { type: "string", maxLength: 12 }, n: { type: "integer" } }, required: ["city", "n"], additionalProperties: false };
    const b = (await (await postJson(chat, ask("Give JSON", { max_tokens: 200, response_format: { type: "json_schema", json_schema: { name: "x", schema } } }))).json()) as Json;
    const v = JSON.parse(b.choices[0].message.content) as Json;
    assert.equal(typeof v.city, "string");
    assert.ok(Number.isInteger(v.n));
  });

  test("a forced tool call streams as deltas that join into valid JSON", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 10 } }, required: ["city"] } } }];
    const r = await postSse(chat, ask("Weather?", { stream: true, max_tokens: 120, tools, tool_choice: { type: "function", function: { name: "get_weather" } } }));
    let name = "";
    let args = "";
    let finish = "";
    for (const e of r.events as Json[]) {
      for (const c of e.choices ?? []) {
        for (const tc of c.delta?.tool_calls ?? []) {
          name += tc.function?.name ?? "";
          args += tc.function?.arguments ?? "";
        }
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(name, "get_weather");
    assert.equal(finish, "tool_calls");
    assert.equal(typeof (JSON.parse(args) as Json).city, "string");
  });

  test("with no maxLength, a forced call and json_object still end as whole JSON within max_tokens", async () => {
    // The random model never closes a free string: only the bounds drawn from max_tokens end these answers.
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } } } }];
    for (const seed of [1, 2]) {
      const r = await postSse(chat, ask("Weather?", { stream: true, seed, max_tokens: 32, tools, tool_choice: "required", stream_options: { include_usage: true } }));
      let args = "";
      let finish = "";
      for (const e of r.events as Json[]) {
        for (const c of e.choices ?? []) {
          for (const tc of c.delta?.tool_calls ?? []) args += tc.function?.arguments ?? "";
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
      assert.equal(finish, "tool_calls", args);
      assert.deepEqual(Object.keys(JSON.parse(args) as Json), ["city", "days"]);
      assert.ok((r.events[r.events.length - 1] as Json).usage.completion_tokens <= 32);
      const b = (await (await postJson(chat, ask("JSON please", { seed, max_tokens: 16, response_format: { type: "json_object" } }))).json()) as Json;
      assert.equal(b.choices[0].finish_reason, "stop");
      assert.equal(typeof JSON.parse(b.choices[0].message.content), "object");
    }
    // Too few tokens for even {"city": "", "days": -0}: cut, as OpenAI does.
    const cut = (await (await postJson(chat, ask("Weather?", { max_tokens: 4, tools, tool_choice: "required" }))).json()) as Json;
    assert.equal(cut.choices[0].finish_reason, "length");
  });

  test("embeddings as floats and base64; legacy completions", async () => {
    const f = (await (await postJson(`${gw.url}/v1/embeddings`, { model: "demo", input: ["hello", "world"] })).json()) as Json;
    assert.equal(f.data.length, 2);
    assert.equal(f.data[0].embedding.length, 64);
    const b = (await (await postJson(`${gw.url}/v1/embeddings`, { model: "demo", input: ["hello", "world"], encoding_format: "base64" })).json()) as Json;
    const decoded = Array.from(new Float32Array(Uint8Array.from(Buffer.from(b.data[0].embedding as string, "base64")).buffer));
    assert.deepEqual(decoded, f.data[0].embedding);
    const c = (await (await postJson(`${gw.url}/v1/completions`, { model: "demo", prompt: "Once upon a time", max_tokens: 5, seed: 3 })).json()) as Json;
    assert.equal(c.object, "text_completion");
    assert.ok(c.usage.completion_tokens > 0 && c.usage.completion_tokens <= 5);
  });

  test("a cancelled generation frees its sequence; 4 concurrent requests share 2 sequences", async () => {
    const ac = new AbortController();
    const res = await postJson(chat, ask("Long", { stream: true, max_tokens: 800 }), {}, ac.signal);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    ac.abort();
    const t0 = Date.now();
    const results = await Promise.all([0, 1, 2, 3].map((i) => postJson(chat, ask(`Q${i}`, { max_tokens: 8, seed: i }))));
    for (const r of results) assert.equal(r.status, 200);
    const bodies = (await Promise.all(results.map((r) => r.json()))) as Json[];
    for (const b of bodies) assert.ok(b.usage.completion_tokens > 0);
    console.log(`# 4 requests on 2 sequences after a cancel: ${Date.now() - t0} ms`);
  });
});
