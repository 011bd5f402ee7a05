import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../config/config.js";
import { BrokerError } from "../../contract/errors.js";
import type { Delta } from "../../contract/proto.js";
import { MessageAggregator } from "../../http/anthropic/message-format.js";
import { parseMessagesRequest } from "../../http/anthropic/messages-request.js";
import { MessagesStream } from "../../http/anthropic/sse.js";
import { namedEvents } from "../helpers/named-sse.js";

const limits = parseConfig({}).gateway.inputLimits;
const parse = (body: unknown) => parseMessagesRequest(body, limits);
const base = { model: "m", max_tokens: 2048, messages: [{ role: "user", content: "Hi" }] };

function rejects(body: unknown, param: string, message: RegExp): void {
  assert.throws(() => parse(body), (e: unknown) => {
    assert.ok(e instanceof BrokerError, `not a BrokerError: ${String(e)}`);
    assert.equal(e.param, param);
    assert.match(e.message, message);
    return true;
  });
}

// What an engine sends for: thinking in two pieces and its signature, a redacted block, text, then a tool call.
const DELTAS: Delta[][] = [
  [{ index: 0, role: "assistant", reasoning: "Let me " }, { index: 0, reasoning: "think." }],
  [{ index: 0, reasoningSignature: "sig_1" }, { index: 0, redactedReasoning: "opaque" }],
  [{ index: 0, content: "Checking." }, { index: 0, toolCalls: [{ index: 0, id: "toolu_1", type: "function", name: "f", arguments: '{"a":1}' }] }],
  [{ index: 0, finishReason: "tool_calls" }],
];
const BLOCKS = [
  { type: "thinking", thinking: "Let me think.", signature: "sig_1" },
  { type: "redacted_thinking", data: "opaque" },
  { type: "text", text: "Checking." },
  { type: "tool_use", id: "toolu_1", name: "f", input: { a: 1 } },
];

describe("Messages thinking → the job", () => {
  test("thinking travels as thinkingJson (enabled, adaptive, disabled), never among the extra fields", () => {
    for (const thinking of [{ type: "enabled", budget_tokens: 1024 }, { type: "adaptive", display: "omitted" }, { type: "disabled" }]) {
      const call = parse({ ...base, thinking });
      assert.deepEqual(JSON.parse(call.chat.thinkingJson ?? ""), thinking);
      assert.equal(call.chat.extraJson, "");
    }
    assert.equal(parse(base).chat.thinkingJson, "");
  });

  test("a malformed thinking object is a 400 naming its field", () => {
    rejects({ ...base, thinking: { type: "enabled", budget_tokens: 100 } }, "thinking.budget_tokens", /at least 1024/);
    rejects({ ...base, thinking: { type: "enabled" } }, "thinking.budget_tokens", /Missing required parameter/);
    rejects({ ...base, thinking: { type: "sometimes" } }, "thinking.type", /'enabled', 'adaptive' or 'disabled'/);
    rejects({ ...base, thinking: { type: "adaptive", display: "loud" } }, "thinking.display", /'summarized' or 'omitted'/);
  });

  test("an assistant turn's thinking blocks ride as reasoningBlocksJson, in order and unchanged", () => {
    const thinking = [
      { type: "thinking", thinking: "hm", signature: "sig", cache_control: { type: "ephemeral" } },
      { type: "redacted_thinking", data: "x" },
    ];
    const call = parse({
      ...base,
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: [thinking[0], { type: "text", text: "Hello" }, thinking[1], { type: "tool_use", id: "toolu_1", name: "f", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "42" }] },
        { role: "assistant", content: [{ type: "thinking", thinking: "", signature: "only" }] },
        { role: "user", content: "Again" },
      ],
    });
    const assistant = call.chat.messages?.[1];
    assert.deepEqual(JSON.parse(assistant?.reasoningBlocksJson ?? ""), thinking);
    assert.deepEqual(assistant?.parts, [{ type: "text", text: "Hello" }]);
    assert.equal(assistant?.toolCalls?.[0]?.id, "toolu_1");
    assert.deepEqual(call.chat.messages?.[3], { role: "assistant", content: "", reasoningBlocksJson: '[{"type":"thinking","thinking":"","signature":"only"}]' });
  });

  test("a thinking block without its signature, or a redacted one without data, is a 400 naming the field", () => {
    const turn = (block: unknown) => ({ ...base, messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: [block] }, { role: "user", content: "x" }] });
    rejects(turn({ type: "thinking", thinking: "hm" }), "messages.1.content.0.signature", /Missing required parameter/);
    rejects(turn({ type: "redacted_thinking" }), "messages.1.content.0.data", /Missing required parameter/);
  });
});

