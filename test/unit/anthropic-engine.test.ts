import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeJob, encodeJob, type ChatRequest, type Delta } from "../../contract/proto.js";
import { createAnthropicEngine } from "../../workers/engines/anthropic/index.js";
import { buildBody } from "../../workers/engines/anthropic/request.js";
import { finishReason } from "../../workers/engines/anthropic/response.js";
import { brokerError, configError, makeJob, runEngineSuite, runJob, runOnce } from "../helpers/engine-suite.js";
import { anthropicError, FAKE_OUTPUT_TOKENS, startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";

const KEY = "sk-ant-test-0123456789abcdef";
process.env.FAKE_ANTHROPIC_KEY = KEY;

// The Messages API has no n: the suite's n=2 case runs with fanOutN (n parallel upstream requests).
runEngineSuite("anthropic against a fake Anthropic server", {
  // The Messages API has no legacy completions or embeddings.
  capabilities: { complete: false, embed: false, n: true, dimensions: false },
  makeEngine: async (opts) => {
    const fake = await startFakeAnthropic();
    if (opts?.slow) fake.setPace({ itlMs: 500 });
    const engine = await createAnthropicEngine({ model: "claude-fake", options: { baseUrl: fake.url, apiKeyEnv: "FAKE_ANTHROPIC_KEY", fanOutN: true } });
    return { engine, model: "claude-fake", cleanup: async () => (await engine.close(), await fake.close()) };
  },
});

const user = (content: string): ChatRequest["messages"] => [{ role: "user", content }];


/** The tool-call arguments per call index, joined from their fragments. */
function toolArgs(deltas: Delta[]): Map<number, { id: string; name: string; args: string }> {
  const calls = new Map<number, { id: string; name: string; args: string }>();
  for (const c of deltas.flatMap((d) => d.toolCalls ?? [])) {
    const cur = calls.get(c.index ?? 0) ?? { id: "", name: "", args: "" };
    cur.id ||= c.id ?? "";
    cur.name ||= c.name ?? "";
    cur.args += c.arguments ?? "";
    calls.set(c.index ?? 0, cur);
  }
  return calls;
}

const sse = (events: [string, unknown][]): string => events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join("");

describe("anthropic engine", () => {
  let fake: FakeAnthropic;
  before(async () => (fake = await startFakeAnthropic()));
  after(() => fake.close());

  const engine = (options: Record<string, unknown> = {}) =>
    createAnthropicEngine({ model: "broker-model", options: { baseUrl: fake.url, apiKeyEnv: "FAKE_ANTHROPIC_KEY", ...options } });
  const run = (chat: ChatRequest, options: Record<string, unknown> = {}, upstreamKey?: string) => runOnce(engine(options), "broker-model", chat, upstreamKey);
  const lastBody = (): Record<string, unknown> => fake.requests.at(-1)!.body as Record<string, unknown>;

  test("maps system, images, tools, tool calls and results, and the sampling fields", async () => {
    const out = await run(
      {
        messages: [
          { role: "system", content: "be brief" },
          { role: "developer", content: "answer in English" },
          { role: "user", name: "ann", parts: [{ type: "text", text: "look" }, { type: "image_url", imageUrl: "https://x/y.png", imageDetail: "low" },
            { type: "image_url", imageUrl: "data:image/png;base64,iVBORw0KGgo=" }] },
          { role: "assistant", content: "calling", toolCalls: [{ id: "call_1", type: "function", name: "f", arguments: '{"a":1}' },
            { id: "call_2", type: "function", name: "g", arguments: "" }] },
          { role: "tool", content: "42", toolCallId: "call_1" },
          { role: "tool", parts: [{ type: "text", text: "ok" }], toolCallId: "call_2" },
          { role: "user", content: "thanks" },
        ],
        maxTokens: 50, temperature: 0.5, topP: 0.9, stop: ["\n"], seed: 7, user: "u1", presencePenalty: 0.1, stream: true,
        toolsJson: JSON.stringify([
          { type: "function", function: { name: "f", description: "does f", parameters: { type: "object", properties: { a: { type: "number" } } } } },
          { type: "function", function: { name: "g" } },
        ]),
        toolChoiceJson: '"required"',
        extraJson: '{"top_k":5,"logit_bias":{"50256":-100},"parallel_tool_calls":false}',
      },
      { upstreamModel: "claude-up", headers: { "X-Org": "acme", "Anthropic-Version": "ignored" } },
    );
    assert.equal(out.finish[0], "tool_calls", "the fake answered (it accepts only what the real API accepts)");
    const req = fake.requests.at(-1)!;
    assert.equal(req.path, "/v1/messages");
    assert.deepEqual([req.headers["x-api-key"], req.headers["anthropic-version"], req.headers["x-org"], req.headers["content-type"]],
      [KEY, "2023-06-01", "acme", "application/json"]);
    assert.equal(req.headers.authorization, undefined);
    assert.deepEqual(req.body, {
      model: "claude-up", max_tokens: 50, system: "be brief\n\nanswer in English",
      messages: [
        { role: "user", content: [{ type: "text", text: "look" }, { type: "image", source: { type: "url", url: "https://x/y.png" } },
          { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } }] },
        { role: "assistant", content: [{ type: "text", text: "calling" }, { type: "tool_use", id: "call_1", name: "f", input: { a: 1 } },
          { type: "tool_use", id: "call_2", name: "g", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "42" },
          { type: "tool_result", tool_use_id: "call_2", content: [{ type: "text", text: "ok" }] }, { type: "text", text: "thanks" }] },
      ],
      stop_sequences: ["\n"], temperature: 0.5, top_p: 0.9, top_k: 5, metadata: { user_id: "u1" },
      tools: [
        { name: "f", description: "does f", input_schema: { type: "object", properties: { a: { type: "number" } } } },
        { name: "g", input_schema: { type: "object", properties: {} } },
      ],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
      stream: true,
    });
  });

  test("tool_choice: auto, none, named; dropped without tools", () => {
    const tools = '[{"type":"function","function":{"name":"f"}}]';
    const choice = (toolChoiceJson: string, toolsJson = tools) => buildBody({ messages: user("x"), toolsJson, toolChoiceJson }, "m", 10).tool_choice;
    assert.deepEqual(choice('"auto"'), { type: "auto" });
    assert.deepEqual(choice('"none"'), { type: "none" });
    assert.deepEqual(choice('{"type":"function","function":{"name":"f"}}'), { type: "tool", name: "f" });
    assert.equal(choice('"auto"', ""), undefined);
    assert.equal(choice(""), undefined);
  });

  test("response_format json_schema → output_config.format (structured outputs); text → nothing", () => {
    const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false };
    const body = (responseFormatJson: string) => buildBody({ messages: user("x"), responseFormatJson }, "m", 10);
    assert.deepEqual(body(JSON.stringify({ type: "json_schema", json_schema: { name: "out", schema, strict: true } })).output_config, { format: { type: "json_schema", schema } });
    assert.equal(body('{"type":"text"}').output_config, undefined);
  });

  test("max_tokens: the request's, else maxTokensDefault (4096); model: the route's, the option, the served id", async () => {
    await run({ messages: user("hi") });
    assert.deepEqual([lastBody().max_tokens, lastBody().model, lastBody().stream], [4096, "broker-model", undefined]);
    await run({ messages: user("hi") }, { maxTokensDefault: 100, upstreamModel: "claude-opt", anthropicVersion: "2099-01-01" });
    assert.deepEqual([lastBody().max_tokens, lastBody().model, fake.requests.at(-1)!.headers["anthropic-version"]], [100, "claude-opt", "2099-01-01"]);
    const e = await engine({ upstreamModel: "claude-opt" });
    const job = decodeJob(encodeJob({ id: "j-route", model: "broker-model", upstreamModel: "claude-route", chat: { messages: user("hi") } }));
    await runJob(e, job);
    await e.close();
    assert.equal(lastBody().model, "claude-route");
  });

  test("what Anthropic cannot express is a 400 naming the field", async () => {
    const cases: [ChatRequest, string, RegExp][] = [
      [{ messages: user("hi"), n: 2 }, "n", /has no n/],
      [{ messages: user("hi"), responseFormatJson: '{"type":"json_object"}' }, "response_format", /not supported/],
      [{ messages: [{ role: "user", parts: [{ type: "input_audio", rawJson: '{"type":"input_audio"}' }] }] }, "messages[0].content[0]", /input_audio/],
      [{ messages: [{ role: "user", parts: [{ type: "image_url", imageUrl: "data:image/png,abc" }] }] }, "messages[0].content[0].image_url.url", /base64/],
      [{ messages: [{ role: "user", parts: [{ type: "image_url", imageUrl: "ftp://x/y.png" }] }] }, "messages[0].content[0].image_url.url", /http/],
      [{ messages: [{ role: "function", content: "x", name: "f" }] }, "messages[0].role", /tool/],
      [{ messages: [{ role: "assistant", toolCalls: [{ id: "c", name: "f", arguments: "{oops" }] }] }, "messages[0].tool_calls[0].function.arguments", /JSON/],
      [{ messages: [{ role: "system", parts: [{ type: "image_url", imageUrl: "https://x" }] }, ...user("hi")!] }, "messages[0].content[0]", /only hold text/],
    ];
    for (const [chat, param, message] of cases) {
      const before = fake.requests.length;
      const err = await brokerError(run(chat));
      assert.deepEqual([err.status, err.code, err.param], [400, "invalid_request", param], err.message);
      assert.match(err.message, message);
      assert.equal(fake.requests.length, before, "nothing was sent upstream");
    }
  });

  test("a forced tool, streamed and not: tool-call deltas that join into valid JSON", async () => {
    const chat = { messages: user("a b"), toolsJson: '[{"type":"function","function":{"name":"echo"}}]',
      toolChoiceJson: '{"type":"function","function":{"name":"echo"}}' };
    for (const stream of [true, false]) {
      const out = await run({ ...chat, stream });
      assert.equal(out.finish[0], "tool_calls");
      assert.deepEqual(lastBody().tool_choice, { type: "tool", name: "echo" });
      const calls = toolArgs(out.deltas);
      assert.deepEqual([...calls.keys()], [0]);
      assert.deepEqual([calls.get(0)!.id, calls.get(0)!.name], ["toolu_fake01", "echo"]);
      assert.deepEqual(JSON.parse(calls.get(0)!.args), { echo: "a b a b a b a b" });
      if (stream) assert.ok(out.deltas.filter((d) => d.toolCalls).length >= 3, "arguments arrive in fragments");
    }
  });

  test("a recorded stream: thinking, text, then two tool_use blocks, unknown events ignored, cache usage", async () => {
    fake.replayNext(sse([
      ["message_start", { type: "message_start", message: { id: "msg_01", type: "message", role: "assistant", content: [], model: "claude-sonnet-4-5-20250929",
        stop_reason: null, stop_sequence: null, usage: { input_tokens: 472, cache_creation_input_tokens: 10, cache_read_input_tokens: 20, output_tokens: 2 } } }],
      ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Let me look." } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "EqQB" } }],
      ["content_block_stop", { type: "content_block_stop", index: 0 }],
      ["content_block_start", { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } }],
      ["ping", { type: "ping" }],
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Okay, let's check" } }],
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: " the weather." } }],
      ["content_block_stop", { type: "content_block_stop", index: 1 }],
      ["content_block_start", { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_01", name: "get_weather", input: {} } }],
      ["content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "" } }],
      ["content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "{\"location\":" } }],
      ["some_future_event", { type: "some_future_event" }],
      ["content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: " \"San Francisco, CA\"}" } }],
      ["content_block_stop", { type: "content_block_stop", index: 2 }],
      ["content_block_start", { type: "content_block_start", index: 3, content_block: { type: "tool_use", id: "toolu_02", name: "get_time", input: {} } }],
      ["content_block_stop", { type: "content_block_stop", index: 3 }],
      ["message_delta", { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 89 } }],
      ["message_stop", { type: "message_stop" }],
    ]));
    const out = await run({ messages: user("weather?"), stream: true });
    assert.equal(out.texts[0], "Okay, let's check the weather.");
    assert.deepEqual(out.deltas.slice(0, 2).map((d) => [d.reasoning ?? "", d.reasoningSignature ?? ""]), [["Let me look.", ""], ["", "EqQB"]]);
    assert.equal(out.finish[0], "tool_calls");
    const calls = toolArgs(out.deltas);
    assert.deepEqual(calls.get(0), { id: "toolu_01", name: "get_weather", args: '{"location": "San Francisco, CA"}' });
    assert.deepEqual(calls.get(1), { id: "toolu_02", name: "get_time", args: "{}" });
    assert.deepEqual(out.result.usage, { promptTokens: 502, completionTokens: 89 });
    assert.equal(out.result.model, "claude-sonnet-4-5-20250929");
  });

  test("a recorded message: text and tool_use blocks, refusal as content_filter", async () => {
    fake.replayNext(JSON.stringify({
      id: "msg_01", type: "message", role: "assistant", model: "claude-x", stop_reason: "tool_use", stop_sequence: null,
      content: [{ type: "text", text: "Checking." }, { type: "tool_use", id: "toolu_01", name: "get_weather", input: { location: "Paris" } }],
      usage: { input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 30 },
    }), "application/json");
    let out = await run({ messages: user("weather?") });
    assert.deepEqual([out.texts[0], out.finish[0], out.result.model], ["Checking.", "tool_calls", "claude-x"]);
    assert.deepEqual(toolArgs(out.deltas).get(0), { id: "toolu_01", name: "get_weather", args: '{"location":"Paris"}' });
    assert.deepEqual(out.result.usage, { promptTokens: 16, completionTokens: 30 });
    fake.replayNext(sse([
      ["message_start", { type: "message_start", message: { id: "m", type: "message", role: "assistant", content: [], model: "c", usage: { input_tokens: 3, output_tokens: 1 } } }],
      ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "I" } }],
      ["content_block_stop", { type: "content_block_stop", index: 0 }],
      ["message_delta", { type: "message_delta", delta: { stop_reason: "refusal", stop_sequence: null }, usage: { output_tokens: 1 } }],
      ["message_stop", { type: "message_stop" }],
    ]));
    out = await run({ messages: user("x"), stream: true });
    assert.deepEqual([out.texts[0], out.finish[0]], ["I", "content_filter"]);
    assert.equal(out.result.stopReason, "refusal", "Anthropic's own reason rides beside OpenAI's");
  });

  test("pause_turn and refusal travel as Anthropic's own stop reason, streamed and not", async () => {
    for (const stop of ["pause_turn", "refusal"]) {
      fake.replayNext(JSON.stringify({
        id: "msg_01", type: "message", role: "assistant", model: "c", stop_reason: stop, stop_sequence: null,
        content: [{ type: "text", text: "Hm." }], usage: { input_tokens: 2, output_tokens: 1 },
      }), "application/json");
      const whole = await run({ messages: user("x") });
      assert.deepEqual([whole.finish[0], whole.result.stopReason, whole.result.stopSequence], [finishReason(stop), stop, undefined]);
      fake.replayNext(sse([
        ["message_start", { type: "message_start", message: { id: "m", type: "message", role: "assistant", content: [], model: "c", usage: { input_tokens: 2, output_tokens: 1 } } }],
        ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "Hm." } }],
        ["content_block_stop", { type: "content_block_stop", index: 0 }],
        ["message_delta", { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 1 } }],
        ["message_stop", { type: "message_stop" }],
      ]));
      const streamed = await run({ messages: user("x"), stream: true });
      assert.deepEqual([streamed.texts[0], streamed.finish[0], streamed.result.stopReason], ["Hm.", finishReason(stop), stop]);
    }
  });

  test("stop reasons", async () => {
    assert.deepEqual(["end_turn", "stop_sequence", "max_tokens", "tool_use", "refusal", "pause_turn", "model_context_window_exceeded"].map(finishReason),
      ["stop", "stop", "length", "tool_calls", "content_filter", "stop", "length"]);
    for (const stream of [true, false]) {
      const cut = await run({ messages: user("one two three four"), stop: ["four", "three"], stream });
      assert.deepEqual([cut.texts[0], cut.finish[0]], ["one two ", "stop"]);
      // Which sequence matched, and Anthropic's own reason, reach the job's final.
      assert.deepEqual([cut.result.stopSequence, cut.result.stopReason], ["three", "stop_sequence"]);
      const short = await run({ messages: user("one two three"), maxTokens: 2, stream });
      assert.deepEqual([short.texts[0], short.finish[0]], ["one two", "length"]);
      assert.deepEqual([short.result.stopSequence, short.result.stopReason], [undefined, "max_tokens"]);
    }
  });

  test("usage: prompt = input + cache tokens, completion = output tokens", async () => {
    fake.setCache({ creation: 3, read: 5 });
    try {
      for (const stream of [true, false]) {
        const out = await run({ messages: user("a b c"), stream });
        assert.deepEqual(out.result.usage, { promptTokens: 3 + 3 + 3 + 5, completionTokens: FAKE_OUTPUT_TOKENS });
        assert.equal(out.result.model, "broker-model");
      }
    } finally {
      fake.setCache({});
    }
  });

  test("a stream split into 3-byte writes, through multi-byte characters", async () => {
    const chat = { messages: user("héllo wörld 🙂 ünï"), stream: true };
    const whole = await run(chat);
    fake.fragmentNext(3);
    assert.deepEqual((await run(chat)).texts, whole.texts);
    assert.equal(whole.texts[0], "héllo wörld 🙂 ünï héllo wörld 🙂 ünï");
  });

  test("529 overloaded → 503, 429 rate limit → 429 with Retry-After", async () => {
    fake.failNext({ status: 529, headers: { "retry-after": "4" } });
    let err = await brokerError(run({ messages: user("hi"), stream: true }));
    assert.deepEqual([err.status, err.code, err.retryAfterS], [503, "model_unavailable", 4]);
    assert.match(err.message, /127\.0\.0\.1:\d+ is overloaded \(HTTP 529\): Overloaded/);
    fake.failNext({ status: 429, headers: { "retry-after": "7" }, body: anthropicError("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit") });
    err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code, err.type, err.retryAfterS], [429, "upstream_rate_limited", "rate_limit_error", 7]);
    assert.match(err.message, /per-minute rate limit/);
  });

  test("401 and 403 become 502 and never show the key", async () => {
    fake.failNext({ status: 401, body: anthropicError("authentication_error", `invalid x-api-key ${KEY}`) });
    const err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code], [502, "upstream_error"]);
    assert.match(err.message, /refused the worker's credentials \(HTTP 401\)/);
    assert.ok(!JSON.stringify(err.toJSON()).includes(KEY) && !err.message.includes("0123456789"));
    fake.failNext({ status: 403 });
    const client = await brokerError(run({ messages: user("hi") }, {}, "sk-ant-client-secret"));
    assert.match(client.message, /refused the client's API key \(HTTP 403\)/);
    assert.ok(!client.message.includes("sk-ant-client-secret"));
  });

  test("400 keeps Anthropic's message; 404, 413, 500 and 504 map as documented", async () => {
    const cases: [number, unknown, [number, string], RegExp][] = [
      [400, anthropicError("invalid_request_error", "messages.0.content: Input should be a valid list"), [400, "invalid_request"], /^messages\.0\.content: Input should be a valid list$/],
      [404, anthropicError("not_found_error", "model: claude-nope"), [404, "model_not_found"], /does not know this model: model: claude-nope/],
      [404, "<html>not here</html>", [502, "upstream_error"], /check baseUrl/],
      [413, undefined, [413, "request_too_large"], /maximum allowed number of bytes/],
      [500, undefined, [502, "upstream_error"], /failed \(HTTP 500\): Internal server error/],
      [504, anthropicError("timeout_error", "Request timed out"), [504, "timeout"], /timed out \(HTTP 504\)/],
      [402, anthropicError("billing_error", "Your credit balance is too low"), [502, "upstream_error"], /billing/],
    ];
    for (const [status, body, expected, message] of cases) {
      fake.failNext({ status, body });
      const err = await brokerError(run({ messages: user("hi") }));
      assert.deepEqual([err.status, err.code], expected, `${status}: ${err.message}`);
      assert.match(err.message, message);
    }
  });

  test("an error event mid-stream fails the run after the deltas before it", async () => {
    const cases: [{ type: string; message: string } | undefined, number, string, RegExp][] = [
      [undefined, 503, "model_unavailable", /overloaded mid-stream: Overloaded/],
      [{ type: "api_error", message: "Internal server error" }, 502, "upstream_error", /failed mid-stream: Internal server error/],
      [{ type: "rate_limit_error", message: "slow down" }, 429, "upstream_rate_limited", /slow down/],
    ];
    for (const [error, status, code, message] of cases) {
      fake.errorMidStreamNext(2, error);
      const e = await engine();
      const deltas: string[] = [];
      const err = await brokerError(e.run(makeJob("m", { messages: user("a b c"), stream: true }), { delta: (d) => void deltas.push(d.content ?? "") }, { signal: new AbortController().signal }));
      await e.close();
      assert.deepEqual(deltas, ["a", " b"]);
      assert.deepEqual([err.status, err.code], [status, code]);
      assert.match(err.message, message);
    }
  });

  test("a stream cut before message_stop is a 502", async () => {
    fake.replayNext(sse([
      ["message_start", { type: "message_start", message: { id: "m", type: "message", role: "assistant", content: [], model: "c", usage: { input_tokens: 3, output_tokens: 1 } } }],
      ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } }],
    ]));
    const err = await brokerError(run({ messages: user("x"), stream: true }));
    assert.deepEqual([err.status, err.code], [502, "upstream_error"]);
    assert.match(err.message, /ended the stream before the answer was complete/);
  });

  test("first-token timeout (pings do not count) and idle timeout", { timeout: 10_000 }, async () => {
    for (const [afterTokens, option, pattern] of [[0, "firstTokenTimeoutMs", /no first token within 200 ms/], [2, "idleTimeoutMs", /sent nothing for 200 ms/]] as const) {
      fake.hangNext(afterTokens);
      const t0 = performance.now();
      const err = await brokerError(run({ messages: user("a b c"), stream: true }, { [option]: 200 }));
      assert.deepEqual([err.status, err.code], [504, "timeout"]);
      assert.match(err.message, pattern);
      assert.ok(performance.now() - t0 < 1500);
    }
  });

  test("the key: from apiKeyEnv, from apiKeyFile, or the client's own", async () => {
    await run({ messages: user("hi") }, {}, "sk-ant-client");
    assert.equal(fake.requests.at(-1)!.headers["x-api-key"], "sk-ant-client");
    const file = join(await mkdtemp(join(tmpdir(), "key-")), "key");
    await writeFile(file, "  sk-ant-from-file\n");
    await run({ messages: user("hi") }, { apiKeyEnv: undefined, apiKeyFile: file });
    assert.equal(fake.requests.at(-1)!.headers["x-api-key"], "sk-ant-from-file");
  });

  test("countTokens: the upstream's count_tokens with the run's body less max_tokens, stream and sampling; the client's key", async () => {
    const e = await engine({ upstreamModel: "claude-opt" });
    const tools = JSON.stringify([{ type: "function", function: { name: "f", parameters: { type: "object", properties: {} } } }]);
    const chat: ChatRequest = {
      messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "one two three" }],
      maxTokens: 9, stream: true, stop: ["x"], temperature: 0.5, topP: 0.9, user: "u1", toolsJson: tools, toolChoiceJson: '"required"',
    };
    const count = decodeJob(encodeJob({ id: "j-count", model: "broker-model", countTokens: { chat } }));
    const tokens = await e.countTokens?.(count, { signal: new AbortController().signal, upstreamKey: "sk-ant-client" });
    await e.close();
    const req = fake.requests.at(-1)!;
    assert.equal(req.path, "/v1/messages/count_tokens");
    assert.equal(req.headers["x-api-key"], "sk-ant-client");
    assert.deepEqual(Object.keys(lastBody()).sort(), ["messages", "model", "system", "tool_choice", "tools"]);
    assert.equal(lastBody().model, "claude-opt");
    // The fake counts words + 3 per message, as its calls report input_tokens.
    assert.equal(tokens, 2 + 3 + 3);
    fake.failNext({ status: 200, body: { tokens: 1 } });
    const bad = await engine();
    assert.equal((await brokerError(bad.countTokens!(count, { signal: new AbortController().signal }))).code, "upstream_error");
    await bad.close();
  });

  test("fanOutN: one failed choice fails the run", async () => {
    fake.failNext({ status: 529 });
    const err = await brokerError(run({ messages: user("hi"), n: 2, stream: true }, { fanOutN: true }));
    assert.deepEqual([err.status, err.code], [503, "model_unavailable"]);
    const ok = await run({ messages: user("a b"), n: 2 }, { fanOutN: true });
    assert.deepEqual(ok.texts, ["a b a b a b a b", "a b a b a b a b"]);
    assert.equal(ok.result.usage.completionTokens, 2 * FAKE_OUTPUT_TOKENS);
  });

  test("invalid options name the field", async () => {
    const bad = async (options: unknown, field: string) => {
      const err = await configError(createAnthropicEngine({ model: "m", options }));
      assert.match(err.message, new RegExp(`^anthropic engine: option ${field}: `));
    };
    await bad({ baseUrl: "ftp://x" }, "baseUrl");
    await bad({ timeoutMs: 5 }, "timeoutMs");
    await bad({ maxTokensDefault: 0 }, "maxTokensDefault");
    await bad({ apiKeyEnv: "NO_SUCH_VARIABLE_FOR_TEST" }, "apiKeyEnv");
    await bad({ apiKeyFile: "/no/such/file" }, "apiKeyFile");
    const e = await createAnthropicEngine({ model: "m", options: {} });
    assert.equal(e.name, "anthropic");
    await e.close();
  });
});
