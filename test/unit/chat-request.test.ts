import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError } from "../../contract/errors.js";
import { parseConfig } from "../../config/config.js";
import { parseChatRequest as parseWith } from "../../http/openai/chat-request.js";

// The gateway's default input limits; test/unit/input-limits.test.ts checks them.
const limits = parseConfig({}).gateway.inputLimits;
const parseChatRequest = (body: unknown) => parseWith(body, limits);

const user = { role: "user", content: "Hi" };
const base = { model: "m", messages: [user] };

function rejects(body: unknown, param: string | null, message: RegExp | string): void {
  assert.throws(
    () => parseChatRequest(body),
    (e: unknown) => {
      assert.ok(e instanceof BrokerError, `not a BrokerError: ${String(e)}`);
      assert.equal(e.status, 400);
      assert.equal(e.type, "invalid_request_error");
      assert.equal(e.code, "invalid_request");
      assert.equal(e.param, param);
      if (typeof message === "string") assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    },
  );
}

describe("parseChatRequest: mapping", () => {
  test("a minimal body gets proto3 defaults", () => {
    assert.deepEqual(parseChatRequest(base), {
      model: "m",
      stream: false,
      chat: {
        messages: [{ role: "user", content: "Hi" }],
        n: 1,
        stop: [],
        stream: false,
        includeUsage: false,
        user: "",
        toolsJson: "",
        toolChoiceJson: "",
        responseFormatJson: "",
        extraJson: "",
        maxCompletionTokens: false,
      },
    });
  });

  test("every modelled field lands in its ChatRequest field", () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" }, x_extra: 1 } }];
    const toolChoice = { type: "function", function: { name: "get_weather" } };
    const responseFormat = { type: "json_schema", json_schema: { name: "w", schema: { type: "object" }, strict: true } };
    const { model, stream, chat } = parseChatRequest({
      model: "org/model",
      messages: [
        { role: "developer", content: "Be brief." },
        {
          role: "user",
          name: "ann",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AA", detail: "low" } },
            { type: "input_audio", input_audio: { data: "AA", format: "wav" } },
          ],
        },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
      max_completion_tokens: 64,
      temperature: 0.5,
      top_p: 0.9,
      n: 2,
      stop: ["END", "", "\n\n"],
      seed: 42,
      stream: true,
      stream_options: { include_usage: true },
      user: "u-1",
      presence_penalty: -1,
      frequency_penalty: 1.5,
      tools,
      tool_choice: toolChoice,
      response_format: responseFormat,
    });
    assert.equal(model, "org/model");
    assert.equal(stream, true);
    assert.deepEqual(chat, {
      messages: [
        { role: "developer", content: "Be brief." },
        {
          role: "user",
          name: "ann",
          parts: [
            { type: "text", text: "What is this?" },
            { type: "image_url", imageUrl: "data:image/png;base64,AA", imageDetail: "low" },
            { type: "input_audio", rawJson: JSON.stringify({ type: "input_audio", input_audio: { data: "AA", format: "wav" } }) },
          ],
        },
        { role: "assistant", toolCalls: [{ id: "call_1", type: "function", name: "get_weather", arguments: "{}" }] },
        { role: "tool", content: "sunny", toolCallId: "call_1" },
      ],
      n: 2,
      stop: ["END", "\n\n"],
      stream: true,
      includeUsage: true,
      user: "u-1",
      toolsJson: JSON.stringify(tools),
      toolChoiceJson: JSON.stringify(toolChoice),
      responseFormatJson: JSON.stringify(responseFormat),
      extraJson: "",
      maxCompletionTokens: true,
      maxTokens: 64,
      temperature: 0.5,
      topP: 0.9,
      seed: 42,
      presencePenalty: -1,
      frequencyPenalty: 1.5,
    });
  });

  test("max_tokens sets maxTokens without the max_completion_tokens flag", () => {
    const { chat } = parseChatRequest({ ...base, max_tokens: 10 });
    assert.equal(chat.maxTokens, 10);
    assert.equal(chat.maxCompletionTokens, false);
  });

  test("a single stop string becomes a list; an image without detail has detail ''", () => {
    const { chat } = parseChatRequest({
      ...base,
      stop: "###",
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] }],
    });
    assert.deepEqual(chat.stop, ["###"]);
    assert.deepEqual(chat.messages?.[0]?.parts, [{ type: "image_url", imageUrl: "https://x/y.png", imageDetail: "" }]);
  });

  test("tool_choice as a string travels as JSON", () => {
    assert.equal(parseChatRequest({ ...base, tool_choice: "required" }).chat.toolChoiceJson, '"required"');
  });

  test("unknown top-level fields pass through in extraJson, in order", () => {
    const { chat } = parseChatRequest({ logprobs: true, ...base, top_logprobs: 2, metadata: { a: "b" }, parallel_tool_calls: null });
    assert.equal(chat.extraJson, '{"logprobs":true,"top_logprobs":2,"metadata":{"a":"b"},"parallel_tool_calls":null}');
  });

  test("null optional fields count as absent", () => {
    const nulls = {
      max_tokens: null,
      max_completion_tokens: null,
      temperature: null,
      top_p: null,
      n: null,
      stop: null,
      seed: null,
      stream: null,
      stream_options: null,
      user: null,
      presence_penalty: null,
      frequency_penalty: null,
      tools: null,
      tool_choice: null,
      response_format: null,
    };
    assert.deepEqual(parseChatRequest({ ...base, ...nulls }), parseChatRequest(base));
    const msg = { role: "user", content: "Hi", name: null, tool_calls: null, tool_call_id: null };
    assert.deepEqual(parseChatRequest({ ...base, messages: [msg] }), parseChatRequest(base));
  });

  test("an assistant turn may leave content out", () => {
    const { chat } = parseChatRequest({ ...base, messages: [user, { role: "assistant" }] });
    assert.deepEqual(chat.messages?.[1], { role: "assistant" });
  });
});

