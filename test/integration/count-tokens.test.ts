import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { estimatePromptTokens } from "../../contract/mod.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitForModel } from "../helpers/broker.js";
import { startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { startFakeOpenAI } from "../helpers/fake-openai.js";
import { postJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const KEY = "static-key-for-count-tokens-0123456789abcd";
// A key whose tpm is below the long prompt's estimate: a call is refused, a count is not.
const TIGHT_KEY = "static-key-for-count-tokens-tight-0123456";
const TIGHT_TPM = 50;
const messages: Anthropic.MessageParam[] = [
  { role: "user", content: "What is the capital of France?" },
  { role: "assistant", content: "Paris." },
  { role: "user", content: [{ type: "text", text: "And of Italy?" }] },
];

// POST /v1/messages/count_tokens through the official SDK, answered by a worker of the model:
// the sim and anthropic engines count what a call reports, openai-http estimates.
describe("POST /v1/messages/count_tokens", () => {
  const h = useHarness();
  let gw: GatewayHandle;
  let client: Anthropic;
  let fake: FakeAnthropic;

  before(async () => {
    fake = await startFakeAnthropic();
    const openai = await startFakeOpenAI();
    h.defer(() => fake.close());
    h.defer(() => openai.close());
    const keysFile = join(mkdtempSync(join(tmpdir(), "count-keys-")), "keys.json");
    writeFileSync(keysFile, JSON.stringify({ keys: [{ name: "all", key: KEY, models: ["*"] }, { name: "tight", key: TIGHT_KEY, models: ["sim"], tpm: TIGHT_TPM }] }));
    const cfg = h.config({
      gateway: { auth: { enabled: true, keysFile } },
      workers: [{
        name: "count", slots: 4, models: [
          { id: "sim", engine: "sim", options: { outputTokens: 4 } },
          { id: "claude", engine: "anthropic", options: { baseUrl: fake.url, upstreamModel: "claude-up", apiKeyEnv: "COUNT_TEST_ANTHROPIC_KEY" } },
          { id: "gpt", engine: "openai-http", options: { baseUrl: openai.url } },
        ],
      }],
    });
    h.worker(cfg, "count", { COUNT_TEST_ANTHROPIC_KEY: "sk-ant-count-test" });
    gw = await h.gateway(cfg);
    for (const m of ["sim", "claude", "gpt"]) await waitForModel(gw.url, m, 15_000, KEY);
    client = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 });
  });

  test("sim: the count equals the input_tokens a call with the same prompt reports", async () => {
    const counted = await client.messages.countTokens({ model: "sim", system: "Be brief.", messages });
    const called = await client.messages.create({ model: "sim", max_tokens: 8, system: "Be brief.", messages });
    assert.ok(counted.input_tokens > 0);
    assert.equal(counted.input_tokens, called.usage.input_tokens);
  });

  test("anthropic engine: the upstream's own count_tokens, sent without max_tokens, equals the call's input_tokens", async () => {
    const counted = await client.messages.countTokens({ model: "claude", system: "Be brief.", messages });
    const request = fake.requests.at(-1);
    assert.equal(request?.path, "/v1/messages/count_tokens");
    assert.deepEqual(Object.keys(request?.body as object).sort(), ["messages", "model", "system"]);
    assert.equal((request?.body as { model: string }).model, "claude-up");
    const called = await client.messages.create({ model: "claude", max_tokens: 8, system: "Be brief.", messages });
    assert.equal(counted.input_tokens, called.usage.input_tokens);
  });

  test("anthropic engine: an upstream refusal of the count comes back in Anthropic's shape", async () => {
    fake.failNext({ status: 529 });
    await assert.rejects(client.messages.countTokens({ model: "claude", messages }), (e: unknown) => e instanceof Anthropic.APIError && e.status === 529);
  });

  test("openai-http (no count endpoint): the documented estimate, characters / 4", async () => {
    const counted = await client.messages.countTokens({ model: "gpt", messages });
    const chars = "What is the capital of France?Paris.And of Italy?";
    assert.equal(counted.input_tokens, Math.ceil(chars.length / 4));
    assert.equal(counted.input_tokens, estimatePromptTokens({ chat: { messages: [{ content: chars }] } }));
  });

  test("a count charges no tokens: a prompt over the key's tpm is counted, though a call with it is refused", async () => {
    const tight = new Anthropic({ baseURL: gw.url, apiKey: TIGHT_KEY, maxRetries: 0 });
    const long: Anthropic.MessageParam[] = [{ role: "user", content: "word ".repeat(TIGHT_TPM * 2) }];
    await assert.rejects(tight.messages.create({ model: "sim", max_tokens: 4, messages: long }), (e: unknown) => e instanceof Anthropic.RateLimitError);
    for (let i = 0; i < 3; i++) assert.equal((await tight.messages.countTokens({ model: "sim", messages: long })).input_tokens, TIGHT_TPM * 2 + 3);
  });

  test("errors: a bad key, a model the key may not use, a sampling field, all in Anthropic's shape", async () => {
    const wrong = new Anthropic({ baseURL: gw.url, apiKey: "sk-brk-wrong", maxRetries: 0 });
    await assert.rejects(wrong.messages.countTokens({ model: "sim", messages }), Anthropic.AuthenticationError);
    const tight = new Anthropic({ baseURL: gw.url, apiKey: TIGHT_KEY, maxRetries: 0 });
    await assert.rejects(tight.messages.countTokens({ model: "claude", messages }), Anthropic.NotFoundError);
    const res = await postJson(`${gw.url}/v1/messages/count_tokens`, { model: "sim", messages, temperature: 0.5 }, { "x-api-key": KEY, "anthropic-version": "2023-06-01" });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { type: "error", error: { type: "invalid_request_error", message: "temperature: Extra inputs are not permitted" }, request_id: res.headers.get("request-id") });
  });
});
