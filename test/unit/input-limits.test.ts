// The gateway's input limits (config gateway.inputLimits), checked by the
// core for every request kind and both fronts: each bound refuses one past it
// with a 400 naming the field, the limit and the config field, and accepts
// one at it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../config/config.js";
import { BrokerError } from "../../contract/errors.js";
import { pb } from "../../contract/proto.js";
import { jsonTooDeep, tooDeep, type InputLimits } from "../../core/validate/limits.js";
import { chatJob, completionJob, embeddingJob } from "../../grpc/requests.js";
import { parseChatRequest } from "../../http/openai/chat-request.js";
import { parseCompletionRequest } from "../../http/openai/completion-request.js";
import { parseEmbeddingRequest } from "../../http/openai/embedding-request.js";

const defaults = parseConfig({}).gateway.inputLimits;
// Small bounds, so each case is a few bytes.
const small: InputLimits = { maxMessages: 3, maxInputChars: 20, maxJsonDepth: 4, maxN: 2, maxTokens: 100, maxTools: 2 };

function rejects(fn: () => unknown, param: string | null, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BrokerError, `not a BrokerError: ${String(e)}`);
    assert.deepEqual([e.status, e.code, e.type, e.param], [400, "invalid_request", "invalid_request_error", param]);
    assert.match(e.message, message);
    return true;
  });
}

const say = (content: string) => ({ role: "user", content });
const msgs = (k: number) => Array.from({ length: k }, () => say("hi"));
const tool = (name: string, parameters: Record<string, unknown> = { type: "object" }) => ({ type: "function", function: { name, parameters } });
/** `{"a":{"a":...}}` nested `levels` deep. */
const nested = (levels: number): Record<string, unknown> => (levels <= 1 ? {} : { a: nested(levels - 1) });

