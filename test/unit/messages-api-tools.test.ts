// The Messages front's tools, images, tool_use/tool_result history, stop
// sequences and rate-limit headers: request → canonical job, and the job's
// output → Anthropic's message and events.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../config/config.js";
import { BrokerError } from "../../contract/errors.js";
import type { Delta, Final } from "../../contract/proto.js";
import { MessageAggregator } from "../../http/anthropic/message-format.js";
import { parseMessagesRequest } from "../../http/anthropic/messages-request.js";
import { anthropicRateLimitHeaders } from "../../http/anthropic/rate-limit.js";
import { MessagesStream } from "../../http/anthropic/sse.js";
import { namedEvents } from "../helpers/named-sse.js";

const limits = parseConfig({}).gateway.inputLimits;
const parse = (body: unknown) => parseMessagesRequest(body, limits);
const base = { model: "m", max_tokens: 32, messages: [{ role: "user", content: "Hi" }] };
const weather = { name: "get_weather", description: "Weather now", input_schema: { type: "object", properties: { city: { type: "string" } } }, cache_control: { type: "ephemeral" } };

function rejects(body: unknown, param: string, message: RegExp): void {
  assert.throws(() => parse(body), (e: unknown) => {
    assert.ok(e instanceof BrokerError, `not a BrokerError: ${String(e)}`);
    assert.deepEqual([e.status, e.param], [400, param]);
    assert.match(e.message, message);
    return true;
  });
}

const events = namedEvents;

describe("Messages tools → canonical job", () => {
  test("tools become OpenAI function tools; tool_choice auto/any/tool/none map; cache_control is dropped", () => {
    const call = parse({ ...base, tools: [weather], tool_choice: { type: "any" } });
    assert.deepEqual(JSON.parse(call.chat.toolsJson ?? ""), [
      { type: "function", function: { name: "get_weather", description: "Weather now", parameters: weather.input_schema } },
    ]);
    const choice = (tool_choice: unknown): unknown => JSON.parse(parse({ ...base, tools: [weather], tool_choice }).chat.toolChoiceJson ?? "");
    assert.equal(choice({ type: "any" }), "required");
    assert.equal(choice({ type: "auto" }), "auto");
    assert.equal(choice({ type: "none" }), "none");
    assert.deepEqual(choice({ type: "tool", name: "get_weather" }), { type: "function", function: { name: "get_weather" } });
    assert.equal(parse({ ...base, tools: [weather] }).chat.toolChoiceJson, "");
  });

  test("disable_parallel_tool_use and top_k travel as the job's extra fields", () => {
    const call = parse({ ...base, tools: [weather], tool_choice: { type: "auto", disable_parallel_tool_use: true }, top_k: 5 });
    assert.deepEqual(JSON.parse(call.chat.extraJson ?? ""), { top_k: 5, parallel_tool_calls: false });
  });

  test("output_config.format (structured outputs) becomes a strict json_schema response format", () => {
    const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false };
    const call = parse({ ...base, output_config: { format: { type: "json_schema", schema }, effort: "high" } });
    assert.deepEqual(JSON.parse(call.chat.responseFormatJson ?? ""), { type: "json_schema", json_schema: { name: "output", schema, strict: true } });
    rejects({ ...base, output_config: { format: { type: "json_object" } } }, "output_config.format.type", /json_schema/);
  });

  test("a tool_choice that cannot be honoured, and bad tools, are 400s naming the field", () => {
    rejects({ ...base, tool_choice: { type: "any" } }, "tool_choice", /needs tools/);
    rejects({ ...base, tools: [weather], tool_choice: { type: "tool", name: "nope" } }, "tool_choice.name", /'nope', which is not in tools/);
    rejects({ ...base, tools: [weather], tool_choice: { type: "sometimes" } }, "tool_choice.type", /'auto', 'any', 'tool' or 'none'/);
    rejects({ ...base, tools: [{ name: "bad name", input_schema: {} }] }, "tools.0.name", /letters, digits/);
    rejects({ ...base, tools: [{ name: "t" }] }, "tools.0.input_schema", /Missing required parameter/);
  });
});

