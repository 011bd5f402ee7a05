import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError } from "../../contract/errors.js";
import { ChatAggregator, ChatStream } from "../../http/openai/chat-format.js";

const ids = { id: "chatcmpl-1", created: 1700000000, model: "m" };
const head = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m",`;
const final = { usage: { promptTokens: 5, completionTokens: 3 }, model: "m" };

/** Every event's JSON, checking the framing: `data: ` lines, blank-line separated. */
function events(sse: string): unknown[] {
  assert.ok(sse.endsWith("\n\n"), "ends with a blank line");
  return sse
    .slice(0, -2)
    .split("\n\n")
    .map((e) => {
      assert.ok(e.startsWith("data: ") && !e.includes("\n"), `one data line: ${e}`);
      const data = e.slice(6);
      return data === "[DONE]" ? data : (JSON.parse(data) as unknown);
    });
}

type Chunk = { choices: { index: number; delta: Record<string, unknown>; finish_reason: string | null }[] };
const choicesOf = (sse: string) => events(sse).flatMap((e) => (e as Chunk).choices ?? []);

describe("ChatStream", () => {
  test("exact bytes of a small stream with include_usage", () => {
    const s = new ChatStream({ ...ids, includeUsage: true });
    const out =
      s.deltas([{ index: 0, content: "Hel" }]) +
      s.deltas([{ index: 0, content: "lo \"x\"\n" }, { index: 0, content: "!", finishReason: "stop" }]) +
      s.final({ ...final, systemFingerprint: "fp_1" });
    const tail = `"logprobs":null,"finish_reason":null}],"usage":null}\n\n`;
    assert.equal(
      out,
      `${head}"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},${tail}` +
        `${head}"choices":[{"index":0,"delta":{"content":"lo \\"x\\"\\n"},${tail}` +
        `${head}"choices":[{"index":0,"delta":{"content":"!"},${tail}` +
        `${head}"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n` +
        `${head}"system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}\n\n` +
        `data: [DONE]\n\n`,
    );
    events(out);
  });

  test("without include_usage: no usage key and no usage chunk", () => {
    const s = new ChatStream({ ...ids, includeUsage: false });
    const out = s.deltas([{ index: 0, role: "assistant", content: "Hi", finishReason: "length" }]) + s.final(final);
    assert.equal(
      out,
      `${head}"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":null}]}\n\n` +
        `${head}"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}\n\n` +
        `data: [DONE]\n\n`,
    );
    for (const e of events(out)) if (e !== "[DONE]") assert.ok(!("usage" in (e as object)));
  });

  test("the role goes on each choice's first chunk only, with content '' when it has none", () => {
    const s = new ChatStream({ ...ids, includeUsage: false });
    assert.deepEqual(choicesOf(s.deltas([{ index: 0, role: "assistant" }, { index: 0, content: "a" }])), [
      { index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: "a" }, logprobs: null, finish_reason: null },
    ]);
    // An empty answer still opens with the role before its finish reason.
    const empty = new ChatStream({ ...ids, includeUsage: false });
    assert.deepEqual(
      choicesOf(empty.deltas([{ index: 0, finishReason: "stop" }])).map((c) => [c.delta, c.finish_reason]),
      [[{ role: "assistant", content: "" }, null], [{}, "stop"]],
    );
  });

  test("n=2 interleaved: each choice gets its role once and its own finish", () => {
    const s = new ChatStream({ ...ids, includeUsage: false });
    const out =
      s.deltas([{ index: 0, content: "a" }, { index: 1, content: "b" }]) +
      s.deltas([{ index: 1, content: "c", finishReason: "stop" }, { index: 0, content: "d", finishReason: "length" }]);
    assert.deepEqual(
      choicesOf(out).map((c) => [c.index, c.delta, c.finish_reason]),
      [
        [0, { role: "assistant", content: "a" }, null],
        [1, { role: "assistant", content: "b" }, null],
        [1, { content: "c" }, null],
        [1, {}, "stop"],
        [0, { content: "d" }, null],
        [0, {}, "length"],
      ],
    );
  });

  test("tool call deltas and refusals", () => {
    const s = new ChatStream({ ...ids, includeUsage: false });
    const out = s.deltas([
      { index: 0, toolCalls: [{ index: 0, id: "call_1", type: "function", name: "get_weather" }] },
      { index: 0, toolCalls: [{ index: 0, arguments: '{"city":' }] },
      { index: 0, toolCalls: [{ index: 0, arguments: '"Oslo"}' }, { index: 1, id: "call_2", type: "function", name: "f", arguments: "{}" }] },
      { index: 0, finishReason: "tool_calls" },
    ]);
    assert.ok(out.startsWith(`${head}"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}`));
    assert.deepEqual(
      choicesOf(out).map((c) => [c.delta, c.finish_reason]),
      [
        [{ role: "assistant", tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] }, null],
        [{ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, null],
        [{ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }, { index: 1, id: "call_2", type: "function", function: { name: "f", arguments: "{}" } }] }, null],
        [{}, "tool_calls"],
      ],
    );
    const r = new ChatStream({ ...ids, includeUsage: false });
    assert.deepEqual(choicesOf(r.deltas([{ index: 0, refusal: "No." }]))[0]?.delta, { role: "assistant", refusal: "No." });
  });

  test("an error is one OpenAI error event", () => {
    const s = new ChatStream({ ...ids, includeUsage: true });
    const out = s.error(new BrokerError("worker_lost", "The worker stopped answering."));
    assert.equal(out, `data: {"error":{"message":"The worker stopped answering.","type":"server_error","param":null,"code":"worker_lost"}}\n\n`);
    assert.deepEqual(events(out), [{ error: { message: "The worker stopped answering.", type: "server_error", param: null, code: "worker_lost" } }]);
  });

  test("ids and models with odd characters stay valid JSON", () => {
    const s = new ChatStream({ id: 'a"b\\c', created: 1, model: "org/m\u2028", includeUsage: true });
    const [e] = events(s.deltas([{ index: 0, content: "\u0000\ud83d\ude00" }])) as [{ id: string; model: string }];
    assert.equal(e.id, 'a"b\\c');
    assert.equal(e.model, "org/m\u2028");
  });
});