describe("parseChatRequest: rejections", () => {
  test("a body that is not a JSON object", () => {
    for (const body of [null, [], "x", 3, undefined]) rejects(body, null, "The request body must be a JSON object.");
  });

  test("missing and empty required fields", () => {
    rejects({ messages: [user] }, "model", "Missing required parameter: 'model'.");
    rejects({ model: "", messages: [user] }, "model", "Invalid value for 'model': expected a non-empty string.");
    rejects({ model: "m" }, "messages", "Missing required parameter: 'messages'.");
    rejects({ model: "m", messages: [] }, "messages", "Invalid value for 'messages': expected a non-empty array of messages.");
    rejects({ model: "m", messages: null }, "messages", /expected a non-empty array/);
  });

  test("bad messages name the exact path", () => {
    const msgs = (...m: unknown[]) => ({ model: "m", messages: [user, ...m] });
    rejects(msgs({ role: "bot", content: "x" }), "messages[1].role", /^Invalid value for 'messages\[1\]\.role': expected one of 'system', 'developer', 'user'/);
    rejects(msgs("hello"), "messages[1]", "Invalid value for 'messages[1]': expected a message object.");
    rejects(msgs({ role: "user" }), "messages[1].content", "Missing required parameter: 'messages[1].content'.");
    rejects(msgs({ role: "user", content: null }), "messages[1].content", "Missing required parameter: 'messages[1].content'.");
    rejects(msgs({ role: "user", content: 5 }), "messages[1].content", /expected a string or an array of content parts/);
    rejects(msgs({ role: "tool", content: "r" }), "messages[1].tool_call_id", "Missing required parameter: 'messages[1].tool_call_id'.");
    rejects(msgs({ role: "function", content: "r" }), "messages[1].name", "Missing required parameter: 'messages[1].name'.");
    const call = { id: "c", type: "function", function: { name: "f" } };
    rejects(msgs({ role: "assistant", tool_calls: [call] }), "messages[1].tool_calls[0].function.arguments", /^Missing required/);
  });

  test("bad content parts name the part and field", () => {
    const parts = (...p: unknown[]) => ({ model: "m", messages: [{ role: "user", content: p }] });
    rejects(parts({ type: "text" }), "messages[0].content[0].text", "Missing required parameter: 'messages[0].content[0].text'.");
    rejects(parts({ type: "text", text: "a" }, { type: "image_url" }), "messages[0].content[1].image_url", /^Missing required/);
    rejects(parts({ type: "image_url", image_url: {} }), "messages[0].content[0].image_url.url", /^Missing required/);
    rejects(parts({ type: "image_url", image_url: { url: "u", detail: "max" } }), "messages[0].content[0].image_url.detail", /expected one of 'auto', 'low', 'high'/);
    rejects(parts({}), "messages[0].content[0].type", "Missing required parameter: 'messages[0].content[0].type'.");
    rejects(parts("text"), "messages[0].content[0]", /expected a content part object/);
  });

  test("out-of-range and mistyped numbers", () => {
    const cases: [string, unknown, RegExp][] = [
      ["temperature", 2.5, /^Invalid value for 'temperature': expected a number between 0 and 2\.$/],
      ["temperature", "1", /expected a number between 0 and 2/],
      ["top_p", -0.1, /expected a number between 0 and 1/],
      ["presence_penalty", 3, /expected a number between -2 and 2/],
      ["frequency_penalty", -2.5, /expected a number between -2 and 2/],
      ["n", 0, /expected an integer between 1 and 128/],
      ["n", 129, /expected an integer between 1 and 128/],
      ["n", 1.5, /expected an integer between 1 and 128/],
      ["max_tokens", 0, /expected a positive integer/],
      ["max_completion_tokens", 2.5, /expected a positive integer/],
      ["seed", 1.5, /expected an integer/],
    ];
    for (const [param, value, message] of cases) rejects({ ...base, [param]: value }, param, message);
  });

  test("other bad fields", () => {
    rejects({ ...base, stop: ["a", "b", "c", "d", "e"] }, "stop", "Invalid value for 'stop': expected at most 4 stop sequences.");
    rejects({ ...base, stop: 1 }, "stop", /expected a string or an array of up to 4 strings/);
    rejects({ ...base, stream: "yes" }, "stream", "Invalid value for 'stream': expected a boolean.");
    rejects({ ...base, user: 1 }, "user", "Invalid value for 'user': expected a string.");
    rejects({ ...base, max_tokens: 1, max_completion_tokens: 2 }, "max_tokens", /Only one of 'max_tokens' and 'max_completion_tokens'/);
    rejects({ ...base, stream_options: { include_usage: true } }, "stream_options", /only allowed when 'stream' is enabled/);
    rejects({ ...base, stream: false, stream_options: {} }, "stream_options", /only allowed when 'stream' is enabled/);
  });

  test("bad tools, tool_choice and response_format", () => {
    rejects({ ...base, tools: [{ type: "web", function: { name: "f" } }] }, "tools[0].type", "Invalid value for 'tools[0].type': expected 'function'.");
    rejects({ ...base, tools: [{ type: "function", function: { name: "a b" } }] }, "tools[0].function.name", /letters, digits/);
    rejects({ ...base, tools: [{ type: "function", function: { name: "f", parameters: [] } }] }, "tools[0].function.parameters", /expected/);
    rejects({ ...base, tool_choice: "always" }, "tool_choice", /expected one of 'none', 'auto', 'required'/);
    rejects({ ...base, tool_choice: { type: "function" } }, "tool_choice.function", "Missing required parameter: 'tool_choice.function'.");
    rejects({ ...base, tool_choice: 3 }, "tool_choice", /expected 'none', 'auto', 'required' or \{"type": "function"/);
    rejects({ ...base, response_format: { type: "xml" } }, "response_format.type", /expected one of 'text', 'json_object', 'json_schema'/);
    rejects({ ...base, response_format: { type: "json_schema" } }, "response_format.json_schema", /^Missing required/);
  });
});
