import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../config/config.js";
import { BrokerError } from "../../contract/errors.js";
import type { ChatMessage, Delta, Final } from "../../contract/mod.js";
import { assistantTurn } from "../../http/responses/conversation.js";
import { ResponseEvents, type ResponseEvent } from "../../http/responses/events.js";
import { storedItems } from "../../http/responses/input.js";
import { pageOf } from "../../http/responses/input-items.js";
import { IGNORED_FIELDS, parseResponsesRequest, toChatCall } from "../../http/responses/request.js";
import type { Skeleton } from "../../http/responses/response-object.js";
import { sseOf } from "../../http/responses/sse.js";

const limits = parseConfig({}).gateway.inputLimits;
const call = (body: unknown, history: ChatMessage[] = []) => toChatCall(parseResponsesRequest(body), history, limits);

function rejects(fn: () => unknown, param: string | null, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BrokerError, `not a BrokerError: ${String(e)}`);
    assert.equal(e.status, 400);
    assert.equal(e.param, param);
    assert.match(e.message, message);
    return true;
  });
}

describe("Responses request → canonical chat job", () => {
  test("a string input is one user message; instructions come first as a system message", () => {
    const c = call({ model: "m", input: "Hi", instructions: "Be brief.", max_output_tokens: 20, temperature: 0.5, top_p: 0.9, user: "u1" });
    assert.equal(c.model, "m");
    assert.deepEqual(c.chat.messages, [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]);
    assert.deepEqual([c.chat.maxTokens, c.chat.temperature, c.chat.topP, c.chat.user, c.chat.n], [20, 0.5, 0.9, "u1", 1]);
  });

  test("items: messages with parts, images, an earlier answer, function calls joining one assistant turn, and their outputs", () => {
    const c = call({
      model: "m",
      input: [
        { role: "developer", content: "Use tools." },
        { type: "message", role: "user", content: [{ type: "input_text", text: "Weather?" }, { type: "input_image", image_url: "https://x/y.png", detail: "low" }] },
        { role: "assistant", content: [{ type: "output_text", text: "Let me look.", annotations: [] }, { type: "refusal", refusal: "" }] },
        { type: "function_call", call_id: "call_1", name: "weather", arguments: "{\"city\":\"Oslo\"}" },
        { type: "function_call", call_id: "call_2", name: "weather", arguments: "{\"city\":\"Rome\"}" },
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: "opaque" },
        { type: "function_call_output", call_id: "call_1", output: "5°C" },
        { type: "function_call_output", call_id: "call_2", output: [{ type: "input_text", text: "20°C" }] },
      ],
    });
    assert.deepEqual(c.chat.messages, [
      { role: "developer", content: "Use tools." },
      { role: "user", parts: [{ type: "text", text: "Weather?" }, { type: "image_url", imageUrl: "https://x/y.png", imageDetail: "low" }] },
      {
        role: "assistant", content: "Let me look.",
        toolCalls: [
          { id: "call_1", type: "function", name: "weather", arguments: "{\"city\":\"Oslo\"}" },
          { id: "call_2", type: "function", name: "weather", arguments: "{\"city\":\"Rome\"}" },
        ],
      },
      { role: "tool", toolCallId: "call_1", content: "5°C" },
      { role: "tool", toolCallId: "call_2", parts: [{ type: "text", text: "20°C" }] },
    ]);
  });

  test("flat function tools become chat's tools; tool_choice and text.format become chat's JSON", () => {
    const c = call({
      model: "m", input: "Hi", parallel_tool_calls: false,
      tools: [{ type: "function", name: "weather", description: "Weather now", parameters: { type: "object", properties: {} }, strict: true }],
      tool_choice: { type: "function", name: "weather" },
      text: { format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true } },
    });
    assert.deepEqual(JSON.parse(c.chat.toolsJson ?? ""), [{ type: "function", function: { name: "weather", description: "Weather now", parameters: { type: "object", properties: {} }, strict: true } }]);
    assert.deepEqual(JSON.parse(c.chat.toolChoiceJson ?? ""), { type: "function", function: { name: "weather" } });
    assert.deepEqual(JSON.parse(c.chat.responseFormatJson ?? ""), { type: "json_schema", json_schema: { name: "out", schema: { type: "object" }, strict: true } });
    assert.deepEqual(JSON.parse(c.chat.extraJson ?? ""), { parallel_tool_calls: false });
    assert.equal(call({ model: "m", input: "Hi", tool_choice: "required" }).chat.toolChoiceJson, "\"required\"");
    assert.equal(call({ model: "m", input: "Hi", text: { format: { type: "json_object" } } }).chat.responseFormatJson, "{\"type\":\"json_object\"}");
  });

  test("the ignored fields are accepted and dropped; unknown ones travel to engines in extra_json, as chat's do", () => {
    const ignored = Object.fromEntries(IGNORED_FIELDS.map((f) => [f, { any: 1 }]));
    const c = call({ model: "m", input: "Hi", ...ignored, top_k: 5 });
    assert.deepEqual(JSON.parse(c.chat.extraJson ?? ""), { top_k: 5 });
    assert.equal(call({ model: "m", input: "Hi", ...ignored }).chat.extraJson, "");
  });

  test("previous_response_id's conversation sits between this request's instructions and its input", () => {
    const history: ChatMessage[] = [{ role: "user", content: "One" }, { role: "assistant", content: "Two" }];
    const c = call({ model: "m", input: "Three", instructions: "New rules.", previous_response_id: "resp_abc" }, history);
    assert.deepEqual(c.chat.messages, [{ role: "system", content: "New rules." }, ...history, { role: "user", content: "Three" }]);
  });

  test("bad bodies are 400 naming the field as the Responses body names it", () => {
    rejects(() => call({ input: "Hi" }), "model", /Missing required parameter: 'model'/);
    rejects(() => call({ model: "m" }), "input", /array/);
    rejects(() => call({ model: "m", input: [{ role: "user", content: [{ type: "input_text", text: 3 }] }] }), "input[0].content[0].text", /expected a string/);
    rejects(() => call({ model: "m", input: [{ role: "tool", content: "x" }] }), "input[0].role", /'user', 'assistant', 'system', 'developer'/);
    rejects(() => call({ model: "m", input: [{ role: "user", content: [{ type: "input_file", file_id: "f" }] }] }), "input[0].content[0].type", /input_file/);
    rejects(() => call({ model: "m", input: [{ type: "item_reference", id: "x" }] }), "input[0].type", /item_reference/);
    rejects(() => call({ model: "m", input: "Hi", tools: [{ type: "web_search" }] }), "tools[0].type", /web_search/);
    rejects(() => call({ model: "m", input: "Hi", temperature: 3 }), "temperature", /between 0 and 2/);
    rejects(() => call({ model: "m", input: "Hi", max_output_tokens: 0 }), "max_output_tokens", /positive integer/);
    rejects(() => call({ model: "m", input: "Hi", text: { format: { type: "json_schema", schema: {} } } }), "text.format.name", /Missing/);
    rejects(() => call({ model: "m", input: "Hi", conversation: "conv_1" }), "conversation", /previous_response_id/);
    rejects(() => parseResponsesRequest({ model: "m", input: "Hi", background: true, store: false }), "store", /must be stored/);
  });
});

