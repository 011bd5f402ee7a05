import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ChatRequest } from "../../contract/proto.js";
import { createOpenAIHttpEngine } from "../../workers/engines/openai-http/index.js";
import { completionToDeltas } from "../../workers/engines/openai-http/response.js";
import { StreamMapper } from "../../workers/engines/openai-http/stream.js";
import { retryAfterSeconds } from "../../workers/engines/relay/errors.js";
import { brokerError, configError, makeJob, runEngineSuite, runOnce } from "../helpers/engine-suite.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";

runEngineSuite("openai-http against a fake OpenAI server", {
  // The fake answers /v1/completions and /v1/embeddings; its vectors have 8 numbers whatever dimensions says.
  capabilities: { complete: true, embed: true, n: true, dimensions: false },
  makeEngine: async (opts) => {
    const fake = await startFakeOpenAI();
    if (opts?.slow) fake.setPace({ itlMs: 500 });
    const engine = await createOpenAIHttpEngine({ model: "fake-model", options: { baseUrl: fake.url } });
    return { engine, model: "fake-model", cleanup: async () => (await engine.close(), await fake.close()) };
  },
});

const KEY = "sk-test-0123456789abcdef";
process.env.FAKE_OPENAI_KEY = KEY;
const user = (content: string): ChatRequest["messages"] => [{ role: "user", content }];