describe("Messages content blocks → canonical messages", () => {
  test("images: base64 as a data: URL part, url as is", () => {
    const png = "iVBORw0KGgo=";
    const call = parse({ ...base, messages: [{ role: "user", content: [
      { type: "text", text: "What is this?" },
      { type: "image", source: { type: "base64", media_type: "image/png", data: png }, cache_control: { type: "ephemeral" } },
      { type: "image", source: { type: "url", url: "https://example.com/a.jpg" } },
    ] }] });
    assert.deepEqual(call.chat.messages?.[0]?.parts, [
      { type: "text", text: "What is this?" },
      { type: "image_url", imageUrl: `data:image/png;base64,${png}`, imageDetail: "" },
      { type: "image_url", imageUrl: "https://example.com/a.jpg", imageDetail: "" },
    ]);
    rejects({ ...base, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/tiff", data: "x" } }] }] },
      "messages.0.content.0.source.media_type", /image\/png/);
  });

  test("tool_use → assistant tool calls; tool_result → tool messages before the rest of the user turn", () => {
    const call = parse({ ...base, tools: [weather], messages: [
      { role: "user", content: "Weather in Paris and Rome?" },
      { role: "assistant", content: [
        { type: "text", text: "Checking." },
        { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
        { type: "tool_use", id: "toolu_2", name: "get_weather", input: { city: "Rome" } },
      ] },
      { role: "user", content: [
        { type: "tool_result", tool_use_id: "toolu_1", content: "18C" },
        { type: "text", text: "And be brief." },
        { type: "tool_result", tool_use_id: "toolu_2", content: [{ type: "text", text: "down" }], is_error: true },
      ] },
    ] });
    const m = call.chat.messages ?? [];
    assert.deepEqual(m.map((x) => x.role), ["user", "assistant", "tool", "tool", "user"]);
    assert.deepEqual(m[1], {
      role: "assistant",
      parts: [{ type: "text", text: "Checking." }],
      toolCalls: [
        { id: "toolu_1", type: "function", name: "get_weather", arguments: '{"city":"Paris"}' },
        { id: "toolu_2", type: "function", name: "get_weather", arguments: '{"city":"Rome"}' },
      ],
    });
    assert.deepEqual(m[2], { role: "tool", toolCallId: "toolu_1", content: "18C" });
    assert.deepEqual(m[3], { role: "tool", toolCallId: "toolu_2", parts: [{ type: "text", text: "Error:" }, { type: "text", text: "down" }] });
    assert.deepEqual(m[4], { role: "user", parts: [{ type: "text", text: "And be brief." }] });
    // A turn of tool results alone adds no user message.
    const only = parse({ ...base, messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: "1", is_error: true }] }] });
    assert.deepEqual(only.chat.messages, [{ role: "tool", toolCallId: "t", content: "Error: 1" }]);
    rejects({ ...base, messages: [{ role: "user", content: [{ type: "tool_result", content: "1" }] }] }, "messages.0.content.0.tool_use_id", /Missing required parameter/);
  });
});

const final = (f: Partial<Final> = {}): Final => ({ usage: { promptTokens: 7, completionTokens: 3 }, ...f });
const callDeltas = (id: string): Delta[] => [
  { content: "Let me check." },
  { toolCalls: [{ index: 0, id, type: "function", name: "get_weather", arguments: "" }] },
  { toolCalls: [{ index: 0, arguments: '{"city":' }] },
  { toolCalls: [{ index: 0, arguments: '"Paris"}' }] },
  { toolCalls: [{ index: 1, id: "", name: "get_time", arguments: "" }] },
  { finishReason: "tool_calls" },
];

