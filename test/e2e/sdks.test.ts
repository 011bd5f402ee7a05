import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText } from "ai";
import OpenAI from "openai";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDemoModel } from "../../workers/engines/llama-cpp/demo-model.js";
import { waitForModel } from "../helpers/broker.js";
import { startUp, type Up } from "../helpers/up.js";

// The real `broker up` driven by the clients people use, unchanged but for the base URL.
describe("official SDKs against `broker up`", () => {
  let up: Up;
  let client: OpenAI;

  before(async () => {
    const modelPath = join(mkdtempSync(join(tmpdir(), "demo-")), "demo.gguf");
    await writeDemoModel(modelPath);
    up = await startUp({
      gateway: { models: [{ id: "sim", queueWithoutWorkers: true }] },
      workers: [
        { name: "sim", slots: 4, heartbeatMs: 500, models: [{ id: "sim", engine: "sim", options: { outputTokens: 10, itlMs: 1 } }] },
        { name: "demo", slots: 2, heartbeatMs: 500, models: [{ id: "demo", engine: "llama-cpp", options: { modelPath, gpu: false, threads: 1, contextSize: 1024 } }] },
      ],
    });
    await waitForModel(up.url, "sim");
    await waitForModel(up.url, "demo", 30_000);
    client = new OpenAI({ baseURL: `${up.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    const code = await up?.stop();
    assert.equal(code, 0, `broker up exits 0 on Ctrl-C (output: ${up?.output()})`);
  });

  test("openai: non-stream chat", async () => {
    const r = await client.chat.completions.create({ model: "sim", messages: [{ role: "user", content: "hi" }], seed: 1 });
    assert.equal(r.object, "chat.completion");
    assert.ok((r.choices[0]?.message.content ?? "").length > 0);
    assert.equal(r.usage?.completion_tokens, 10);
  });

  test("openai: stream with include_usage", async () => {
    const stream = await client.chat.completions.create({
      model: "sim", messages: [{ role: "user", content: "hi" }], seed: 1, stream: true, stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    const whole = await client.chat.completions.create({ model: "sim", messages: [{ role: "user", content: "hi" }], seed: 1 });
    assert.equal(text, whole.choices[0]?.message.content);
    assert.equal(finish, "stop");
    assert.equal(usage?.completion_tokens, 10);
  });

  test("openai: models.list and retrieve", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes("sim"));
    assert.equal((await client.models.retrieve("sim")).id, "sim");
  });

  test("openai: errors arrive as the SDK's error classes", async () => {
    await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal(e.code, "model_not_found");
      return true;
    });
    await assert.rejects(client.chat.completions.create({ model: "sim", messages: [{ role: "user", content: "hi" }], temperature: 9 }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.param, "temperature");
      return true;
    });
  });

  test("openai: embeddings (the SDK asks for base64 and decodes it) and legacy completions", async () => {
    const e = await client.embeddings.create({ model: "sim", input: ["hello world", "bye"] });
    assert.equal(e.data.length, 2);
    assert.equal(e.data[0]?.embedding.length, 64);
    assert.ok(e.data[0]?.embedding.every((x) => Number.isFinite(x)));
    const floats = await client.embeddings.create({ model: "sim", input: "hello world", encoding_format: "float" });
    assert.deepEqual(floats.data[0]?.embedding, e.data[0]?.embedding);
    const c = await client.completions.create({ model: "sim", prompt: "Once upon a time", max_tokens: 4 });
    assert.equal(c.choices[0]?.finish_reason, "length");
    assert.equal(c.usage?.completion_tokens, 4);
  });

  test("Vercel AI SDK: generateText and streamText", async () => {
    const provider = createOpenAI({ baseURL: `${up.url}/v1`, apiKey: "unused" });
    const g = await generateText({ model: provider.chat("sim"), prompt: "hi", maxRetries: 0 });
    assert.ok(g.text.length > 0);
    assert.equal(g.finishReason, "stop");
    assert.equal(g.usage.outputTokens, 10);
    const s = streamText({ model: provider.chat("sim"), prompt: "hi", maxRetries: 0 });
    let text = "";
    for await (const part of s.textStream) text += part;
    assert.ok(text.length > 0);
    assert.equal(await s.finishReason, "stop");
  });

  test("LangChain: invoke and stream", async () => {
    const llm = new ChatOpenAI({ model: "sim", apiKey: "unused", configuration: { baseURL: `${up.url}/v1` }, maxRetries: 0 });
    const msg = await llm.invoke("hi");
    assert.ok(String(msg.content).length > 0);
    let text = "";
    for await (const chunk of await llm.stream("hi")) text += String(chunk.content);
    assert.ok(text.length > 0);
  });

  test("openai: real llama.cpp inference streams, answers JSON, calls a tool and embeds", async () => {
    const stream = await client.chat.completions.create({ model: "demo", stream: true, max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    assert.ok(text.length > 0);

    const schema = { type: "object", properties: { answer: { type: "string", maxLength: 20 } }, required: ["answer"], additionalProperties: false };
    const json = await client.chat.completions.create({
      model: "demo", max_tokens: 100, messages: [{ role: "user", content: "JSON please" }],
      response_format: { type: "json_schema", json_schema: { name: "a", schema } },
    });
    assert.equal(typeof (JSON.parse(json.choices[0]?.message.content ?? "") as { answer: unknown }).answer, "string");

    const tool = await client.chat.completions.create({
      model: "demo", max_tokens: 100, messages: [{ role: "user", content: "weather in Paris?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"] } } }],
      tool_choice: "required",
    });
    const call = tool.choices[0]?.message.tool_calls?.[0];
    assert.equal(tool.choices[0]?.finish_reason, "tool_calls");
    assert.ok(call && call.type === "function");
    assert.equal(call.function.name, "get_weather");
    assert.equal(typeof (JSON.parse(call.function.arguments) as { city: unknown }).city, "string");

    const e = await client.embeddings.create({ model: "demo", input: "hello" });
    assert.equal(e.data[0]?.embedding.length, 64);
  });
});