describe("openai-http engine", () => {
  let fake: FakeOpenAI;
  before(async () => (fake = await startFakeOpenAI()));
  after(() => fake.close());

  const engine = (options: Record<string, unknown> = {}) =>
    createOpenAIHttpEngine({ model: "broker-model", options: { baseUrl: fake.url, apiKeyEnv: "FAKE_OPENAI_KEY", ...options } });
  const run = (chat: ChatRequest, options: Record<string, unknown> = {}, upstreamKey?: string) => runOnce(engine(options), "broker-model", chat, upstreamKey);
  const lastBody = (): Record<string, unknown> => fake.requests.at(-1)!.body as Record<string, unknown>;

  test("maps every request field, passes extra fields through", async () => {
    await run(
      {
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", parts: [{ type: "text", text: "look" }, { type: "image_url", imageUrl: "https://x/y.png", imageDetail: "low" },
            { type: "input_audio", rawJson: '{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}' }] },
          { role: "assistant", toolCalls: [{ id: "call_1", type: "function", name: "f", arguments: '{"a":1}' }] },
          { role: "tool", content: "42", toolCallId: "call_1", name: "f" },
        ],
        maxTokens: 50, maxCompletionTokens: true, temperature: 0.5, topP: 0.9, n: 2, stop: ["\n"], seed: 7, user: "u1",
        presencePenalty: 0.1, frequencyPenalty: 0.2, stream: true,
        toolsJson: '[{"type":"function","function":{"name":"f","parameters":{}}}]',
        toolChoiceJson: '"auto"', responseFormatJson: '{"type":"json_object"}',
        extraJson: '{"logit_bias":{"50256":-100},"metadata":{"a":"b"}}',
      },
      { upstreamModel: "upstream-name", headers: { "X-Org": "acme" } },
    );
    const req = fake.requests.at(-1)!;
    assert.equal(req.path, "/v1/chat/completions");
    assert.equal(req.headers["x-org"], "acme");
    assert.deepEqual(req.body, {
      logit_bias: { "50256": -100 }, metadata: { a: "b" }, model: "upstream-name",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "look" }, { type: "image_url", image_url: { url: "https://x/y.png", detail: "low" } },
          { type: "input_audio", input_audio: { data: "AAA", format: "wav" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }] },
        { role: "tool", content: "42", name: "f", tool_call_id: "call_1" },
      ],
      max_completion_tokens: 50, temperature: 0.5, top_p: 0.9, n: 2, stop: ["\n"], seed: 7, user: "u1",
      presence_penalty: 0.1, frequency_penalty: 0.2,
      tools: [{ type: "function", function: { name: "f", parameters: {} } }], tool_choice: "auto", response_format: { type: "json_object" },
      stream: true, stream_options: { include_usage: true },
    });
  });

  test("max_tokens keeps its name; non-stream sends no stream fields", async () => {
    await run({ messages: user("hi"), maxTokens: 5 });
    assert.equal(lastBody().max_tokens, 5);
    assert.equal(lastBody().max_completion_tokens, undefined);
    assert.equal(lastBody().stream, undefined);
    await run({ messages: user("hi"), stream: true }, { streamUsage: false });
    assert.equal(lastBody().stream_options, undefined);
  });

  test("the key: from apiKeyEnv, from apiKeyFile, or the client's own", async () => {
    await run({ messages: user("hi") });
    assert.equal(fake.requests.at(-1)!.headers.authorization, `Bearer ${KEY}`);
    await run({ messages: user("hi") }, {}, "sk-client");
    assert.equal(fake.requests.at(-1)!.headers.authorization, "Bearer sk-client");
    const file = join(await mkdtemp(join(tmpdir(), "key-")), "key");
    await writeFile(file, "  sk-from-file\n");
    await run({ messages: user("hi") }, { apiKeyEnv: undefined, apiKeyFile: file });
    assert.equal(fake.requests.at(-1)!.headers.authorization, "Bearer sk-from-file");
  });

  test("Azure OpenAI: api-version on every URL and the key in the api-key header", async () => {
    await run({ messages: user("hi") }, { apiVersion: "2024-10-21", keyHeader: "api-key" });
    const req = fake.requests.at(-1)!;
    assert.equal(req.url, "/v1/chat/completions?api-version=2024-10-21");
    assert.equal(req.headers["api-key"], KEY);
    assert.equal(req.headers.authorization, undefined);
  });

  test("model and system_fingerprint come from the upstream; non-stream n=2", async () => {
    const out = await run({ messages: user("one two three"), n: 2 }, { upstreamModel: "up-1" });
    assert.equal(out.result.model, "up-1");
    assert.equal(out.result.systemFingerprint, "fp_fake");
    assert.deepEqual(out.texts, ["one two three one two three one two", "two three one two three one two three"]);
  });

  test("tool calls, streamed and not", async () => {
    const chat = { messages: user("a b"), toolsJson: '[{"type":"function","function":{"name":"echo"}}]',
      toolChoiceJson: '{"type":"function","function":{"name":"echo"}}' };
    for (const stream of [true, false]) {
      const out = await run({ ...chat, stream });
      assert.equal(out.finish[0], "tool_calls");
      const calls = out.deltas.flatMap((d) => d.toolCalls ?? []);
      assert.equal(calls[0]!.id, "call_fake");
      assert.equal(calls[0]!.name, "echo");
      assert.deepEqual(JSON.parse(calls.map((c) => c.arguments).join("")), { echo: "a b a b a b a b" });
    }
  });

  test("vLLM's stop_reason names the stop string that matched; a stop token id, or OpenAI's answer without it, names none", () => {
    const caller = { host: "vllm", key: "", clientKey: false };
    const sink = { delta: () => {} };
    const choice = (stop_reason: unknown) => ({ index: 0, message: { role: "assistant", content: "a" }, finish_reason: "stop", stop_reason });
    assert.equal(completionToDeltas({ choices: [choice("END")] }, sink, caller).stopSequence, "END");
    assert.equal(completionToDeltas({ choices: [choice(128001)] }, sink, caller).stopSequence, undefined);
    assert.equal(completionToDeltas({ choices: [{ index: 0, message: { content: "a" }, finish_reason: "stop" }] }, sink, caller).stopSequence, undefined);
    const stream = new StreamMapper(sink, caller);
    stream.accept({ event: "message", data: JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant", content: "a" }, finish_reason: null, stop_reason: null }] }) });
    stream.accept({ event: "message", data: JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop", stop_reason: "##" }] }) });
    assert.equal(stream.accept({ event: "message", data: "[DONE]" }), true);
    stream.end(true);
    assert.equal(stream.served().stopSequence, "##");
  });

  test("a stream split into 3-byte writes, through multi-byte characters", async () => {
    const chat = { messages: user("héllo wörld 🙂 ünï"), stream: true };
    const whole = await run(chat);
    fake.fragmentNext(3);
    assert.deepEqual((await run(chat)).texts, whole.texts);
    assert.equal(whole.texts[0], "héllo wörld 🙂 ünï héllo wörld 🙂 ünï");
  });

  test("429 keeps the upstream message and Retry-After", async () => {
    fake.failNext({ status: 429, headers: { "retry-after": "7" }, body: { error: { message: "Rate limit reached", type: "requests", param: null, code: "rate_limit_exceeded" } } });
    const err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code, err.retryAfterS, err.message, err.type], [429, "upstream_rate_limited", 7, "Rate limit reached", "requests"]);
    fake.failNext({ status: 429, headers: { "retry-after-ms": "1500" } });
    assert.equal((await brokerError(run({ messages: user("hi") }))).retryAfterS, 2);
  });

  test("Retry-After as an HTTP date", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    assert.equal(retryAfterSeconds({ "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }, now), 30);
    assert.equal(retryAfterSeconds({}, now), 0);
  });

  test("upstream 4xx pass through, 5xx become 502, 503 stays 503", async () => {
    fake.failNext({ status: 400, body: { error: { message: "too long", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } } });
    let err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code, err.upstreamCode, err.param, err.message], [400, "invalid_request", "context_length_exceeded", "messages", "too long"]);
    assert.equal(err.toJSON().error.code, "context_length_exceeded");
    fake.failNext({ status: 422, body: { detail: [{ loc: ["body", "n"], msg: "bad" }] } });
    err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code], [400, "invalid_request"]);
    assert.match(err.message, /bad/);
    fake.failNext({ status: 404, body: "404 page not found" });
    err = await brokerError(run({ messages: user("hi") }));
    assert.equal(err.status, 502);
    assert.match(err.message, /check baseUrl/);
    fake.failNext({ status: 500, body: { error: { message: "boom", type: "server_error" } } });
    err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code], [502, "upstream_error"]);
    assert.match(err.message, /127\.0\.0\.1:\d+ failed \(HTTP 500\): boom/);
    fake.failNext({ status: 503, headers: { "retry-after": "3" } });
    err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code, err.retryAfterS], [503, "model_unavailable", 3]);
  });

  test("401 becomes 502 and never shows the key", async () => {
    fake.failNext({ status: 401, body: { error: { message: `Incorrect API key provided: ${KEY}`, type: "invalid_request_error", code: "invalid_api_key" } } });
    const err = await brokerError(run({ messages: user("hi") }));
    assert.deepEqual([err.status, err.code], [502, "upstream_error"]);
    assert.match(err.message, /refused the worker's credentials/);
    assert.ok(!err.message.includes(KEY) && !JSON.stringify(err.toJSON()).includes(KEY));
    fake.failNext({ status: 403 });
    assert.match((await brokerError(run({ messages: user("hi") }, {}, "sk-client"))).message, /refused the client's API key \(HTTP 403\)/);
  });

  test("connection refused names the host", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const err = await brokerError(run({ messages: user("hi") }, { baseUrl: `http://127.0.0.1:${port}/v1` }));
    assert.equal(err.status, 502);
    assert.equal(err.message, `cannot connect to the upstream at 127.0.0.1:${port}: connection refused`);
  });

  test("an error event mid-stream fails the run after the deltas before it", async () => {
    fake.errorMidStreamNext(2);
    const e = await engine();
    const deltas: string[] = [];
    const err = await brokerError(e.run(makeJob("m", { messages: user("a b c"), stream: true }), { delta: (d) => void deltas.push(d.content ?? "") }, { signal: new AbortController().signal }));
    await e.close();
    assert.deepEqual(deltas, ["", "a", " b"]);
    assert.deepEqual([err.status, err.code], [502, "upstream_error"]);
    assert.match(err.message, /failed mid-stream: The server had an error/);
  });

  test("first-token and idle timeouts", { timeout: 10_000 }, async () => {
    for (const [afterTokens, option, pattern] of [[0, "firstTokenTimeoutMs", /no first token within 200 ms/], [2, "idleTimeoutMs", /sent nothing for 200 ms/]] as const) {
      fake.hangNext(afterTokens);
      const t0 = performance.now();
      const err = await brokerError(run({ messages: user("a b c"), stream: true }, { [option]: 200 }));
      assert.deepEqual([err.status, err.code], [504, "timeout"]);
      assert.match(err.message, pattern);
      assert.ok(performance.now() - t0 < 1500);
    }
  });

  test("invalid options name the field", async () => {
    const bad = async (options: unknown, field: string) => {
      const err = await configError(createOpenAIHttpEngine({ model: "m", options }));
      assert.match(err.message, new RegExp(`^openai-http engine: option ${field}: `));
    };
    await bad({}, "baseUrl");
    await bad({ baseUrl: "ftp://x" }, "baseUrl");
    await bad({ baseUrl: "http://x/v1", timeoutMs: 5 }, "timeoutMs");
    await bad({ baseUrl: "http://x/v1", apiKeyEnv: "NO_SUCH_VARIABLE_FOR_TEST" }, "apiKeyEnv");
    await bad({ baseUrl: "http://x/v1", apiKeyFile: "/no/such/file" }, "apiKeyFile");
  });
});
