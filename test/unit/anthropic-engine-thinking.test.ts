import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ChatRequest, Delta } from "../../contract/proto.js";
import { createAnthropicEngine } from "../../workers/engines/anthropic/index.js";
import { buildBody } from "../../workers/engines/anthropic/request.js";
import { buildBody as buildOpenAIBody } from "../../workers/engines/openai-http/request.js";
import { brokerError, runOnce } from "../helpers/engine-suite.js";
import { FAKE_REDACTED_DATA, fakeSignature, REDACTED_THINKING_TRIGGER } from "../helpers/fake-anthropic-thinking.js";
import { startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";

process.env.FAKE_ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef";

const THINKING = JSON.stringify({ type: "enabled", budget_tokens: 1024 });

/** The thinking blocks a run's deltas describe, rebuilt as the Messages front does: a signature closes a block. */
function thinkingOf(deltas: Delta[]): Record<string, string>[] {
  const blocks: Record<string, string>[] = [];
  for (const d of deltas) {
    if (d.reasoning || d.reasoningSignature) {
      let open = blocks.at(-1);
      if (open?.type !== "thinking" || open.signature) blocks.push(open = { type: "thinking", thinking: "", signature: "" });
      open.thinking += d.reasoning ?? "";
      open.signature = d.reasoningSignature ?? "";
    }
    if (d.redactedReasoning) blocks.push({ type: "redacted_thinking", data: d.redactedReasoning });
  }
  return blocks;
}

describe("anthropic engine: extended thinking", () => {
  let fake: FakeAnthropic;
  before(async () => (fake = await startFakeAnthropic()));
  after(() => fake.close());
  const run = (chat: ChatRequest) =>
    runOnce(createAnthropicEngine({ model: "m", options: { baseUrl: fake.url, apiKeyEnv: "FAKE_ANTHROPIC_KEY" } }), "m", chat);
  const lastBody = (): Record<string, unknown> => fake.requests.at(-1)!.body as Record<string, unknown>;

  test("thinkingJson is the upstream's thinking, over a chat client's extra thinking", () => {
    assert.deepEqual(buildBody({ messages: [{ role: "user", content: "x" }], thinkingJson: THINKING }, "m", 4096).thinking, JSON.parse(THINKING));
    const both = buildBody({ messages: [{ role: "user", content: "x" }], thinkingJson: '{"type":"disabled"}', extraJson: `{"thinking":${THINKING}}` }, "m", 4096);
    assert.deepEqual(both.thinking, { type: "disabled" });
    assert.deepEqual(buildBody({ messages: [{ role: "user", content: "x" }], extraJson: `{"thinking":${THINKING}}` }, "m", 4096).thinking, JSON.parse(THINKING));
  });

  test("an assistant turn's reasoning blocks go first in its content, byte for byte", () => {
    const blocks = [{ type: "thinking", thinking: "a", signature: "s", extra: { kept: true } }, { type: "redacted_thinking", data: "d" }];
    const body = buildBody({
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: "calling", toolCalls: [{ id: "toolu_1", type: "function", name: "f", arguments: "{}" }], reasoningBlocksJson: JSON.stringify(blocks) },
        { role: "tool", toolCallId: "toolu_1", content: "42" },
      ],
    }, "m", 4096);
    const turn = (body.messages as { content: unknown[] }[])[1]!;
    assert.deepEqual(turn.content, [...blocks, { type: "text", text: "calling" }, { type: "tool_use", id: "toolu_1", name: "f", input: {} }]);
  });

  test("reasoning blocks that are not a JSON array of objects are a 400 naming the message", async () => {
    const e = await brokerError(run({ messages: [{ role: "user", content: "x" }, { role: "assistant", content: "y", reasoningBlocksJson: '{"type":"thinking"}' }] }));
    assert.equal(e.param, "messages[1].reasoning_blocks_json");
  });

  test("engines that cannot think never forward thinking: openai-http sends the extra fields, not thinkingJson", () => {
    const body = buildOpenAIBody({ messages: [{ role: "user", content: "x", reasoningBlocksJson: "[]" }], thinkingJson: THINKING, extraJson: '{"top_k":5}' }, "m", false);
    assert.equal(body.thinking, undefined);
    assert.equal(body.top_k, 5, "vLLM's own extra fields still pass through");
    assert.deepEqual(body.messages, [{ role: "user", content: "x" }]);
  });

  for (const stream of [false, true]) {
    test(`thinking blocks of an answer become reasoning deltas before its text (${stream ? "streamed" : "whole"})`, async () => {
      const out = await run({ messages: [{ role: "user", content: "hello there" }], maxTokens: 2048, thinkingJson: THINKING, stream });
      assert.deepEqual(lastBody().thinking, JSON.parse(THINKING));
      const thinking = 'Let me think about "hello there".';
      assert.deepEqual(thinkingOf(out.deltas), [{ type: "thinking", thinking, signature: fakeSignature(thinking) }]);
      assert.equal(out.texts[0], "hello there hello there hello there hello there");
      const firstText = out.deltas.findIndex((d) => d.content);
      const lastThinking = out.deltas.findLastIndex((d) => d.reasoning || d.reasoningSignature);
      assert.ok(lastThinking < firstText, "thinking comes first");
      assert.equal(out.deltas[0]?.role, "assistant");
    });

    test(`a redacted_thinking block becomes its own delta (${stream ? "streamed" : "whole"})`, async () => {
      const text = `go ${REDACTED_THINKING_TRIGGER}`;
      const out = await run({ messages: [{ role: "user", content: text }], maxTokens: 2048, thinkingJson: THINKING, stream });
      const thinking = `Let me think about "${text}".`;
      assert.deepEqual(thinkingOf(out.deltas), [
        { type: "thinking", thinking, signature: fakeSignature(thinking) },
        { type: "redacted_thinking", data: FAKE_REDACTED_DATA },
      ]);
    });
  }

  test("a whole message with interleaved thinking keeps the order: text and tools split around it", async () => {
    fake.replayNext(JSON.stringify({
      id: "msg_01", type: "message", role: "assistant", model: "c", stop_reason: "tool_use", stop_sequence: null,
      content: [
        { type: "thinking", thinking: "first", signature: "s1" },
        { type: "tool_use", id: "toolu_1", name: "f", input: {} },
        { type: "thinking", thinking: "then", signature: "s2" },
        { type: "tool_use", id: "toolu_2", name: "g", input: { a: 1 } },
      ],
      usage: { input_tokens: 1, output_tokens: 2 },
    }), "application/json");
    const out = await run({ messages: [{ role: "user", content: "x" }] });
    assert.deepEqual(out.deltas.map((d) => d.reasoning || d.toolCalls?.[0]?.name), ["first", "f", "then", "g"]);
    assert.deepEqual(out.deltas.map((d) => d.toolCalls?.[0]?.index), [undefined, 0, undefined, 1]);
    assert.equal(out.finish[0], "tool_calls");
  });
});