describe("Messages output with tools and stop sequences", () => {
  test("a whole message: text, then tool_use blocks with object input; ids keep toolu_ and prefix the rest", () => {
    const a = new MessageAggregator();
    a.add(callDeltas("call_abc"));
    const msg = a.result({ id: "msg_job1", model: "m", final: final() });
    assert.deepEqual(msg.content, [
      { type: "text", text: "Let me check." },
      { type: "tool_use", id: "toolu_call_abc", name: "get_weather", input: { city: "Paris" } },
      { type: "tool_use", id: "toolu_job1_1", name: "get_time", input: {} },
    ]);
    assert.deepEqual([msg.stop_reason, msg.stop_sequence], ["tool_use", null]);
    a.reset();
    a.add(callDeltas("toolu_01A"));
    assert.deepEqual(a.result({ id: "msg_x", model: "m", final: final() }).content[1], { type: "tool_use", id: "toolu_01A", name: "get_weather", input: { city: "Paris" } });
  });

  test("stop_reason: the matched stop sequence, an Anthropic upstream's own reason, else the finish reason", () => {
    const stop = (finishReason: string, f: Partial<Final>) => {
      const a = new MessageAggregator();
      a.add([{ content: "x", finishReason }]);
      const { stop_reason, stop_sequence } = a.result({ id: "msg_1", model: "m", final: final(f) });
      return [stop_reason, stop_sequence];
    };
    assert.deepEqual(stop("stop", { stopSequence: "END" }), ["stop_sequence", "END"]);
    assert.deepEqual(stop("stop", {}), ["end_turn", null]);
    assert.deepEqual(stop("length", {}), ["max_tokens", null]);
    assert.deepEqual(stop("content_filter", {}), ["refusal", null]);
    assert.deepEqual(stop("stop", { stopReason: "pause_turn" }), ["pause_turn", null]);
    assert.deepEqual(stop("content_filter", { stopReason: "refusal" }), ["refusal", null]);
    assert.deepEqual(stop("stop", { stopReason: "stop_sequence", stopSequence: "##" }), ["stop_sequence", "##"]);
    assert.deepEqual(stop("length", { stopReason: "model_context_window_exceeded" }), ["model_context_window_exceeded", null]);
  });

  test("a stream: text block 0, tool_use blocks 1 and 2 with input_json_delta, stop_reason tool_use", () => {
    const s = new MessagesStream({ id: "msg_job1", model: "m", inputEstimate: 3 });
    const d = callDeltas("call_abc");
    const ev = events(s.deltas(d.slice(0, 3)) + s.deltas(d.slice(3)) + s.final(final()));
    assert.deepEqual(ev.map((e) => [e.event, e.data.index]), [
      ["message_start", undefined], ["content_block_start", 0], ["ping", undefined], ["content_block_delta", 0],
      ["content_block_stop", 0], ["content_block_start", 1], ["content_block_delta", 1], ["content_block_delta", 1],
      ["content_block_stop", 1], ["content_block_start", 2], ["content_block_stop", 2], ["message_delta", undefined], ["message_stop", undefined],
    ]);
    assert.deepEqual(ev[5]?.data.content_block, { type: "tool_use", id: "toolu_call_abc", name: "get_weather", input: {} });
    assert.deepEqual(ev[6]?.data.delta, { type: "input_json_delta", partial_json: '{"city":' });
    assert.deepEqual(ev[9]?.data.content_block, { type: "tool_use", id: "toolu_job1_1", name: "get_time", input: {} });
    assert.deepEqual(ev[11]?.data.delta, { stop_reason: "tool_use", stop_sequence: null });
  });

  test("a stream that starts with a tool call puts it at index 0; message_delta names a matched stop sequence", () => {
    const s = new MessagesStream({ id: "msg_2", model: "m", inputEstimate: 1 });
    const ev = events(s.deltas(callDeltas("c").slice(1, 4)) + s.final(final()));
    assert.deepEqual(ev.slice(1, 3).map((e) => [e.event, e.data.index]), [["content_block_start", 0], ["ping", undefined]]);
    const t = new MessagesStream({ id: "msg_3", model: "m", inputEstimate: 1 });
    const done = events(t.deltas([{ content: "one two", finishReason: "stop" }]) + t.final(final({ stopSequence: "three" })));
    assert.deepEqual(done.at(-2)?.data.delta, { stop_reason: "stop_sequence", stop_sequence: "three" });
  });
});

test("anthropic-ratelimit-* headers: limits, remaining, and resets as RFC 3339 times rounded up to the second", () => {
  const now = Date.parse("2026-01-01T00:00:00.000Z");
  assert.deepEqual(anthropicRateLimitHeaders({ limitRequests: 10, remainingRequests: 9, resetRequestsMs: 5_500, limitTokens: 1000, remainingTokens: -3, resetTokensMs: 60_000 }, now), [
    ["anthropic-ratelimit-requests-limit", "10"],
    ["anthropic-ratelimit-requests-remaining", "9"],
    ["anthropic-ratelimit-requests-reset", "2026-01-01T00:00:06Z"],
    ["anthropic-ratelimit-tokens-limit", "1000"],
    ["anthropic-ratelimit-tokens-remaining", "0"],
    ["anthropic-ratelimit-tokens-reset", "2026-01-01T00:01:00Z"],
  ]);
  assert.deepEqual(anthropicRateLimitHeaders({}, now), []);
});