describe("Messages thinking output", () => {
  test("a whole message: thinking and redacted_thinking blocks before text and tool_use, in order", () => {
    const a = new MessageAggregator();
    for (const batch of DELTAS) a.add(batch);
    const m = a.result({ id: "msg_1", model: "m", final: {} });
    assert.deepEqual(m.content, BLOCKS);
    assert.equal(m.stop_reason, "tool_use");
  });

  test("a signature closes its block: later thinking is a block of its own; a signature alone is an empty thinking block", () => {
    const a = new MessageAggregator();
    a.add([{ reasoning: "one" }, { reasoningSignature: "s1" }, { reasoning: "two" }, { reasoningSignature: "s2" }, { reasoningSignature: "s3" }, { content: "x" }]);
    assert.deepEqual(a.result({ id: "msg_2", model: "m", final: {} }).content, [
      { type: "thinking", thinking: "one", signature: "s1" },
      { type: "thinking", thinking: "two", signature: "s2" },
      { type: "thinking", thinking: "", signature: "s3" },
      { type: "text", text: "x" },
    ]);
  });

  test("a stream: thinking_delta and signature_delta in block 0, redacted_thinking whole in block 1, then text and tool_use", () => {
    const s = new MessagesStream({ id: "msg_3", model: "m", inputEstimate: 1 });
    const raw = DELTAS.map((batch) => s.deltas(batch)).join("") + s.final({ usage: { promptTokens: 1, completionTokens: 9 } });
    const ev = namedEvents(raw).filter((e) => e.event !== "ping");
    const body = ev.slice(1, -2).map((e) => e.data);
    assert.deepEqual(body, [
      { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Let me " } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "think." } },
      { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig_1" } },
      { type: "content_block_stop", index: 0 },
      { type: "content_block_start", index: 1, content_block: { type: "redacted_thinking", data: "opaque" } },
      { type: "content_block_stop", index: 1 },
      { type: "content_block_start", index: 2, content_block: { type: "text", text: "" } },
      { type: "content_block_delta", index: 2, delta: { type: "text_delta", text: "Checking." } },
      { type: "content_block_stop", index: 2 },
      { type: "content_block_start", index: 3, content_block: { type: "tool_use", id: "toolu_1", name: "f", input: {} } },
      { type: "content_block_delta", index: 3, delta: { type: "input_json_delta", partial_json: '{"a":1}' } },
      { type: "content_block_stop", index: 3 },
    ]);
    assert.equal(ev.at(-2)?.data.type, "message_delta");
  });

  test("an answer of thinking alone (cut by max_tokens) has no empty text block, streamed or not", () => {
    const s = new MessagesStream({ id: "msg_4", model: "m", inputEstimate: 1 });
    const raw = s.deltas([{ reasoning: "hmm", finishReason: "length" }]) + s.final({});
    const starts = namedEvents(raw).filter((e) => e.event === "content_block_start").map((e) => e.data.content_block);
    assert.deepEqual(starts, [{ type: "thinking", thinking: "", signature: "" }]);
    const a = new MessageAggregator();
    a.add([{ reasoning: "hmm", finishReason: "length" }]);
    assert.deepEqual(a.result({ id: "msg_4", model: "m", final: {} }).content, [{ type: "thinking", thinking: "hmm", signature: "" }]);
  });
});
