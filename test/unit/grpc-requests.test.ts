import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError } from "../../contract/errors.js";
import { parseConfig } from "../../config/config.js";
import * as requests from "../../grpc/requests.js";
import { pb } from "../../contract/proto.js";

// Requests go through encode/decode first, as they arrive from the wire.
const chat = (init: Parameters<typeof pb.ChatCompletionRequest.encode>[0]) => pb.ChatCompletionRequest.decode(pb.ChatCompletionRequest.encode(init).finish());
const completion = (init: Parameters<typeof pb.TextCompletionRequest.encode>[0]) => pb.TextCompletionRequest.decode(pb.TextCompletionRequest.encode(init).finish());
const embed = (init: Parameters<typeof pb.EmbedRequest.encode>[0]) => pb.EmbedRequest.decode(pb.EmbedRequest.encode(init).finish());

// The gateway's default input limits; test/unit/input-limits.test.ts checks them.
const limits = parseConfig({}).gateway.inputLimits;
const chatJob = (req: Parameters<typeof requests.chatJob>[0]) => requests.chatJob(req, limits);
const completionJob = (req: Parameters<typeof requests.completionJob>[0]) => requests.completionJob(req, limits);
const embeddingJob = (req: Parameters<typeof requests.embeddingJob>[0]) => requests.embeddingJob(req, limits);

function rejects(fn: () => unknown, param: string | null, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BrokerError);
    assert.equal(e.status, 400);
    assert.equal(e.code, "invalid_request");
    assert.equal(e.param, param);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const hi = [{ role: "user", content: "hi" }];

describe("gRPC request validation", () => {
  test("a chat request becomes a streamed job with usage, optional fields only when present", () => {
    const { model, chat: job } = chatJob(chat({ model: "m", request: { messages: hi, temperature: 0.5, stop: ["", "END"] } }));
    assert.equal(model, "m");
    assert.equal(job.stream, true);
    assert.equal(job.includeUsage, true);
    assert.equal(job.n, 1);
    assert.deepEqual(job.stop, ["END"]);
    assert.equal(job.temperature, 0.5);
    assert.ok(!("maxTokens" in job) && !("seed" in job) && !("topP" in job));
    assert.deepEqual(job.messages, [{ role: "user", content: "hi" }]);
    // An explicit zero survives: proto3 `optional` keeps presence.
    assert.equal(chatJob(chat({ model: "m", request: { messages: hi, temperature: 0, seed: 0 } })).chat.temperature, 0);
  });

  test("chat errors name the proto field", () => {
    rejects(() => chatJob(chat({ model: "", request: { messages: hi } })), "model", /Missing required parameter/);
    rejects(() => chatJob(chat({ model: "m" })), "request");
    rejects(() => chatJob(chat({ model: "m", request: {} })), "request.messages");
    rejects(() => chatJob(chat({ model: "m", request: { messages: [{ role: "wizard", content: "x" }] } })), "request.messages[0].role", /one of 'system'/);
    rejects(() => chatJob(chat({ model: "m", request: { messages: [{ role: "user" }] } })), "request.messages[0].content");
    rejects(() => chatJob(chat({ model: "m", request: { messages: [...hi, { role: "tool", content: "42" }] } })), "request.messages[1].tool_call_id");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, temperature: 2.5 } })), "request.temperature", /between 0 and 2/);
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, topP: 1.5 } })), "request.top_p");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, maxTokens: 0 } })), "request.max_tokens");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, n: 129 } })), "request.n");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, stop: ["a", "b", "c", "d", "e"] } })), "request.stop");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, presencePenalty: -3 } })), "request.presence_penalty");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, toolsJson: "{" } })), "request.tools_json", /not valid JSON/);
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, toolsJson: '[{"type":"function","function":{"name":"bad name"}}]' } })), "request.tools_json");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, toolChoiceJson: '"sometimes"' } })), "request.tool_choice_json");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, responseFormatJson: '{"type":"json_schema"}' } })), "request.response_format_json");
    rejects(() => chatJob(chat({ model: "m", request: { messages: hi, extraJson: "[1]" } })), "request.extra_json", /JSON object/);
    rejects(() => chatJob(chat({ model: "m", request: { messages: [{ role: "user", parts: [{ type: "image_url" }] }] } })), "request.messages[0].parts[0].image_url");
  });

  test("tools, parts and tool calls pass through", () => {
    const tools = '[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]';
    const { chat: job } = chatJob(chat({
      model: "m",
      request: {
        messages: [
          { role: "user", parts: [{ type: "text", text: "look" }, { type: "image_url", imageUrl: "data:x", imageDetail: "low" }, { type: "input_audio", rawJson: '{"input_audio":{"data":"x"}}' }] },
          { role: "assistant", toolCalls: [{ id: "c1", name: "get_weather", arguments: "{}" }] },
          { role: "tool", content: "sunny", toolCallId: "c1" },
        ],
        toolsJson: tools,
        toolChoiceJson: '"auto"',
        responseFormatJson: '{"type":"json_object"}',
      },
    }));
    assert.equal(job.toolsJson, tools);
    assert.equal(job.messages?.[0]?.parts?.length, 3);
    assert.deepEqual(JSON.parse(job.messages?.[0]?.parts?.[2]?.rawJson ?? ""), { input_audio: { data: "x" }, type: "input_audio" });
    assert.deepEqual(job.messages?.[1]?.toolCalls, [{ id: "c1", type: "function", name: "get_weather", arguments: "{}" }]);
    assert.ok(!("content" in (job.messages?.[1] ?? {})), "an assistant turn of tool calls has no content");
  });

  test("completions and embeddings", () => {
    const { completion: c } = completionJob(completion({ model: "m", request: { prompts: ["a", "b"], maxTokens: 3, echo: true } }));
    assert.deepEqual(c.prompts, ["a", "b"]);
    assert.equal(c.maxTokens, 3);
    assert.equal(c.echo, true);
    assert.equal(c.stream, true);
    rejects(() => completionJob(completion({ model: "m", request: {} })), "request.prompts");
    const { embedding } = embeddingJob(embed({ model: "m", request: { inputs: ["x"], dimensions: 8 } }));
    assert.deepEqual(embedding, { inputs: ["x"], dimensions: 8, user: "", extraJson: "" });
    rejects(() => embeddingJob(embed({ model: "m", request: { inputs: ["x", ""] } })), "request.inputs[1]");
    rejects(() => embeddingJob(embed({ model: "m", request: { inputs: [] } })), "request.inputs");
    rejects(() => embeddingJob(embed({ model: "m", request: { inputs: ["x"], dimensions: 70_000 } })), "request.dimensions");
  });
});