const skeleton = (): Skeleton => ({
  jobId: "J1",
  createdAt: 1_700_000_000,
  model: "m",
  echo: {
    instructions: null, max_output_tokens: null, parallel_tool_calls: true, previous_response_id: null, store: true, temperature: null,
    text: { format: { type: "text" } }, tool_choice: "auto", tools: [], top_p: null, user: null, metadata: {},
  },
});
const final: Final = { usage: { promptTokens: 7, completionTokens: 3 } };
const text = (...pieces: string[]): Delta[] => pieces.map((content) => ({ index: 0, content }));

// A whole run, the way the HTTP stream drives it.
function run(batches: Delta[][], end: Final | BrokerError): { events: ResponseEvent[]; machine: ResponseEvents } {
  const machine = new ResponseEvents(skeleton());
  const events = [...machine.opening()];
  for (const b of batches) events.push(...machine.deltas(b));
  events.push(...(end instanceof BrokerError ? machine.failed(end) : machine.final(end)));
  return { events, machine };
}

function assertSequenced(events: ResponseEvent[]): void {
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i), "sequence numbers run 0, 1, 2… without a gap");
}

describe("ResponseEvents: the job's events as Responses events", () => {
  test("a text answer: OpenAI's order, sequence numbers from 0, a completed snapshot with usage", () => {
    const { events, machine } = run([text("Hel", "lo"), [{ index: 0, content: "!", finishReason: "stop" }]], final);
    assert.deepEqual(events.map((e) => e.type), [
      "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
      "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
      "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
    ]);
    assertSequenced(events);
    const created = events[0];
    assert.ok(created?.type === "response.created");
    assert.deepEqual([created.response.status, created.response.output, created.response.usage], ["in_progress", [], null]);
    const r = machine.snapshot();
    assert.equal(r.id, "resp_J1");
    assert.equal(r.status, "completed");
    assert.deepEqual(r.output, [{ id: "msg_J1", type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text: "Hello!", annotations: [], logprobs: [] }] }]);
    assert.deepEqual(r.usage, { input_tokens: 7, input_tokens_details: { cached_tokens: 0 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 10 });
    const last = events[events.length - 1];
    assert.ok(last?.type === "response.completed");
    assert.deepEqual(last.response, r);
    const delta = events[4];
    assert.ok(delta?.type === "response.output_text.delta");
    assert.deepEqual(delta, { type: "response.output_text.delta", sequence_number: 4, item_id: "msg_J1", output_index: 0, content_index: 0, delta: "Hel", logprobs: [] });
  });

  test("the same job's events give the same events and snapshot every time (a replay recomputes them)", () => {
    const batches = [text("a", "b"), [{ index: 0, toolCalls: [{ index: 0, id: "call_x", name: "f", arguments: "{}" }], finishReason: "tool_calls" }]];
    assert.deepEqual(run(batches, final), run(batches, final));
  });

  test("a snapshot mid-stream is in progress with the text so far", () => {
    const m = new ResponseEvents(skeleton());
    m.deltas(text("Hi", " there"));
    const r = m.snapshot();
    assert.equal(r.status, "in_progress");
    assert.deepEqual(r.output, [{ id: "msg_J1", type: "message", status: "in_progress", role: "assistant", content: [{ type: "output_text", text: "Hi there", annotations: [], logprobs: [] }] }]);
  });

  test("a cut answer is incomplete, with reason max_output_tokens", () => {
    const { events, machine } = run([[{ index: 0, content: "a", finishReason: "length" }]], final);
    assert.equal(events[events.length - 1]?.type, "response.incomplete");
    const r = machine.snapshot();
    assert.deepEqual([r.status, r.incomplete_details, r.output[0]?.status], ["incomplete", { reason: "max_output_tokens" }, "incomplete"]);
  });

  test("tool calls: a message before them is finished first; each call is a function_call item with its arguments streamed", () => {
    const { events, machine } = run([
      text("Checking."),
      [{ index: 0, toolCalls: [{ index: 0, id: "call_a", type: "function", name: "weather", arguments: "{\"ci" }] }],
      [{ index: 0, toolCalls: [{ index: 0, arguments: "ty\":1}" }] }],
      [{ index: 0, toolCalls: [{ index: 1, name: "time", arguments: "{}" }], finishReason: "tool_calls" }],
    ], final);
    assertSequenced(events);
    assert.deepEqual(events.slice(2).map((e) => `${e.type}${"output_index" in e ? `@${e.output_index}` : ""}`), [
      "response.output_item.added@0", "response.content_part.added@0", "response.output_text.delta@0",
      "response.output_text.done@0", "response.content_part.done@0", "response.output_item.done@0",
      "response.output_item.added@1", "response.function_call_arguments.delta@1", "response.function_call_arguments.delta@1",
      "response.output_item.added@2", "response.function_call_arguments.delta@2",
      "response.function_call_arguments.done@1", "response.output_item.done@1",
      "response.function_call_arguments.done@2", "response.output_item.done@2",
      "response.completed",
    ]);
    const added = events.find((e) => e.type === "response.output_item.added" && e.output_index === 1);
    assert.ok(added?.type === "response.output_item.added");
    assert.deepEqual(added.item, { id: "fc_J1_0", type: "function_call", status: "in_progress", call_id: "call_a", name: "weather", arguments: "" });
    const r = machine.snapshot();
    assert.deepEqual(r.output.slice(1), [
      { id: "fc_J1_0", type: "function_call", status: "completed", call_id: "call_a", name: "weather", arguments: "{\"city\":1}" },
      // An engine that gave no call id gets one: the next turn's function_call_output must name it.
      { id: "fc_J1_1", type: "function_call", status: "completed", call_id: "call_J1_1", name: "time", arguments: "{}" },
    ]);
    assert.deepEqual(assistantTurn(r), [{
      role: "assistant", content: "Checking.",
      toolCalls: [{ id: "call_a", type: "function", name: "weather", arguments: "{\"city\":1}" }, { id: "call_J1_1", type: "function", name: "time", arguments: "{}" }],
    }]);
  });

  test("a refusal is its own content part, with response.refusal.delta and .done", () => {
    const { events, machine } = run([[{ index: 0, refusal: "I can't" }], [{ index: 0, refusal: " help.", finishReason: "stop" }]], final);
    assertSequenced(events);
    assert.deepEqual(events.slice(2).map((e) => e.type), [
      "response.output_item.added", "response.content_part.added", "response.refusal.delta", "response.refusal.delta",
      "response.refusal.done", "response.content_part.done", "response.output_item.done", "response.completed",
    ]);
    const r = machine.snapshot();
    assert.deepEqual(r.output[0], { id: "msg_J1", type: "message", status: "completed", role: "assistant", content: [{ type: "refusal", refusal: "I can't help." }] });
    assert.deepEqual(assistantTurn(r), [{ role: "assistant", content: "I can't help." }]);
  });

  test("a failure after the start: OpenAI's error event, then response.failed with the error in the response", () => {
    const { events, machine } = run([text("par")], new BrokerError("worker_lost", "The worker running the job stopped answering."));
    assertSequenced(events);
    assert.deepEqual(events.slice(-2).map((e) => e.type), ["error", "response.failed"]);
    assert.deepEqual(events[events.length - 2], { type: "error", sequence_number: events.length - 2, code: "worker_lost", message: "The worker running the job stopped answering.", param: null });
    const r = machine.snapshot();
    assert.deepEqual([r.status, r.error, r.output[0]?.status], ["failed", { code: "server_error", message: "The worker running the job stopped answering." }, "incomplete"]);
    assert.deepEqual(machine.final(final), [], "nothing after the end");
  });

  test("SSE framing: `event: <type>` then the event's JSON", () => {
    const events = new ResponseEvents(skeleton()).opening();
    const raw = sseOf(events);
    const blocks = raw.split("\n\n").filter(Boolean);
    assert.equal(blocks.length, 2);
    assert.match(blocks[0] ?? "", /^event: response\.created\ndata: \{"type":"response\.created","sequence_number":0,"response":\{"id":"resp_J1"/);
  });

  test("SSE framing: a text delta, written by hand, is byte for byte what JSON.stringify gives", () => {
    const m = new ResponseEvents(skeleton());
    const events = m.deltas(text("a \"quoted\"\n line \u2028 é"));
    const delta = events.find((e) => e.type === "response.output_text.delta");
    assert.ok(delta);
    assert.equal(sseOf([delta]), `event: response.output_text.delta\ndata: ${JSON.stringify(delta)}\n\n`);
  });
});

describe("stored input items", () => {
  const input = [
    { role: "user" as const, content: "One" },
    { type: "function_call" as const, call_id: "c1", name: "f", arguments: "{}", id: "fc_given" },
    { type: "function_call_output" as const, call_id: "c1", output: "ok" },
  ];
  const items = storedItems(input, "J9");

  test("each item gets the client's id or one made from the job id, in the Responses shape", () => {
    assert.deepEqual(items, [
      { id: "msg_J9_in0", type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "One" }] },
      { id: "fc_given", type: "function_call", status: "completed", call_id: "c1", name: "f", arguments: "{}" },
      { id: "fco_J9_in2", type: "function_call_output", status: "completed", call_id: "c1", output: "ok" },
    ]);
  });

  test("pages: newest first by default, limit, after, before; bad parameters are 400", () => {
    const all = pageOf(items, {});
    assert.deepEqual(all.data.map((i) => i.id), ["fco_J9_in2", "fc_given", "msg_J9_in0"]);
    assert.deepEqual([all.first_id, all.last_id, all.has_more, all.object], ["fco_J9_in2", "msg_J9_in0", false, "list"]);
    const first = pageOf(items, { order: "asc", limit: "2" });
    assert.deepEqual([first.data.map((i) => i.id), first.has_more], [["msg_J9_in0", "fc_given"], true]);
    const next = pageOf(items, { order: "asc", limit: "2", after: first.last_id });
    assert.deepEqual([next.data.map((i) => i.id), next.has_more], [["fco_J9_in2"], false]);
    const back = pageOf(items, { order: "asc", limit: "1", before: "fco_J9_in2" });
    assert.deepEqual([back.data.map((i) => i.id), back.has_more], [["fc_given"], true]);
    rejects(() => pageOf(items, { limit: "101" }), "limit", /between 1 and 100/);
    rejects(() => pageOf(items, { order: "up" }), "order", /'asc' or 'desc'/);
    rejects(() => pageOf(items, { after: "nope" }), "after", /nope/);
  });
});
