import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, jsonSchema, streamText, tool } from "ai";
import OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDemoModel } from "../../workers/engines/llama-cpp/demo-model.js";
import { waitForModel } from "../helpers/broker.js";
import { startUp, type Up } from "../helpers/up.js";

// Forced answers from the demo model (random weights) against the budgets the
// issue reported: an unbounded string used to run on until max_tokens cut the
// JSON, which each client below failed to parse. 48 leaves little room once the
// keys are written, so the bounds have to squeeze the strings hard.
const BUDGETS = [128, 48] as const;
// Strict needs every property required and no others; the city has no
// maxLength on purpose: the engine must bound it from max_tokens alone.
const WEATHER = {
  type: "object",
  properties: { city: { type: "string" }, days: { type: "integer" } },
  required: ["city", "days"],
  additionalProperties: false,
} as const;
const TIME = { type: "object", properties: { zone: { type: "string" } }, required: ["zone"], additionalProperties: false } as const;
const PARAMS: Readonly<Record<string, { required: readonly string[]; properties: Readonly<Record<string, { type: string }>> }>> = {
  get_weather: WEATHER,
  get_time: TIME,
};

/** Asserts `args` is an object holding every required key of tool `name` with its declared type. */
function assertArgs(name: string, args: unknown, context: string): void {
  const params = PARAMS[name];
  assert.ok(params, `${context}: unknown tool ${name}`);
  assert.ok(typeof args === "object" && args !== null && !Array.isArray(args), `${context}: arguments are an object, got ${JSON.stringify(args)}`);
  const obj = args as Record<string, unknown>;
  for (const key of params.required) {
    const want = params.properties[key]?.type;
    const got = obj[key];
    assert.ok(want === "integer" ? Number.isInteger(got) : typeof got === want, `${context}: ${key} is a ${want}, got ${JSON.stringify(args)}`);
  }
}

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

  test("openai: forced tool calls stream whole arguments the SDK's accumulator parses, within max_tokens", async () => {
    // strict makes the SDK itself JSON.parse the streamed arguments (parsed_arguments); it throws
    // LengthFinishReasonError on a call cut at max_tokens, which is how the old engine failed here.
    // Two tools: "required" then makes the model pick a name too, a different grammar from a named tool.
    const tools: OpenAI.ChatCompletionFunctionTool[] = [
      { type: "function", function: { name: "get_weather", description: "Weather for a city over some days", parameters: WEATHER, strict: true } },
      { type: "function", function: { name: "get_time", description: "Local time in a zone", parameters: TIME, strict: true } },
    ];
    const choices: OpenAI.ChatCompletionToolChoiceOption[] = ["required", { type: "function", function: { name: "get_weather" } }];
    for (const max_tokens of BUDGETS) {
      for (const tool_choice of choices) {
        const context = `max_tokens ${max_tokens}, tool_choice ${JSON.stringify(tool_choice)}`;
        const stream = client.chat.completions.stream({
          model: "demo", max_tokens, messages: [{ role: "user", content: "weather in Paris for 3 days?" }], tools, tool_choice,
          stream_options: { include_usage: true },
        });
        const final = await stream.finalChatCompletion();
        const choice = final.choices[0];
        assert.equal(choice?.finish_reason, "tool_calls", context);
        const call = choice.message.tool_calls?.[0];
        assert.ok(call?.type === "function", context);
        if (typeof tool_choice !== "string") assert.equal(call.function.name, "get_weather", context);
        assertArgs(call.function.name, JSON.parse(call.function.arguments), context);
        assert.deepEqual(call.function.parsed_arguments, JSON.parse(call.function.arguments), context);
        const used = final.usage?.completion_tokens;
        assert.ok(used !== undefined && used > 0 && used <= max_tokens, `${context}: completion_tokens ${used}`);
      }
    }
  });

  test("openai: chat.completions.parse with a strict zod response_format, within max_tokens", async () => {
    const Answer = z.object({ answer: z.string(), count: z.int() });
    for (const max_tokens of BUDGETS) {
      const r = await client.chat.completions.parse({
        model: "demo", max_tokens, messages: [{ role: "user", content: "JSON please" }], response_format: zodResponseFormat(Answer, "answer"),
      });
      const choice = r.choices[0];
      assert.equal(choice?.finish_reason, "stop", `max_tokens ${max_tokens}`);
      // parse() has already run the zod schema; check it did and the result is the schema's shape.
      const parsed = choice.message.parsed;
      assert.ok(parsed, `max_tokens ${max_tokens}: parsed`);
      assert.equal(typeof parsed.answer, "string");
      assert.ok(Number.isInteger(parsed.count));
    }
  });

  test("Vercel AI SDK: generateText with a required or named tool yields a valid tool input within maxOutputTokens", async () => {
    const provider = createOpenAI({ baseURL: `${up.url}/v1`, apiKey: "unused" });
    // One tool from zod, one from plain JSON Schema: both routes the SDK validates a call's input by.
    const tools = {
      get_weather: tool({ description: "Weather for a city over some days", inputSchema: z.object({ city: z.string(), days: z.int() }) }),
      get_time: tool({ description: "Local time in a zone", inputSchema: jsonSchema<{ zone: string }>(TIME) }),
    };
    for (const maxOutputTokens of BUDGETS) {
      for (const toolChoice of ["required", { type: "tool", toolName: "get_weather" }] as const) {
        const context = `maxOutputTokens ${maxOutputTokens}, toolChoice ${JSON.stringify(toolChoice)}`;
        // No execute: generation stops at the call. An unparsable or invalid input would come back as an
        // invalid dynamic call (or a ToolChoiceViolationError), so the assertions below catch both.
        const g = await generateText({
          model: provider.chat("demo"), prompt: "weather in Paris for 3 days?", tools, toolChoice, maxOutputTokens, maxRetries: 0,
        });
        assert.equal(g.finishReason, "tool-calls", context);
        const call = g.toolCalls[0];
        assert.ok(call, context);
        assert.ok(!call.dynamic && !call.invalid, `${context}: ${JSON.stringify(call)}`);
        if (typeof toolChoice !== "string") assert.equal(call.toolName, "get_weather", context);
        assertArgs(call.toolName, call.input, context);
        assert.ok(!g.content.some((p) => p.type === "tool-error"), context);
      }
    }
  });

  test("LangChain: bindTools with a required or named tool gives parsed args and no invalid calls", async () => {
    const tools: OpenAI.ChatCompletionFunctionTool[] = [
      { type: "function", function: { name: "get_weather", description: "Weather for a city over some days", parameters: WEATHER } },
      { type: "function", function: { name: "get_time", description: "Local time in a zone", parameters: TIME } },
    ];
    for (const maxTokens of BUDGETS) {
      const llm = new ChatOpenAI({ model: "demo", apiKey: "unused", configuration: { baseURL: `${up.url}/v1` }, maxRetries: 0, maxTokens });
      for (const tool_choice of ["required", "get_weather"]) {
        const context = `maxTokens ${maxTokens}, tool_choice ${tool_choice}`;
        const msg = await llm.bindTools(tools, { tool_choice }).invoke("weather in Paris for 3 days?");
        // LangChain puts arguments it cannot JSON.parse in invalid_tool_calls instead of throwing.
        assert.deepEqual(msg.invalid_tool_calls ?? [], [], context);
        const call = msg.tool_calls?.[0];
        assert.ok(call, context);
        if (tool_choice !== "required") assert.equal(call.name, "get_weather", context);
        assertArgs(call.name, call.args, context);
        assert.equal(msg.response_metadata["finish_reason"], "tool_calls", context);
      }
    }
  });
});
