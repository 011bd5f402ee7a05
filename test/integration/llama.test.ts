import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import type OpenAI from "openai";
import type { GatewayHandle } from "../../gateway/main.js";
import { writeDemoModel } from "../../workers/engines/llama-cpp/demo-model.js";
import { last, messageText, nth, usageOf, type Base64EmbeddingResponse, type ErrorBody } from "../helpers/bodies.js";
import { spawnWorker, startTestGateway, testConfig, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { joinChoices, postJson, postSse, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

type Chunk = OpenAI.ChatCompletionChunk;
const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: "demo", messages: [{ role: "user", content }], ...extra });

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
    const r = await postSse<Chunk>(chat, ask("Tell me a story", { stream: true, seed: 42, max_tokens: 24, stream_options: { include_usage: true } }));
    assert.equal(r.status, 200);
    assert.ok(r.done);
    const c = joinChoices(r.events).get(0);
    assert.equal(c?.role, "assistant");
    assert.ok(c?.finish === "stop" || c?.finish === "length");
    const usage = usageOf(last(r.events));
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0 && usage.completion_tokens <= 24);
    const again = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("Tell me a story", { seed: 42, max_tokens: 24 })));
    assert.equal(again.choices[0]?.message.content, c?.text);
  });

  test("max_tokens gives finish_reason length with exactly that many tokens", async () => {
    const b = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("Count", { max_tokens: 3, seed: 1, temperature: 0.9 })));
    // The model may end on its own end-of-turn token first; then it is "stop" with fewer tokens.
    const { finish_reason: finish } = nth(b.choices);
    const n = usageOf(b).completion_tokens;
    assert.ok((finish === "length" && n === 3) || (finish === "stop" && n < 3), `${finish} after ${n} tokens`);
  });

  test("stop cuts the text before the stop sequence", async () => {
    const full = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("Go on", { seed: 9, max_tokens: 30 })));
    const text = messageText(full);
    const words = text.trim().split(/\s+/);
    assert.ok(words.length >= 3, `seed 9 gives a long enough answer to cut: ${text}`);
    const stop = ` ${words[2]}`;
    const cut = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("Go on", { seed: 9, max_tokens: 30, stop })));
    assert.equal(cut.choices[0]?.message.content, text.slice(0, text.indexOf(stop)));
    assert.equal(cut.choices[0]?.finish_reason, "stop");
  });

  test("json_schema output parses and follows the schema", async () => {
    const schema = { type: "object", properties: { city: { type: "string", maxLength: 12 }, n: { type: "integer" } }, required: ["city", "n"], additionalProperties: false };
    const b = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("Give JSON", { max_tokens: 200, response_format: { type: "json_schema", json_schema: { name: "x", schema } } })));
    const v = JSON.parse(messageText(b)) as { city?: unknown; n?: unknown };
    assert.equal(typeof v.city, "string");
    assert.ok(Number.isInteger(v.n));
  });

  test("a forced tool call streams as deltas that join into valid JSON", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 10 } }, required: ["city"] } } }];
    const r = await postSse<Chunk>(chat, ask("Weather?", { stream: true, max_tokens: 120, tools, tool_choice: { type: "function", function: { name: "get_weather" } } }));
    let name = "";
    let args = "";
    let finish = "";
    for (const e of r.events) {
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
    assert.equal(typeof (JSON.parse(args) as { city?: unknown }).city, "string");
  });

  test("through /v1/messages with the official SDK: a grammar-forced tool_use, structured output, a stop sequence", async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: "unused-auth-is-off", maxRetries: 0 });
    const textOf = (m: Anthropic.Message): string => m.content.map((b) => (b.type === "text" ? b.text : "")).join("");
    const tool: Anthropic.Tool = { name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string", maxLength: 10 } }, required: ["city"] } };
    const forced: Anthropic.MessageCreateParamsNonStreaming = {
      model: "demo", max_tokens: 120, tools: [tool], tool_choice: { type: "tool", name: "get_weather" }, messages: [{ role: "user", content: "Weather?" }],
    };
    for (const m of [await client.messages.create(forced), await client.messages.stream(forced).finalMessage()]) {
      const use = m.content.find((b) => b.type === "tool_use");
      assert.ok(use?.type === "tool_use", JSON.stringify(m.content));
      assert.equal(use.name, "get_weather");
      assert.equal(typeof (use.input as { city?: unknown }).city, "string");
      assert.equal(m.stop_reason, "tool_use");
    }
    const schema = { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"], additionalProperties: false };
    const structured = await client.messages.create({ model: "demo", max_tokens: 200, output_config: { format: { type: "json_schema", schema } }, messages: [{ role: "user", content: "Give JSON" }] });
    assert.equal(typeof (JSON.parse(textOf(structured)) as { city?: unknown }).city, "string");

    // Greedy, so both calls say the same. The SDK's types no longer list temperature; the API (and this gateway) take it.
    const plain = { model: "demo", max_tokens: 30, temperature: 0, messages: [{ role: "user" as const, content: "Go on" }] };
    const full = textOf(await client.messages.create(plain));
    const words = full.trim().split(/\s+/);
    assert.ok(words.length >= 3, `a long enough answer to cut: ${full}`);
    const stop = ` ${words[2]}`;
    const cut = await client.messages.create({ ...plain, stop_sequences: [stop] });
    assert.deepEqual([textOf(cut), cut.stop_reason, cut.stop_sequence], [full.slice(0, full.indexOf(stop)), "stop_sequence", stop]);
  });

  test("with no maxLength, a forced call and json_object still end as whole JSON within max_tokens", async () => {
    // The random model never closes a free string: only the bounds drawn from max_tokens end these answers.
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } } } }];
    for (const seed of [1, 2]) {
      const r = await postSse<Chunk>(chat, ask("Weather?", { stream: true, seed, max_tokens: 32, tools, tool_choice: "required", stream_options: { include_usage: true } }));
      let args = "";
      let finish = "";
      for (const e of r.events) {
        for (const c of e.choices ?? []) {
          for (const tc of c.delta?.tool_calls ?? []) args += tc.function?.arguments ?? "";
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
      assert.equal(finish, "tool_calls", args);
      assert.deepEqual(Object.keys(JSON.parse(args) as object), ["city", "days"]);
      assert.ok(usageOf(last(r.events)).completion_tokens <= 32);
      const b = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("JSON please", { seed, max_tokens: 16, response_format: { type: "json_object" } })));
      assert.equal(b.choices[0]?.finish_reason, "stop");
      assert.equal(typeof JSON.parse(messageText(b)), "object");
    }
    // Too few tokens for even {"city": "", "days": -0}: cut, as OpenAI does.
    const cut = await readJson<OpenAI.ChatCompletion>(postJson(chat, ask("Weather?", { max_tokens: 4, tools, tool_choice: "required" })));
    assert.equal(cut.choices[0]?.finish_reason, "length");
  });

  test("a prompt over the context is 400 context_length_exceeded, streamed or not, chat or legacy", async () => {
    const long = "the sea ".repeat(1000);
    for (const stream of [false, true]) {
      const res = await postJson(chat, ask(long, { stream }));
      assert.equal(res.status, 400, "refused before any output, so a plain HTTP error even for a stream");
      const { error } = await readJson<ErrorBody>(res);
      assert.deepEqual([error.code, error.type, error.param], ["context_length_exceeded", "invalid_request_error", "messages"]);
      assert.match(error.message, /^This model's maximum context length is 1024 tokens\. However, your messages resulted in \d+ tokens\. Please reduce the length of the messages\.$/);
    }
    const res = await postJson(`${gw.url}/v1/completions`, { model: "demo", prompt: long });
    const { error } = await readJson<ErrorBody>(res);
    assert.deepEqual([res.status, error.code, error.param], [400, "context_length_exceeded", "prompt"]);
    assert.match(error.message, /your prompt resulted in \d+ tokens\. Please reduce the length of the prompt\.$/);
  });

  test("embeddings as floats and base64; legacy completions", async () => {
    const f = await readJson<OpenAI.CreateEmbeddingResponse>(postJson(`${gw.url}/v1/embeddings`, { model: "demo", input: ["hello", "world"] }));
    assert.equal(f.data.length, 2);
    assert.equal(f.data[0]?.embedding.length, 64);
    const b = await readJson<Base64EmbeddingResponse>(postJson(`${gw.url}/v1/embeddings`, { model: "demo", input: ["hello", "world"], encoding_format: "base64" }));
    const decoded = Array.from(new Float32Array(Uint8Array.from(Buffer.from(nth(b.data).embedding, "base64")).buffer));
    assert.deepEqual(decoded, f.data[0]?.embedding);
    const c = await readJson<OpenAI.Completion>(postJson(`${gw.url}/v1/completions`, { model: "demo", prompt: "Once upon a time", max_tokens: 5, seed: 3 }));
    assert.equal(c.object, "text_completion");
    const { completion_tokens: completed } = usageOf(c);
    assert.ok(completed > 0 && completed <= 5);
  });

  test("count_tokens is exact: the count equals the prompt tokens a real completion of the same messages reports", async () => {
    const prompt = { model: "demo", system: "You are terse.", messages: [{ role: "user", content: "Hi there" }, { role: "assistant", content: "Hello." }, { role: "user", content: "Tell me more" }] };
    const counted = await readJson<{ input_tokens: number }>(postJson(`${gw.url}/v1/messages/count_tokens`, prompt));
    const called = await readJson<{ usage: { input_tokens: number } }>(postJson(`${gw.url}/v1/messages`, { ...prompt, max_tokens: 3, temperature: 0 }));
    assert.ok(counted.input_tokens > 0);
    assert.equal(counted.input_tokens, called.usage.input_tokens);
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
    const bodies = await Promise.all(results.map((r) => readJson<OpenAI.ChatCompletion>(r)));
    for (const b of bodies) assert.ok(usageOf(b).completion_tokens > 0);
    console.log(`# 4 requests on 2 sequences after a cancel: ${Date.now() - t0} ms`);
  });
});