describe("the default limits", () => {
  test("are what the README documents", () => {
    assert.deepEqual(defaults, { maxMessages: 4096, maxInputChars: 4_000_000, maxJsonDepth: 64, maxN: 16, maxTokens: 1_000_000, maxTools: 128 });
  });

  test("config refuses bounds the API or the job cannot carry", () => {
    assert.throws(() => parseConfig({ gateway: { inputLimits: { maxN: 129 } } }), /gateway\.inputLimits\.maxN/);
    assert.throws(() => parseConfig({ gateway: { inputLimits: { maxTokens: 2 ** 32 } } }), /gateway\.inputLimits\.maxTokens/);
    assert.throws(() => parseConfig({ gateway: { inputLimits: { maxJsonDepth: 10_000 } } }), /gateway\.inputLimits\.maxJsonDepth/);
  });

  test("4097 messages: the message states the limit and the config field", () => {
    rejects(() => parseChatRequest({ model: "m", messages: msgs(4097) }, defaults), "messages",
      /^Invalid 'messages': array too long\. Expected an array with maximum length 4096, but got an array with length 4097 instead\. This gateway's limit is set by gateway\.inputLimits\.maxMessages\.$/);
    assert.equal(parseChatRequest({ model: "m", messages: msgs(4096) }, defaults).chat.messages?.length, 4096);
  });
});

describe("HTTP chat completions", () => {
  const chat = (extra: Record<string, unknown>, limits = small) => parseChatRequest({ model: "m", messages: msgs(1), ...extra }, limits);

  test("messages", () => {
    rejects(() => chat({ messages: msgs(4) }), "messages", /maximum length 3, but got an array with length 4 .*maxMessages/);
    assert.equal(chat({ messages: msgs(3) }).chat.messages?.length, 3);
  });

  test("n, under OpenAI's own 128", () => {
    rejects(() => chat({ n: 3 }), "n", /^Invalid 'n': integer above maximum value\. Expected a value <= 2, but got 3 instead\. .*gateway\.inputLimits\.maxN\.$/);
    assert.equal(chat({ n: 2 }).chat.n, 2);
  });

  test("max_tokens and max_completion_tokens, each by its own name", () => {
    rejects(() => chat({ max_tokens: 101 }), "max_tokens", /Expected a value <= 100, but got 101 instead\. .*gateway\.inputLimits\.maxTokens\./);
    rejects(() => chat({ max_completion_tokens: 101 }), "max_completion_tokens", /<= 100, but got 101 .*maxTokens/);
    assert.equal(chat({ max_tokens: 100 }).chat.maxTokens, 100);
  });

  test("tools", () => {
    rejects(() => chat({ tools: [tool("a"), tool("b"), tool("c")] }), "tools", /^Invalid 'tools': array too long\. Expected an array with maximum length 2, but got an array with length 3 instead\. .*maxTools\.$/);
    assert.ok(chat({ tools: [tool("a"), tool("b")] }).chat.toolsJson);
  });

  test("characters of text: contents, text parts and tool-call arguments together", () => {
    rejects(() => chat({ messages: [say("x".repeat(11)), say("y".repeat(10))] }), "messages",
      /^Invalid 'messages': text too long\. Expected at most 20 characters in all, but got 21 instead\. .*gateway\.inputLimits\.maxInputChars\.$/);
    assert.ok(chat({ messages: [say("x".repeat(10)), say("y".repeat(10))] }));
    rejects(() => chat({ messages: [say("x".repeat(11)), { role: "user", content: [{ type: "text", text: "y".repeat(10) }] }] }), "messages", /got 21 /);
    const call = { id: "c1", type: "function", function: { name: "f", arguments: `{"k":"${"z".repeat(16)}"}` } };
    rejects(() => chat({ messages: [say("x"), { role: "assistant", tool_calls: [call] }] }), "messages", /got 25 /);
  });

  test("JSON nesting inside a tool call's arguments (a string the body's own depth does not see)", () => {
    const call = (levels: number) => ({ id: "c1", type: "function", function: { name: "f", arguments: JSON.stringify(nested(levels)) } });
    const roomy = { ...small, maxInputChars: 1000 };
    rejects(() => chat({ messages: [say("x"), { role: "assistant", tool_calls: [call(5)] }] }, roomy), "messages[1].tool_calls[0].function.arguments",
      /^Invalid 'messages\[1\]\.tool_calls\[0\]\.function\.arguments': JSON nested too deeply\. Expected at most 4 levels of nesting, but got more\. .*gateway\.inputLimits\.maxJsonDepth\.$/);
    assert.ok(chat({ messages: [say("x"), { role: "assistant", tool_calls: [call(4)] }] }, roomy));
  });
});

describe("HTTP legacy completions", () => {
  const complete = (extra: Record<string, unknown>) => parseCompletionRequest({ model: "m", prompt: "hi", ...extra }, small);

  test("prompts count as messages: each is a generation of its own", () => {
    rejects(() => complete({ prompt: ["a", "b", "c", "d"] }), "prompt", /^Invalid 'prompt': array too long\. .*length 3, but got an array with length 4 .*maxMessages\.$/);
    assert.equal(complete({ prompt: ["a", "b", "c"] }).completion.prompts?.length, 3);
  });

  test("n and max_tokens", () => {
    rejects(() => complete({ n: 3 }), "n", /<= 2, but got 3 .*maxN/);
    rejects(() => complete({ max_tokens: 101 }), "max_tokens", /<= 100, but got 101 .*maxTokens/);
  });

  test("characters of text: prompts and suffix together", () => {
    rejects(() => complete({ prompt: ["x".repeat(15), "y".repeat(6)] }), "prompt", /at most 20 characters in all, but got 21 .*maxInputChars/);
    rejects(() => complete({ prompt: "x".repeat(15), suffix: "y".repeat(6) }), "prompt", /got 21 /);
    assert.ok(complete({ prompt: "x".repeat(20) }));
  });
});

describe("HTTP embeddings", () => {
  test("characters of text: every input together", () => {
    rejects(() => parseEmbeddingRequest({ model: "m", input: ["x".repeat(15), "y".repeat(6)] }, small), "input", /at most 20 characters in all, but got 21 .*maxInputChars/);
    assert.ok(parseEmbeddingRequest({ model: "m", input: "x".repeat(20) }, small));
  });
});

describe("gRPC requests", () => {
  // Requests go through encode/decode first, as they arrive from the wire.
  const chat = (request: NonNullable<Parameters<typeof pb.ChatRequest.encode>[0]>) =>
    chatJob(pb.ChatCompletionRequest.decode(pb.ChatCompletionRequest.encode({ model: "m", request: { messages: msgs(1), ...request } }).finish()), small);

  test("each bound names the proto field", () => {
    rejects(() => chat({ messages: msgs(4) }), "request.messages", /length 4 .*maxMessages/);
    rejects(() => chat({ n: 3 }), "request.n", /<= 2, but got 3 .*maxN/);
    rejects(() => chat({ maxTokens: 101 }), "request.max_tokens", /maxTokens/);
    rejects(() => chat({ toolsJson: JSON.stringify([tool("a"), tool("b"), tool("c")]) }), "request.tools_json", /length 3 .*maxTools/);
    rejects(() => chat({ messages: [say("x".repeat(21))] }), "request.messages", /got 21 .*maxInputChars/);
  });

  test("JSON carried in strings is checked for depth before anything parses it", () => {
    rejects(() => chat({ toolsJson: JSON.stringify([tool("a", nested(4))]) }), "request.tools_json", /nested too deeply.*maxJsonDepth/);
    rejects(() => chat({ extraJson: JSON.stringify(nested(5)) }), "request.extra_json", /at most 4 levels/);
    rejects(() => chat({ responseFormatJson: JSON.stringify({ type: "json_schema", json_schema: { name: "x", schema: nested(3) } }) }), "request.response_format_json", /maxJsonDepth/);
    assert.ok(chat({ extraJson: JSON.stringify(nested(4)) }));
  });

  test("completions and embeddings", () => {
    const completion = (request: NonNullable<Parameters<typeof pb.CompletionRequest.encode>[0]>) =>
      completionJob(pb.TextCompletionRequest.decode(pb.TextCompletionRequest.encode({ model: "m", request }).finish()), small);
    rejects(() => completion({ prompts: ["a", "b", "c", "d"] }), "request.prompts", /maxMessages/);
    rejects(() => completion({ prompts: ["a"], n: 3 }), "request.n", /maxN/);
    rejects(() => completion({ prompts: ["a"], extraJson: JSON.stringify(nested(5)) }), "request.extra_json", /maxJsonDepth/);
    const embed = (inputs: string[]) => embeddingJob(pb.EmbedRequest.decode(pb.EmbedRequest.encode({ model: "m", request: { inputs } }).finish()), small);
    rejects(() => embed(["x".repeat(21)]), "request.inputs", /maxInputChars/);
    assert.ok(embed(["x".repeat(20)]));
  });
});

describe("jsonTooDeep", () => {
  const depthOk = (text: string, max: number): boolean => !jsonTooDeep(text, max);

  test("counts arrays and objects, not brackets inside strings", () => {
    assert.equal(depthOk('{"a":[1,{"b":2}]}', 3), true);
    assert.equal(depthOk('{"a":[1,{"b":2}]}', 2), false);
    assert.equal(depthOk('{"a":"[[[[{{{{"}', 1), true);
    assert.equal(depthOk('{"a":"\\"[[[[","b":"\\\\"}', 1), true);
    assert.equal(depthOk('{"a":"\\\\","b":[[1]]}', 2), false);
    assert.equal(depthOk('"unterminated [[[', 1), true);
  });

  test("a 100,000-deep array is refused at once, with no recursion", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const t0 = performance.now();
    assert.equal(depthOk(deep, 64), false);
    assert.ok(performance.now() - t0 < 100, "the scan stops at the limit");
    rejects(() => {
      throw tooDeep(null, 64);
    }, null, /^Invalid request body: JSON nested too deeply\. Expected at most 64 levels of nesting, but got more\. .*gateway\.inputLimits\.maxJsonDepth\.$/);
  });
});
