import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../config/config.js";
import { BrokerError, ErrorCodes, type ErrorCode } from "../../contract/errors.js";
import { anthropicError, anthropicStatus } from "../../http/anthropic/errors.js";
import { MessageAggregator } from "../../http/anthropic/message-format.js";
import { anthropicModelPage } from "../../http/anthropic/models.js";
import { anthropicParam, parseMessagesRequest } from "../../http/anthropic/messages-request.js";
import { MessagesStream } from "../../http/anthropic/sse.js";
import { namedEvents } from "../helpers/named-sse.js";

const limits = parseConfig({}).gateway.inputLimits;
const parse = (body: unknown) => parseMessagesRequest(body, limits);
const base = { model: "m", max_tokens: 32, messages: [{ role: "user", content: "Hi" }] };

function rejects(body: unknown, param: string | null, message: RegExp): void {
  assert.throws(() => parse(body), (e: unknown) => {
    assert.ok(e instanceof BrokerError, `not a BrokerError: ${String(e)}`);
    assert.equal(e.status, 400);
    assert.equal(e.param, param);
    assert.match(e.message, message);
    return true;
  });
}

const events = namedEvents;

describe("Messages request → canonical chat job", () => {
  test("system, text blocks, stop sequences and sampling map onto the job; top_k and metadata are accepted", () => {
    const call = parse({
      ...base,
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }, { role: "assistant", content: "Hello" }, { role: "user", content: "Again" }],
      stop_sequences: ["END"], temperature: 0.5, top_p: 0.9, top_k: 40, metadata: { user_id: "u-1" }, stream: true,
    });
    assert.equal(call.model, "m");
    assert.equal(call.stream, true);
    assert.equal(call.chat.maxTokens, 32);
    assert.deepEqual(call.chat.stop, ["END"]);
    assert.equal(call.chat.temperature, 0.5);
    assert.equal(call.chat.topP, 0.9);
    assert.equal(call.chat.user, "u-1");
    assert.deepEqual(call.chat.messages?.map((m) => m.role), ["system", "user", "assistant", "user"]);
    assert.deepEqual(call.chat.messages?.[0]?.parts, [{ type: "text", text: "Be brief." }]);
    assert.equal(call.chat.messages?.[2]?.content, "Hello");
  });

  test("missing required fields read as Anthropic says them", () => {
    const { max_tokens: _, ...noMax } = base;
    rejects(noMax, "max_tokens", /^max_tokens: Field required$/);
    rejects({ ...base, model: undefined }, "model", /^model: Field required$/);
    rejects({ ...base, messages: undefined }, "messages", /^messages: Field required$/);
  });

  test("server tools, MCP servers, containers and documents are refused by name, never dropped", () => {
    rejects({ ...base, tools: [{ type: "web_search_20250305", name: "web_search" }] }, "tools.0.type", /Server tools \('web_search_20250305'\) are not supported/);
    rejects({ ...base, tools: [{ type: "bash_20250124", name: "bash" }] }, "tools.0.type", /'bash_20250124'/);
    rejects({ ...base, mcp_servers: [{ type: "url", url: "https://x", name: "x" }] }, "mcp_servers", /MCP servers run on Anthropic's side/);
    rejects({ ...base, container: "c_1" }, "container", /not supported by this gateway/);
    const doc = { type: "document", source: { type: "text", media_type: "text/plain", data: "x" } };
    rejects({ ...base, messages: [{ role: "user", content: [{ type: "text", text: "see" }, doc] }] }, "messages.0.content.1.type", /'document' are not supported by this gateway yet/);
    rejects({ ...base, messages: [{ role: "user", content: [{ type: "tool_use", id: "t", name: "n", input: {} }] }] }, "messages.0.content.0.type", /'tool_use' are not supported here/);
    rejects({ ...base, system: [{ type: "image", source: { type: "url", url: "https://x/y.png" } }] }, "system.0.type", /text blocks only/);
  });

  test("context_management, cache_control, diagnostics, inference_geo, speed and effort are accepted and ignored", () => {
    const call = parse({
      ...base,
      context_management: { edits: [] }, cache_control: { type: "ephemeral" },
      diagnostics: { previous_message_id: "msg_1" }, inference_geo: "us", speed: "fast", output_config: { effort: "low" },
    });
    assert.equal(call.chat.extraJson, "", "nothing of them reaches the engine");
    assert.equal(call.chat.responseFormatJson, "");
    assert.equal(call.chat.thinkingJson, "");
  });

  test("bad values name the field the way the Messages body does", () => {
    rejects({ ...base, messages: [{ role: "system", content: "x" }] }, "messages.0.role", /'user' or 'assistant'/);
    rejects({ ...base, temperature: 1.5 }, "temperature", /between 0 and 1/);
    rejects({ ...base, max_tokens: 0 }, "max_tokens", /positive integer/);
    rejects({ ...base, frequency_penalty: 1 }, "frequency_penalty", /^frequency_penalty: Extra inputs are not permitted$/);
    // A system prompt is the job's first message: the core's paths shift back to the body's.
    rejects({ ...base, system: "s", stop_sequences: ["a", "b", "c", "d", "e"] }, "stop_sequences", /at most 4/);
    const origins = ["system", "messages.0", "messages.1.content.0", "messages.1"];
    assert.equal(anthropicParam(["chat", "messages", 3, "parts", 0, "text"], origins), "messages.1.content.0.text");
    assert.equal(anthropicParam(["chat", "messages", 0, "content"], origins), "system");
    assert.equal(anthropicParam(["chat", "messages", 0, "parts", 1, "text"], origins), "system.1.text");
    assert.equal(anthropicParam(["chat", "messages", 1, "content"], origins), "messages.0.content");
    assert.equal(anthropicParam(["chat", "messages", 2, "content"], origins), "messages.1.content.0.content", "a tool result's own content");
    assert.equal(anthropicParam(["chat", "maxTokens"], origins), "max_tokens");
    assert.equal(anthropicParam(["chat", "toolsJson"], origins), "tools");
  });
});

