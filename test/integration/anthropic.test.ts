import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import type OpenAI from "openai";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { last, usageOf, type ErrorBody } from "../helpers/bodies.js";
import { spawnWorker, startTestGateway, testConfig, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { FAKE_REDACTED_DATA, fakeSignature, REDACTED_THINKING_TRIGGER } from "../helpers/fake-anthropic-thinking.js";
import { anthropicError, FAKE_OUTPUT_TOKENS, startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { joinChoices, postJson, postSse, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

const KEY = "sk-ant-test-secret-0123456789";

/** The part of an Anthropic Messages request these tests read. */
interface MessagesRequest {
  messages: { role: string; content: string | object[] }[];
  thinking?: unknown;
  tool_choice?: unknown;
  output_config?: unknown;
}

/** Tool-call fragments of chat.completion.chunk events, joined per call index. */
function joinToolCalls(events: readonly OpenAI.ChatCompletionChunk[]): Map<number, { id: string; name: string; args: string }> {
  const calls = new Map<number, { id: string; name: string; args: string }>();
  for (const ev of events) {
    for (const tc of ev.choices?.[0]?.delta?.tool_calls ?? []) {
      const cur = calls.get(tc.index) ?? { id: "", name: "", args: "" };
      cur.id ||= tc.id ?? "";
      cur.name ||= tc.function?.name ?? "";
      cur.args += tc.function?.arguments ?? "";
      calls.set(tc.index, cur);
    }
  }
  return calls;
}

// The anthropic engine in a real worker process, relaying to a local server speaking Anthropic's Messages API.
describe("relay through the anthropic engine", () => {
  let nats: TestNats;
  let fake: FakeAnthropic;
  let gw: GatewayHandle;
  let cfg: Config;
  let worker: WorkerProcess;
  let chat: string;

  before(async () => {
    nats = await startNats();
    fake = await startFakeAnthropic();
    process.env.FAKE_ANTHROPIC_KEY = KEY;
    cfg = testConfig(nats.url, {
      workers: [{
        name: "claude", slots: 2,
        models: [{ id: "anthropic/claude", engine: "anthropic", options: { baseUrl: fake.url, upstreamModel: "claude-up", apiKeyEnv: "FAKE_ANTHROPIC_KEY" } }],
      }],
    });
    worker = spawnWorker(cfg, "claude");
    gw = await startTestGateway(cfg);
    chat = `${gw.url}/v1/chat/completions`;
    await waitForModel(gw.url, "anthropic/claude");
  });
  after(async () => {
    await gw?.close();
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await fake?.close();
    await nats?.close();
  });

  const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: "anthropic/claude", messages: [{ role: "user", content }], ...extra });
  const lastUpstream = () => fake.requests.at(-1) as { headers: Record<string, string>; body: MessagesRequest };

  test("non-stream: system and text translated upstream, the answer and usage back", async () => {
    const res = await postJson(chat, { model: "anthropic/claude", temperature: 0.3, messages: [{ role: "system", content: "be brief" }, { role: "user", content: "alpha beta gamma" }] });
    assert.equal(res.status, 200);
    const body = await readJson<OpenAI.ChatCompletion>(res);
    assert.equal(body.object, "chat.completion");
    assert.equal(body.choices[0]?.message.role, "assistant");
    assert.equal(body.choices[0]?.message.content, "alpha beta gamma alpha beta gamma alpha beta");
    assert.equal(body.choices[0]?.finish_reason, "stop");
    assert.equal(body.usage?.completion_tokens, FAKE_OUTPUT_TOKENS);
    assert.equal(body.usage?.prompt_tokens, 2 + 3 + 3);
    const up = lastUpstream();
    assert.deepEqual(up.body, { model: "claude-up", max_tokens: 4096, system: "be brief", messages: [{ role: "user", content: "alpha beta gamma" }], temperature: 0.3 });
    assert.equal(up.headers["x-api-key"], KEY);
    assert.equal(up.headers["anthropic-version"], "2023-06-01");
  });

  test("stream: a forced tool call arrives as OpenAI tool-call deltas that join into valid JSON", async () => {
    const tools = [{ type: "function", function: { name: "echo", description: "echoes", parameters: { type: "object", properties: { echo: { type: "string" } } } } }];
    const r = await postSse<OpenAI.ChatCompletionChunk>(chat, ask("one two", { stream: true, tools, tool_choice: { type: "function", function: { name: "echo" } }, stream_options: { include_usage: true } }));
    assert.equal(r.status, 200);
    assert.ok(r.done, r.raw);
    const calls = joinToolCalls(r.events);
    assert.deepEqual([calls.get(0)?.id, calls.get(0)?.name], ["toolu_fake01", "echo"]);
    assert.deepEqual(JSON.parse(calls.get(0)!.args), { echo: "one two one two one two one two" });
    assert.equal(joinChoices(r.events).get(0)?.finish, "tool_calls");
    assert.deepEqual(lastUpstream().body.tool_choice, { type: "tool", name: "echo" });
    assert.ok(usageOf(last(r.events)).prompt_tokens > 0);
  });

  test("tool results and images reach Anthropic as tool_result and image blocks", async () => {
    const res = await postJson(chat, {
      model: "anthropic/claude",
      messages: [
        { role: "user", content: [{ type: "text", text: "what is here?" }, { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
          { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "toolu_a", type: "function", function: { name: "look", arguments: '{"x":1}' } },
          { id: "toolu_b", type: "function", function: { name: "look", arguments: '{"x":2}' } }] },
        { role: "tool", tool_call_id: "toolu_a", content: "a cat" },
        { role: "tool", tool_call_id: "toolu_b", content: "a hat" },
      ],
      tools: [{ type: "function", function: { name: "look", parameters: { type: "object", properties: { x: { type: "number" } } } } }],
    });
    assert.equal(res.status, 200, await res.clone().text());
    const msgs = lastUpstream().body.messages;
    assert.deepEqual(msgs[0]!.content.slice(1), [
      { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
      { type: "image", source: { type: "base64", media_type: "image/jpeg", data: "/9j/4AAQ" } },
    ]);
    assert.deepEqual(msgs[1], { role: "assistant", content: [{ type: "tool_use", id: "toolu_a", name: "look", input: { x: 1 } }, { type: "tool_use", id: "toolu_b", name: "look", input: { x: 2 } }] });
    assert.deepEqual(msgs[2], { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_a", content: "a cat" }, { type: "tool_result", tool_use_id: "toolu_b", content: "a hat" }] });
  });

  test("overloaded (529) → 503; rate limit (429) → 429 with Retry-After", async () => {
    fake.failNext({ status: 529 });
    const busy = await postJson(chat, ask("x", { stream: true }));
    assert.equal(busy.status, 503);
    assert.match((await readJson<ErrorBody>(busy)).error.message, /overloaded/);
    fake.failNext({ status: 429, headers: { "retry-after": "17" }, body: anthropicError("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit") });
    const limited = await postJson(chat, ask("x", { stream: true }));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "17");
    assert.match((await readJson<ErrorBody>(limited)).error.message, /rate limit/);
  });

  test("refused credentials become 502 and the key shows nowhere; a 400 keeps Anthropic's message", async () => {
    fake.failNext({ status: 401, body: anthropicError("authentication_error", `invalid x-api-key ${KEY}`) });
    const res = await postJson(chat, ask("x"));
    assert.equal(res.status, 502);
    const text = await res.text();
    assert.ok(!text.includes(KEY) && !text.includes("0123456789"), `no key in ${text}`);
    assert.ok(!worker.output().includes(KEY), "no key in worker logs");
    fake.failNext({ status: 400, body: anthropicError("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum") });
    const bad = await postJson(chat, ask("x"));
    assert.equal(bad.status, 400);
    assert.equal((await readJson<ErrorBody>(bad)).error.message, "prompt is too long: 210000 tokens > 200000 maximum");
  });

  test("an error event after the first token ends the stream with one error event", async () => {
    fake.errorMidStreamNext(3);
    const r = await postSse(chat, ask("a b c d e f g", { stream: true }));
    assert.equal(r.status, 200);
    const last = r.events[r.events.length - 1] as { error?: { message: string; code: string } };
    assert.ok(last.error, `last event is an error: ${r.raw}`);
    assert.match(last.error.message, /overloaded/);
    assert.equal(r.done, false, "no [DONE] after an error");
    assert.equal(joinChoices(r.events).get(0)?.text, "a b c");
  });

  test("n > 1 is a 400 naming n", async () => {
    const before = fake.requests.length;
    const res = await postJson(chat, ask("x", { n: 2 }));
    assert.equal(res.status, 400);
    assert.equal((await readJson<ErrorBody>(res)).error.param, "n");
    assert.equal(fake.requests.length, before, "nothing was sent upstream");
  });

  // Anthropic in, Anthropic out: what the Messages front and the engine carry between them loses nothing.
  test("through /v1/messages with the official SDK: stop_sequence, pause_turn, tool_use and tool_result survive the round trip", async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 });
    const base = { model: "anthropic/claude", max_tokens: 64 };
    const stopped = { ...base, stop_sequences: ["gamma"], messages: [{ role: "user" as const, content: "alpha beta gamma" }] };
    for (const m of [await client.messages.create(stopped), await client.messages.stream(stopped).finalMessage()]) {
      assert.deepEqual([m.content, m.stop_reason, m.stop_sequence], [[{ type: "text", text: "alpha beta " }], "stop_sequence", "gamma"]);
    }
    fake.replayNext(JSON.stringify({
      id: "msg_up", type: "message", role: "assistant", model: "claude-up", stop_reason: "pause_turn", stop_sequence: null,
      content: [{ type: "text", text: "Searching…" }], usage: { input_tokens: 5, output_tokens: 2 },
    }), "application/json");
    const paused = await client.messages.create({ ...base, messages: [{ role: "user", content: "look it up" }] });
    assert.deepEqual([paused.stop_reason, paused.usage.output_tokens], ["pause_turn", 2]);

    const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false };
    await client.messages.create({ ...base, output_config: { format: { type: "json_schema", schema } }, messages: [{ role: "user", content: "json" }] });
    assert.deepEqual(lastUpstream().body.output_config, { format: { type: "json_schema", schema } }, "structured outputs reach the upstream");

    const tool: Anthropic.Tool = { name: "echo", input_schema: { type: "object", properties: { echo: { type: "string" } } } };
    const question: Anthropic.MessageParam = { role: "user", content: "one two" };
    const called = await client.messages.create({ ...base, tools: [tool], tool_choice: { type: "tool", name: "echo", disable_parallel_tool_use: true }, messages: [question] });
    assert.deepEqual(called.content, [{ type: "tool_use", id: "toolu_fake01", name: "echo", input: { echo: "one two one two one two one two" } }]);
    assert.equal(called.stop_reason, "tool_use");
    assert.deepEqual(lastUpstream().body.tool_choice, { type: "tool", name: "echo", disable_parallel_tool_use: true });
    await client.messages.create({ ...base, tools: [tool], messages: [
      question, { role: "assistant", content: called.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_fake01", content: "done" }] },
    ] });
    const msgs = lastUpstream().body.messages;
    assert.deepEqual(msgs.slice(1), [
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_fake01", name: "echo", input: { echo: "one two one two one two one two" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_fake01", content: "done" }] },
    ]);
  });

  test("through /v1/messages with the official SDK: thinking blocks come back signed, streamed and not, and go back upstream unchanged", async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 });
    const base = { model: "anthropic/claude", max_tokens: 2048, thinking: { type: "enabled" as const, budget_tokens: 1024 } };
    const question: Anthropic.MessageParam = { role: "user", content: `why ${REDACTED_THINKING_TRIGGER}` };
    const whole = await client.messages.create({ ...base, messages: [question] });
    assert.deepEqual(lastUpstream().body.thinking, base.thinking);
    const streamed = await client.messages.stream({ ...base, messages: [question] }).finalMessage();
    const thinking = `Let me think about "why ${REDACTED_THINKING_TRIGGER}".`;
    const reasoning = [{ type: "thinking", thinking, signature: fakeSignature(thinking) }, { type: "redacted_thinking", data: FAKE_REDACTED_DATA }];
    assert.deepEqual(whole.content.slice(0, 2), reasoning);
    assert.deepEqual(whole.content.slice(2).map((b) => b.type), ["text"]);
    assert.deepEqual(streamed.content, whole.content, "the SDK assembles the stream into the same blocks");

    // A tool-use loop: the turn's thinking, then its call; the fake checks each signature as Anthropic does.
    const tool: Anthropic.Tool = { name: "echo", input_schema: { type: "object", properties: { echo: { type: "string" } } } };
    const call = { type: "tool_use" as const, id: "toolu_think01", name: "echo", input: { echo: "hi" } };
    const result: Anthropic.MessageParam = { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "done" }] };
    const history: Anthropic.MessageParam[] = [question, { role: "assistant", content: [...whole.content.slice(0, 2), call] }, result];
    for (const m of [await client.messages.create({ ...base, tools: [tool], messages: history }), await client.messages.stream({ ...base, tools: [tool], messages: history }).finalMessage()]) {
      assert.deepEqual(m.content.map((b) => b.type), ["thinking", "text"]);
      assert.deepEqual(lastUpstream().body.messages.slice(1), [{ role: "assistant", content: [...reasoning, call] }, result]);
    }
  });
});
