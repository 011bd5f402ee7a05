import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, streamText, tool } from "ai";
import OpenAI from "openai";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitForModel } from "../helpers/broker.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";
import { postJson, readJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const KEY_A = "static-key-responses-a-0123456789abcdef";
const KEY_B = "static-key-responses-b-0123456789abcdef";
// sim: lorem ipsum at a fixed length; relay: the openai-http engine on a fake upstream that echoes
// the last user message, records what it was sent, and calls the tool tool_choice names.
const SIM = "sim-resp";
const RELAY = "relay-resp";
const SIM_TOKENS = 12;

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
interface UpstreamBody {
  messages: { role: string; content?: unknown; tool_calls?: unknown; tool_call_id?: string }[];
  tools?: unknown;
  tool_choice?: unknown;
}

// The Responses API on a gateway with auth on (two static keys), over one worker process serving
// both models: the official openai SDK unchanged but for the base URL, then raw HTTP for the wire.
describe("/v1/responses (OpenAI's Responses API)", () => {
  const h = useHarness();
  let fake: FakeOpenAI;
  let gw: GatewayHandle;
  let client: OpenAI;
  let other: OpenAI;

  before(async () => {
    fake = await startFakeOpenAI();
    h.defer(() => fake.close());
    const keysFile = join(mkdtempSync(join(tmpdir(), "resp-keys-")), "keys.yaml");
    writeFileSync(keysFile, `keys:\n  - name: a\n    key: ${KEY_A}\n  - name: b\n    key: ${KEY_B}\n`);
    process.env.FAKE_RESP_KEY = "sk-upstream-0123456789";
    const cfg = h.config({
      gateway: { auth: { enabled: true, keysFile } },
      workers: [{
        name: "w", slots: 4,
        models: [
          { id: SIM, engine: "sim", options: { outputTokens: SIM_TOKENS, itlMs: 1 } },
          { id: RELAY, engine: "openai-http", options: { baseUrl: fake.url, upstreamModel: "up", apiKeyEnv: "FAKE_RESP_KEY" } },
        ],
      }],
    });
    h.worker(cfg, "w");
    gw = await h.gateway(cfg);
    await waitForModel(gw.url, RELAY, 15_000, KEY_A);
    client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY_A, maxRetries: 0 });
    other = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY_B, maxRetries: 0 });
  });

  // OpenAI sends `store` back; the SDK's type has no field for it.
  const storeOf = (r: object): unknown => (r as { store?: unknown }).store;
  const lastUpstream = (): UpstreamBody => fake.requests[fake.requests.length - 1]?.body as UpstreamBody;

  test("sdk: responses.create answers a completed response in OpenAI's shape, echoing the request", async () => {
    const r = await client.responses.create({ model: SIM, input: "Hi", instructions: "Be brief.", metadata: { run: "1" }, temperature: 0.5 });
    assert.match(r.id, /^resp_/);
    assert.equal(r.object, "response");
    assert.equal(r.status, "completed");
    assert.equal(r.model, SIM);
    assert.ok(Math.abs(r.created_at - Date.now() / 1000) < 60);
    assert.deepEqual([r.instructions, r.metadata, r.temperature, storeOf(r), r.background, r.error, r.incomplete_details, r.previous_response_id], ["Be brief.", { run: "1" }, 0.5, true, false, null, null, null]);
    assert.equal(r.output.length, 1);
    const msg = r.output[0];
    assert.ok(msg?.type === "message");
    assert.match(msg.id, /^msg_/);
    assert.deepEqual([msg.role, msg.status, msg.content.length], ["assistant", "completed", 1]);
    const part = msg.content[0];
    assert.ok(part?.type === "output_text" && part.text.length > 0);
    assert.deepEqual(part.annotations, []);
    assert.equal(r.output_text, part.text, "the SDK's convenience reads our output");
    assert.equal(r.usage?.output_tokens, SIM_TOKENS);
    assert.ok((r.usage?.input_tokens ?? 0) > 0);
    assert.equal(r.usage?.total_tokens, (r.usage?.input_tokens ?? 0) + SIM_TOKENS);
    assert.deepEqual([r.usage?.input_tokens_details, r.usage?.output_tokens_details], [{ cached_tokens: 0 }, { reasoning_tokens: 0 }]);
  });

  test("sdk: max_output_tokens cuts the answer: status incomplete, reason max_output_tokens", async () => {
    const r = await client.responses.create({ model: SIM, input: "Hi", max_output_tokens: 5 });
    assert.equal(r.status, "incomplete");
    assert.deepEqual(r.incomplete_details, { reason: "max_output_tokens" });
    assert.equal(r.max_output_tokens, 5);
    assert.equal(r.usage?.output_tokens, 5);
    const msg = r.output[0];
    assert.ok(msg?.type === "message");
    assert.equal(msg.status, "incomplete");
  });

  test("sdk: responses.stream gives text deltas and a final response that agree", async () => {
    let text = "";
    const s = client.responses.stream({ model: SIM, input: "Hi" });
    s.on("response.output_text.delta", (e) => {
      text += e.delta;
    });
    const r = await s.finalResponse();
    assert.ok(text.length > 0);
    assert.equal(r.status, "completed");
    assert.equal(r.output_text, text);
    assert.equal(r.usage?.output_tokens, SIM_TOKENS);
  });

  test("sdk: create({stream: true}) yields OpenAI's event order with sequence numbers 0, 1, 2…", async () => {
    const types: string[] = [];
    const seqs: number[] = [];
    for await (const e of await client.responses.create({ model: SIM, input: "Hi", stream: true })) {
      types.push(e.type);
      seqs.push(e.sequence_number);
    }
    const deltas = types.filter((t) => t === "response.output_text.delta").length;
    assert.ok(deltas > 0);
    assert.deepEqual(types, [
      "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
      ...Array<string>(deltas).fill("response.output_text.delta"),
      "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
    ]);
    assert.deepEqual(seqs, types.map((_, i) => i));
  });

  test("raw: the stream is `event: <type>` + `data:` whose type matches, and a stored response once completed", async () => {
    const res = await postJson(`${gw.url}/v1/responses`, { model: SIM, input: "Hi", stream: true }, { authorization: `Bearer ${KEY_A}` });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const blocks = (await res.text()).split("\n\n").filter(Boolean);
    let id = "";
    for (const b of blocks) {
      const m = /^event: (\S+)\ndata: (.*)$/s.exec(b);
      assert.ok(m, `an event block: ${JSON.stringify(b)}`);
      const data = JSON.parse(m[2] as string) as { type: string; response?: { id: string } };
      assert.equal(data.type, m[1]);
      id ||= data.response?.id ?? "";
    }
    const stored = await client.responses.retrieve(id);
    assert.equal(stored.status, "completed");
  });

  test("raw: a failure after the first event is OpenAI's error event, then response.failed; the failed response is stored", async () => {
    fake.errorMidStreamNext(2);
    const res = await postJson(`${gw.url}/v1/responses`, { model: RELAY, input: "alpha beta gamma", stream: true }, { authorization: `Bearer ${KEY_A}` });
    assert.equal(res.status, 200);
    const events = (await res.text()).split("\n\n").filter(Boolean).map((b) => JSON.parse(b.slice(b.indexOf("data: ") + 6)) as { type: string; sequence_number: number; code?: string; response?: { id: string; status: string; error: unknown } });
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    assert.deepEqual(events.slice(-2).map((e) => e.type), ["error", "response.failed"]);
    assert.equal(events[events.length - 2]?.code, "upstream_error");
    const failed = events[events.length - 1]?.response;
    assert.equal(failed?.status, "failed");
    const stored = await client.responses.retrieve(failed?.id ?? "");
    assert.equal(stored.status, "failed");
    assert.equal(stored.error?.code, "server_error");
  });

  test("sdk: function tools give a function_call item; its output continues the conversation by previous_response_id", async () => {
    const tools: OpenAI.Responses.FunctionTool[] = [{ type: "function", name: "lookup", description: "Looks up", parameters: { type: "object", properties: {} }, strict: false }];
    const r1 = await client.responses.create({ model: RELAY, input: "alpha beta", tools, tool_choice: { type: "function", name: "lookup" } });
    const sent = lastUpstream();
    assert.deepEqual(sent.tools, [{ type: "function", function: { name: "lookup", description: "Looks up", parameters: { type: "object", properties: {} }, strict: false } }]);
    assert.deepEqual(sent.tool_choice, { type: "function", function: { name: "lookup" } });
    assert.equal(r1.status, "completed");
    const call = r1.output[0];
    assert.ok(call?.type === "function_call", JSON.stringify(r1.output));
    assert.match(call.id ?? "", /^fc_/);
    assert.deepEqual([call.call_id, call.name, call.status], ["call_fake", "lookup", "completed"]);
    assert.deepEqual(JSON.parse(call.arguments), { echo: "alpha beta alpha beta alpha beta alpha beta" });
    assert.deepEqual(r1.tools, tools);

    const r2 = await client.responses.create({ model: RELAY, previous_response_id: r1.id, input: [{ type: "function_call_output", call_id: call.call_id, output: "found it" }] });
    assert.equal(r2.previous_response_id, r1.id);
    assert.deepEqual(lastUpstream().messages, [
      { role: "user", content: "alpha beta" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_fake", type: "function", function: { name: "lookup", arguments: call.arguments } }] },
      { role: "tool", tool_call_id: "call_fake", content: "found it" },
    ]);
  });

  test("sdk: previous_response_id carries the earlier turns, but not their instructions", async () => {
    const r1 = await client.responses.create({ model: RELAY, input: "one two", instructions: "Rule one." });
    const r2 = await client.responses.create({ model: RELAY, input: "three four", instructions: "Rule two.", previous_response_id: r1.id });
    assert.deepEqual(lastUpstream().messages, [
      { role: "system", content: "Rule two." },
      { role: "user", content: "one two" },
      { role: "assistant", content: r1.output_text },
      { role: "user", content: "three four" },
    ]);
    await client.responses.create({ model: RELAY, input: "five", previous_response_id: r2.id });
    assert.deepEqual(lastUpstream().messages.map((m) => m.content), ["one two", r1.output_text, "three four", r2.output_text, "five"]);
  });

  test("sdk: retrieve, input_items (newest first, paged), delete, then 404", async () => {
    const r = await client.responses.create({
      model: SIM,
      input: [
        { role: "user", content: "first" },
        { role: "assistant", content: "second" },
        { role: "user", content: [{ type: "input_text", text: "third" }] },
      ],
    });
    const got = await client.responses.retrieve(r.id);
    assert.deepEqual({ ...got, output_text: "" }, { ...r, output_text: "" });

    const page = await client.responses.inputItems.list(r.id);
    const texts = (items: OpenAI.Responses.ResponseItem[]): string[] => items.map((i) => {
      assert.ok(i.type === "message", i.type);
      const p = i.content[0];
      return p && "text" in p ? p.text : "";
    });
    assert.deepEqual(texts(page.data), ["third", "second", "first"]);
    assert.equal(page.has_more, false);
    const asc: OpenAI.Responses.ResponseItem[] = [];
    let pages = 0;
    for await (const p of (await client.responses.inputItems.list(r.id, { order: "asc", limit: 2 })).iterPages()) {
      pages++;
      asc.push(...p.data);
    }
    assert.deepEqual([texts(asc), pages], [["first", "second", "third"], 2]);

    await client.responses.delete(r.id);
    await assert.rejects(client.responses.retrieve(r.id), OpenAI.NotFoundError);
    await assert.rejects(client.responses.delete(r.id), OpenAI.NotFoundError);
    const raw = await fetch(`${gw.url}/v1/responses/${r.id}`, { headers: { authorization: `Bearer ${KEY_A}` } });
    const body = await readJson<ErrorBody>(raw);
    assert.equal(raw.status, 404);
    assert.deepEqual(body.error, { message: `Response with id '${r.id}' not found.`, type: "invalid_request_error", param: null, code: "response_not_found" });
  });

  test("Vercel AI SDK: the default provider (the Responses API) generates, streams and calls a named tool", async () => {
    const provider = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY_A });
    const g = await generateText({ model: provider(SIM), prompt: "hi", maxRetries: 0 });
    assert.ok(g.text.length > 0);
    assert.equal(g.finishReason, "stop");
    assert.equal(g.usage.outputTokens, SIM_TOKENS);
    const s = streamText({ model: provider(SIM), prompt: "hi", maxRetries: 0 });
    let streamed = "";
    for await (const t of s.textStream) streamed += t;
    assert.equal(streamed, await s.text);
    assert.equal((await s.usage).outputTokens, SIM_TOKENS);
    const tools = { lookup: tool({ description: "Looks up", inputSchema: jsonSchema<{ echo: string }>({ type: "object", properties: { echo: { type: "string" } } }) }) };
    const t = await generateText({ model: provider(RELAY), prompt: "alpha", tools, toolChoice: { type: "tool", toolName: "lookup" }, maxRetries: 0 });
    assert.equal(t.finishReason, "tool-calls");
    // The SDK sends input_text parts, which the fake upstream does not echo: it answers "fake".
    assert.deepEqual(t.toolCalls.map((c) => [c.toolName, c.input]), [["lookup", { echo: "fake fake fake fake fake fake fake fake" }]]);
  });

  test("raw: DELETE answers {id, object, deleted}", async () => {
    const r = await client.responses.create({ model: SIM, input: "Hi" });
    const res = await fetch(`${gw.url}/v1/responses/${r.id}`, { method: "DELETE", headers: { authorization: `Bearer ${KEY_A}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: r.id, object: "response", deleted: true });
  });

  test("sdk: store:false keeps nothing: retrieve is 404, and so is continuing from it", async () => {
    const r = await client.responses.create({ model: SIM, input: "Hi", store: false });
    assert.equal(storeOf(r), false);
    await assert.rejects(client.responses.retrieve(r.id), OpenAI.NotFoundError);
    const res = await postJson(`${gw.url}/v1/responses`, { model: SIM, input: "Hi", previous_response_id: r.id }, { authorization: `Bearer ${KEY_A}` });
    const body = await readJson<ErrorBody>(res);
    assert.equal(res.status, 404);
    assert.equal(body.error.param, "previous_response_id");
    assert.match(body.error.message, new RegExp(r.id));
  });

  test("sdk: another key's response is 404 for every route, as if it did not exist", async () => {
    const r = await client.responses.create({ model: SIM, input: "Hi" });
    await assert.rejects(other.responses.retrieve(r.id), OpenAI.NotFoundError);
    await assert.rejects(other.responses.inputItems.list(r.id), OpenAI.NotFoundError);
    await assert.rejects(other.responses.delete(r.id), OpenAI.NotFoundError);
    await assert.rejects(other.responses.create({ model: SIM, input: "Hi", previous_response_id: r.id }), OpenAI.NotFoundError);
    assert.equal((await client.responses.retrieve(r.id)).id, r.id, "still there for its owner");
    await assert.rejects(new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "sk-wrong", maxRetries: 0 }).responses.retrieve(r.id), OpenAI.AuthenticationError);
  });

  test("raw: bad requests are 400 in OpenAI's shape, naming the field", async () => {
    const auth = { authorization: `Bearer ${KEY_A}` };
    const cases: { body: unknown; status: number; param: string | null; message: RegExp }[] = [
      { body: { model: SIM, input: [{ role: "user", content: [{ type: "input_text", text: 3 }] }] }, status: 400, param: "input[0].content[0].text", message: /expected a string/ },
      { body: { model: SIM, input: "Hi", background: true, store: false }, status: 400, param: "store", message: /must be stored/ },
      { body: { model: SIM, input: "Hi", tools: [{ type: "web_search" }] }, status: 400, param: "tools[0].type", message: /web_search/ },
      { body: { input: "Hi" }, status: 400, param: "model", message: /model/ },
      { body: { model: SIM, input: "Hi", previous_response_id: "resp_nope" }, status: 404, param: "previous_response_id", message: /resp_nope/ },
      { body: { model: "sim-unknown", input: "Hi" }, status: 404, param: "model", message: /sim-unknown/ },
    ];
    for (const c of cases) {
      const res = await postJson(`${gw.url}/v1/responses`, c.body, auth);
      const body = await readJson<ErrorBody>(res);
      const what = `${JSON.stringify(c.body)} → ${res.status} ${JSON.stringify(body)}`;
      assert.equal(res.status, c.status, what);
      assert.equal(body.error.param, c.param, what);
      assert.match(body.error.message, c.message, what);
    }
    const items = await fetch(`${gw.url}/v1/responses/resp_x/input_items?limit=500`, { headers: auth });
    assert.equal(items.status, 404, "an unknown response before its query");
  });
});
