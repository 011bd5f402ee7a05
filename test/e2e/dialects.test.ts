import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, jsonSchema, streamText, tool } from "ai";
import OpenAI from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { writeDemoModel } from "../../workers/engines/llama-cpp/demo-model.js";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { freePort } from "../helpers/nats.js";
import { startUp, type Up } from "../helpers/up.js";

const CLI = fileURLToPath(new URL("../../scripts/broker.js", import.meta.url));
const SLOW_TOKENS = 400;

/** A second `broker gateway` process on broker up's embedded NATS (it logs in with up's gateway credentials). */
async function extraGateway(up: Up): Promise<{ url: string; child: ChildProcess; exited: Promise<unknown> }> {
  const port = await freePort();
  // On the embedded server's loopback port, a gateway finds up's gateway password by itself.
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), LOG_LEVEL: "warn", NATS_URL: `nats://127.0.0.1:${up.natsPort}` };
  const child = spawn(process.execPath, [CLI, "gateway", "--config", join(up.dir, `broker-${up.port}.json`)], { stdio: ["ignore", "ignore", "inherit", "ipc"], env });
  const exited = new Promise((r) => child.once("exit", r));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) || undefined, "the extra gateway to be ready", 30_000);
  return { url, child, exited };
}

const WEATHER = { type: "object" as const, properties: { city: { type: "string", maxLength: 12 } }, required: ["city"], additionalProperties: false };