describe("ChatAggregator", () => {
  test("text answer", () => {
    const a = new ChatAggregator();
    a.add([{ index: 0, role: "assistant", content: "Hel" }]);
    a.add([{ index: 0, content: "lo", finishReason: "stop" }]);
    assert.deepEqual(a.result({ ...ids, final: { ...final, systemFingerprint: "fp_1" } }), {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1700000000,
      model: "m",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Hello", refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
      system_fingerprint: "fp_1",
    });
  });

  test("tool calls merge by index; content is null without text", () => {
    const a = new ChatAggregator();
    a.add([
      { index: 0, toolCalls: [{ index: 1, id: "call_2", type: "function", name: "g", arguments: "{" }] },
      { index: 0, toolCalls: [{ index: 0, id: "call_1", type: "function", name: "f", arguments: '{"a":' }] },
    ]);
    a.add([
      { index: 0, toolCalls: [{ index: 0, arguments: "1}" }, { index: 1, arguments: "}" }] },
      { index: 0, finishReason: "tool_calls" },
    ]);
    const out = a.result({ ...ids, final });
    assert.deepEqual(out.choices, [
      {
        index: 0,
        message: {
          role: "assistant",
          content: null,
          refusal: null,
          annotations: [],
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } },
            { id: "call_2", type: "function", function: { name: "g", arguments: "{}" } },
          ],
        },
        logprobs: null,
        finish_reason: "tool_calls",
      },
    ]);
    assert.ok(!("system_fingerprint" in out));
  });

  test("n=2 arriving out of order comes back sorted; refusals", () => {
    const a = new ChatAggregator();
    a.add([{ index: 1, content: "b" }, { index: 0, refusal: "I can't" }, { index: 1, content: "c", finishReason: "length" }]);
    a.add([{ index: 0, refusal: " help.", finishReason: "stop" }]);
    const out = a.result({ ...ids, final });
    assert.deepEqual(
      out.choices.map((c) => [c.index, c.message.content, c.message.refusal, c.finish_reason]),
      [
        [0, null, "I can't help.", "stop"],
        [1, "bc", null, "length"],
      ],
    );
    assert.ok(out.choices.every((c) => !("tool_calls" in c.message)));
  });
});
