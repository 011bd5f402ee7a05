import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitForModel } from "../helpers/broker.js";
import { postJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const KEY = "static-key-for-msgtools-0123456789abcdef";
const LIMITED = "static-key-for-msgtools-limited-0123456789";
const MODEL = "sim-tools";
const weather: Anthropic.Tool = {
  name: "get_weather",
  description: "The weather in a city now",
  input_schema: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] },
};
const clock: Anthropic.Tool = { name: "get_time", input_schema: { type: "object", properties: {} } };
// A 1×1 PNG.
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

const textOf = (m: Anthropic.Message): string => m.content.map((b) => (b.type === "text" ? b.text : "")).join("");

// Tools, images, stop sequences and rate-limit headers through the Messages API, with the
// official SDK, over one sim worker (which calls a forced tool with schema-shaped arguments).
describe("POST /v1/messages: tools, images, stop sequences, rate-limit headers", () => {
  const h = useHarness();
  let gw: GatewayHandle;
  let client: Anthropic;

  before(async () => {
    const keysFile = join(mkdtempSync(join(tmpdir(), "msgtools-keys-")), "keys.yaml");
    writeFileSync(keysFile, [
      "keys:",
      `  - { name: tools, key: ${KEY}, models: ["sim-*"] }`,
      `  - { name: limited, key: ${LIMITED}, models: ["sim-*"], rpm: 600, tpm: 100000 }`,
      "",
    ].join("\n"));
    const cfg = h.config({
      gateway: { auth: { enabled: true, keysFile } },
      workers: [{ name: "sim", slots: 4, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 12, itlMs: 1 } }] }],
    });
    h.worker(cfg, "sim");
    gw = await h.gateway(cfg);
    await waitForModel(gw.url, MODEL, 15_000, KEY);
    client = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 });
  });

  test("sdk: a forced tool gives a tool_use block with object input; its tool_result back gives text", async () => {
    const question: Anthropic.MessageParam = { role: "user", content: "What is the weather in Paris?" };
    const m = await client.messages.create({ model: MODEL, max_tokens: 64, tools: [weather, clock], tool_choice: { type: "tool", name: "get_weather" }, messages: [question] });
    assert.equal(m.stop_reason, "tool_use");
    assert.equal(m.stop_sequence, null);
    const use = m.content[0];
    assert.ok(use?.type === "tool_use", JSON.stringify(m.content));
    assert.match(use.id, /^toolu_[A-Za-z0-9_-]+$/);
    assert.equal(use.name, "get_weather");
    const input = use.input as { city?: unknown; days?: unknown };
    assert.equal(typeof input.city, "string");
    assert.ok(Number.isInteger(input.days));
    assert.ok(m.usage.output_tokens > 0);

    const any = await client.messages.create({ model: MODEL, max_tokens: 64, tools: [clock, weather], tool_choice: { type: "any" }, messages: [question] });
    assert.deepEqual(any.content.map((b) => (b.type === "tool_use" ? b.name : b.type)), ["get_time"]);

    const answer = await client.messages.create({
      model: MODEL, max_tokens: 64, tools: [weather, clock],
      messages: [question, { role: "assistant", content: m.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "18°C, sunny" }] }],
    });
    assert.equal(answer.stop_reason, "end_turn");
    assert.ok(textOf(answer).length > 0);
  });

  test("sdk: a streamed tool call assembles in finalMessage() to the same blocks as the whole message", async () => {
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL, max_tokens: 64, tools: [weather], tool_choice: { type: "any", disable_parallel_tool_use: true },
      messages: [{ role: "user", content: "Weather in Rome, please" }],
    };
    const whole = await client.messages.create(params);
    const s = client.messages.stream(params);
    let fragments = 0;
    s.on("inputJson", () => void fragments++);
    const streamed = await s.finalMessage();
    assert.ok(fragments > 1, "the input came in several input_json_delta events");
    assert.deepEqual(streamed.content, whole.content);
    assert.deepEqual([streamed.stop_reason, streamed.stop_sequence], ["tool_use", null]);
    assert.equal(streamed.usage.output_tokens, whole.usage.output_tokens);
  });

  test("sdk: stop_sequences end the answer with stop_reason stop_sequence naming the sequence, streamed and not", async () => {
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "Tell me words" }];
    const full = textOf(await client.messages.create({ model: MODEL, max_tokens: 64, messages }));
    const stop = ` ${full.split(" ")[4]}`;
    const expected = full.slice(0, full.indexOf(stop));
    const cut = await client.messages.create({ model: MODEL, max_tokens: 64, messages, stop_sequences: ["never-there", stop] });
    assert.deepEqual([textOf(cut), cut.stop_reason, cut.stop_sequence], [expected, "stop_sequence", stop]);
    const streamed = await client.messages.stream({ model: MODEL, max_tokens: 64, messages, stop_sequences: [stop] }).finalMessage();
    assert.deepEqual([textOf(streamed), streamed.stop_reason, streamed.stop_sequence], [expected, "stop_sequence", stop]);
  });

  test("sdk: an image block (base64 and url) is accepted; a server tool and a document are 400s", async () => {
    const m = await client.messages.create({
      model: MODEL, max_tokens: 8,
      messages: [{ role: "user", content: [
        { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
        { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
        { type: "text", text: "What is this?" },
      ] }],
    });
    assert.equal(m.stop_reason, "max_tokens");
    await assert.rejects(
      client.messages.create({ model: MODEL, max_tokens: 8, tools: [{ type: "web_search_20250305", name: "web_search" }], messages: [{ role: "user", content: "Hi" }] }),
      (e: unknown) => e instanceof Anthropic.BadRequestError && /web_search_20250305/.test(e.message),
    );
    await assert.rejects(
      client.messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "x" } }] }] }),
      (e: unknown) => e instanceof Anthropic.BadRequestError && /'document' are not supported/.test(e.message),
    );
  });

  test("raw: a key with rpm and tpm limits gets anthropic-ratelimit-* beside x-ratelimit-*, streamed and not", async () => {
    for (const stream of [false, true]) {
      const res = await postJson(`${gw.url}/v1/messages`, { model: MODEL, max_tokens: 8, stream, messages: [{ role: "user", content: "Hi" }] }, { "x-api-key": LIMITED });
      assert.equal(res.status, 200);
      await res.text();
      const hd = (k: string): string => res.headers.get(k) ?? "";
      assert.equal(hd("anthropic-ratelimit-requests-limit"), "600");
      assert.match(hd("anthropic-ratelimit-requests-remaining"), /^\d+$/);
      // Gateways lease blocks of the allowance, so "remaining" is the window's, not one less per request.
      assert.ok(Number(hd("anthropic-ratelimit-requests-remaining")) <= 600);
      assert.equal(hd("anthropic-ratelimit-tokens-limit"), "100000");
      assert.match(hd("anthropic-ratelimit-tokens-remaining"), /^\d+$/);
      for (const what of ["requests", "tokens"]) {
        const reset = hd(`anthropic-ratelimit-${what}-reset`);
        assert.match(reset, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, `${what} reset is an RFC 3339 time`);
        const ms = Date.parse(reset) - Date.now();
        // The sliding window counts 61 one-second slots (access/limits/slots.ts), and the header rounds up to the second.
        assert.ok(ms > -2_000 && ms <= 62_000, `${what} resets within the window: ${reset}`);
      }
      assert.equal(hd("x-ratelimit-limit-requests"), "600", "OpenAI's names too");
    }
    const free = await postJson(`${gw.url}/v1/messages`, { model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }, { "x-api-key": KEY });
    await free.text();
    assert.equal(free.headers.get("anthropic-ratelimit-requests-limit"), null, "a key without limits gets none");
  });
});