// The newer dialects through the clients that speak them, against the real `broker up` (embedded,
// locked-down NATS, a sim worker and a llama.cpp worker on the demo model): OpenAI's Responses API
// (openai SDK, Vercel AI SDK's default provider), Anthropic's Messages API (@anthropic-ai/sdk), and
// a background response resumed on a new gateway process after the one streaming it was killed.
describe("Responses and Messages dialects against `broker up`", () => {
  let up: Up;
  let openai: OpenAI;
  let anthropic: Anthropic;

  before(async () => {
    const modelPath = join(mkdtempSync(join(tmpdir(), "demo-")), "demo.gguf");
    await writeDemoModel(modelPath);
    up = await startUp({
      workers: [
        {
          name: "sim", slots: 4, heartbeatMs: 500,
          models: [
            { id: "sim", engine: "sim", options: { outputTokens: 10, itlMs: 1 } },
            { id: "sim-slow", engine: "sim", options: { outputTokens: SLOW_TOKENS, itlMs: 10 } },
          ],
        },
        { name: "demo", slots: 2, heartbeatMs: 500, models: [{ id: "demo", engine: "llama-cpp", options: { modelPath, gpu: false, threads: 1, contextSize: 2048 } }] },
      ],
    });
    await waitForModel(up.url, "sim-slow");
    await waitForModel(up.url, "demo", 30_000);
    openai = new OpenAI({ baseURL: `${up.url}/v1`, apiKey: "unused", maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: up.url, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    const code = await up?.stop();
    assert.equal(code, 0, `broker up exits 0 on Ctrl-C (output: ${up?.output()})`);
  });

  test("openai responses: create, stream, retrieve, input_items, delete", async () => {
    const r = await openai.responses.create({ model: "sim", instructions: "Be brief.", input: "hi" });
    assert.equal(r.status, "completed");
    assert.ok(r.output_text.length > 0);
    assert.equal(r.usage?.output_tokens, 10);
    const s = openai.responses.stream({ model: "sim", input: "hi", previous_response_id: r.id });
    let text = "";
    s.on("response.output_text.delta", (e) => void (text += e.delta));
    const final = await s.finalResponse();
    assert.equal(final.output_text, text);
    const stored = await openai.responses.retrieve(final.id);
    assert.deepEqual([stored.id, stored.status, stored.output_text, stored.usage], [final.id, final.status, final.output_text, final.usage]);
    const items = await openai.responses.inputItems.list(final.id);
    assert.equal(items.data.length, 1);
    await openai.responses.delete(final.id);
    await assert.rejects(openai.responses.retrieve(final.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  test("openai responses on llama.cpp: a grammar-forced tool call and a strict JSON schema answer", async () => {
    const call = await openai.responses.create({
      model: "demo", max_output_tokens: 100, input: "weather in Paris?", tool_choice: "required",
      tools: [{ type: "function", name: "get_weather", parameters: WEATHER, strict: true }],
    });
    const fc = call.output.find((i) => i.type === "function_call");
    assert.ok(fc?.type === "function_call", JSON.stringify(call.output));
    assert.equal(fc.name, "get_weather");
    assert.equal(typeof (JSON.parse(fc.arguments) as { city: unknown }).city, "string");
    const json = await openai.responses.create({
      model: "demo", max_output_tokens: 100, input: "JSON please",
      text: { format: { type: "json_schema", name: "w", schema: WEATHER, strict: true } },
    });
    assert.equal(typeof (JSON.parse(json.output_text) as { city: unknown }).city, "string");
  });

  test("Vercel AI SDK's default provider (the Responses API): generateText, streamText, tools, generateObject", async () => {
    const provider = createOpenAI({ baseURL: `${up.url}/v1`, apiKey: "unused" });
    const g = await generateText({ model: provider("sim"), prompt: "hi", maxRetries: 0 });
    assert.ok(g.text.length > 0);
    assert.equal(g.usage.outputTokens, 10);
    const s = streamText({ model: provider("sim"), prompt: "hi", maxRetries: 0 });
    let text = "";
    for await (const part of s.textStream) text += part;
    assert.equal(text, g.text);
    const t = await generateText({
      model: provider("demo"), prompt: "weather in Paris?", maxRetries: 0, maxOutputTokens: 100, toolChoice: "required",
      tools: { get_weather: tool({ description: "Weather for a city", inputSchema: jsonSchema<{ city: string }>(WEATHER) }) },
    });
    assert.equal(t.toolCalls[0]?.toolName, "get_weather");
    assert.equal(typeof (t.toolCalls[0]?.input as { city?: unknown } | undefined)?.city, "string");
    const o = await generateObject({ model: provider("demo"), prompt: "a city", maxRetries: 0, maxOutputTokens: 100, schema: jsonSchema<{ city: string }>(WEATHER) });
    assert.equal(typeof o.object.city, "string");
  });

  test("anthropic sdk: create, a streamed forced tool call, count_tokens", async () => {
    const m = await anthropic.messages.create({ model: "sim", max_tokens: 64, messages: [{ role: "user", content: "hi" }] });
    assert.equal(m.stop_reason, "end_turn");
    const stream = anthropic.messages.stream({
      model: "demo", max_tokens: 100, messages: [{ role: "user", content: "weather in Paris?" }],
      tools: [{ name: "get_weather", description: "Weather for a city", input_schema: WEATHER }], tool_choice: { type: "tool", name: "get_weather" },
    });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, "tool_use");
    const use = final.content.find((b) => b.type === "tool_use");
    assert.ok(use?.type === "tool_use");
    assert.equal(typeof (use.input as { city?: unknown }).city, "string");
    const count = await anthropic.messages.countTokens({ model: "demo", messages: [{ role: "user", content: "hi" }] });
    const real = await anthropic.messages.create({ model: "demo", max_tokens: 4, messages: [{ role: "user", content: "hi" }] });
    assert.equal(count.input_tokens, real.usage.input_tokens);
  });

  test("a background stream whose gateway process is killed resumes on a new gateway process: no gap, no duplicate", async () => {
    const g1 = await extraGateway(up);
    const viaG1 = new OpenAI({ baseURL: `${g1.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const stream = await viaG1.responses.create({ model: "sim-slow", input: "a long answer", background: true, stream: true });
    const seen: ResponseStreamEvent[] = [];
    // Read until some text has arrived, then kill the gateway serving the stream.
    for await (const ev of stream) {
      seen.push(ev);
      if (seen.filter((e) => e.type === "response.output_text.delta").length >= 3) break;
    }
    g1.child.kill("SIGKILL");
    await g1.exited;
    const id = seen[0]?.type === "response.created" ? seen[0].response.id : "";
    const last = seen[seen.length - 1]?.sequence_number ?? -1;
    const g2 = await extraGateway(up);
    try {
      const viaG2 = new OpenAI({ baseURL: `${g2.url}/v1`, apiKey: "unused", maxRetries: 0 });
      const rest: ResponseStreamEvent[] = [];
      for await (const ev of await viaG2.responses.retrieve(id, { stream: true, starting_after: last })) rest.push(ev);
      const all = [...seen, ...rest];
      assert.deepEqual(all.map((e) => e.sequence_number), all.map((_, i) => i), "one run of event numbers, no gap, no duplicate");
      assert.equal(rest[rest.length - 1]?.type, "response.completed");
      const text = all.map((e) => (e.type === "response.output_text.delta" ? e.delta : "")).join("");
      const done = await viaG2.responses.retrieve(id);
      assert.equal(done.status, "completed");
      assert.equal(done.usage?.output_tokens, SLOW_TOKENS);
      assert.equal(done.output_text, text, "the text put together across both gateways is the response's text");
    } finally {
      g2.child.kill("SIGTERM");
      await g2.exited;
    }
  });
});