describe("Messages output", () => {
  test("a stream: message_start, content_block_start, ping, deltas, content_block_stop, message_delta, message_stop", () => {
    const s = new MessagesStream({ id: "msg_1", model: "m", inputEstimate: 3 });
    const raw = s.deltas([{ content: "Hel" }]) + s.deltas([{ content: "lo", finishReason: "length" }]) + s.final({ usage: { promptTokens: 5, completionTokens: 2 } });
    const ev = events(raw);
    assert.deepEqual(ev.map((e) => e.event), [
      "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]);
    assert.deepEqual(ev[0]?.data.message, {
      id: "msg_1", type: "message", role: "assistant", model: "m", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 3, output_tokens: 0 },
    });
    assert.deepEqual(ev[1]?.data, { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    assert.deepEqual(ev[3]?.data, { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } });
    assert.deepEqual(ev[6]?.data, { type: "message_delta", delta: { stop_reason: "max_tokens", stop_sequence: null }, usage: { input_tokens: 5, output_tokens: 2 } });
  });

  test("an empty answer still opens and closes its block; an error after the start is one error event", () => {
    const s = new MessagesStream({ id: "msg_2", model: "m", inputEstimate: 1 });
    assert.deepEqual(events(s.final({})).map((e) => e.event), ["message_start", "content_block_start", "ping", "content_block_stop", "message_delta", "message_stop"]);
    const err = events(new MessagesStream({ id: "x", model: "m", inputEstimate: 1 }).error(new BrokerError("worker_lost", "gone")));
    assert.deepEqual(err, [{ event: "error", data: { type: "error", error: { type: "api_error", message: "gone" } } }]);
  });

  test("a whole message: text, stop reason and usage", () => {
    const a = new MessageAggregator();
    a.add([{ content: "Hi " }, { content: "there", finishReason: "stop" }]);
    assert.deepEqual(a.result({ id: "msg_3", model: "m", final: { usage: { promptTokens: 4, completionTokens: 2 } } }), {
      id: "msg_3", type: "message", role: "assistant", model: "m", content: [{ type: "text", text: "Hi there" }],
      stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 4, output_tokens: 2 },
    });
  });

  test("every broker code has an Anthropic type; capacity 503s are 529 overloaded_error", () => {
    const types = new Set(["invalid_request_error", "authentication_error", "permission_error", "not_found_error", "request_too_large", "rate_limit_error", "api_error", "overloaded_error"]);
    for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
      const body = anthropicError(new BrokerError(code, "m"), "req_1");
      assert.ok(types.has(body.error.type), `${code}: ${body.error.type}`);
      assert.equal(body.type, "error");
    }
    const status = (code: ErrorCode): number => anthropicStatus(new BrokerError(code, "m"));
    assert.deepEqual(["queue_timeout", "model_unavailable", "nats_unavailable", "queue_full", "timeout", "model_not_found"].map((c) => status(c as ErrorCode)), [529, 529, 503, 429, 504, 404]);
    assert.equal(anthropicError(new BrokerError("request_too_large", "big"), "r").error.type, "request_too_large");
  });
});

test("the Anthropic model list pages forward with after_id and back with before_id", () => {
  const models = ["a", "b", "c", "d", "e"].map((id) => ({ id, created: 1_700_000_000 }));
  const ids = (q: Record<string, unknown>) => {
    const p = anthropicModelPage(models, q);
    return [p.data.map((m) => m.id).join(""), p.has_more, p.first_id, p.last_id];
  };
  assert.deepEqual(ids({ limit: "2" }), ["ab", true, "a", "b"]);
  assert.deepEqual(ids({ limit: "2", after_id: "b" }), ["cd", true, "c", "d"]);
  assert.deepEqual(ids({ limit: "2", after_id: "d" }), ["e", false, "e", "e"]);
  assert.deepEqual(ids({ limit: "2", before_id: "e" }), ["cd", true, "c", "d"]);
  assert.deepEqual(ids({ limit: "2", before_id: "c" }), ["ab", false, "a", "b"]);
  assert.deepEqual(ids({}), ["abcde", false, "a", "e"]);
  assert.equal(anthropicModelPage(models, {}).data[0]?.created_at, "2023-11-14T22:13:20.000Z");
  assert.throws(() => anthropicModelPage(models, { limit: "1001" }), /limit/);
  assert.throws(() => anthropicModelPage(models, { after_id: "zz" }), /after_id: no model 'zz'/);
});
