import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitForModel } from "../helpers/broker.js";
import { postJson, readJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const KEY = "static-key-for-messages-0123456789abcdef";
const MODEL = "sim-msg";
const ask = (extra: Record<string, unknown> = {}) => ({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "Say something" }], ...extra });

interface ErrorBody {
  type: string;
  error: { type: string; message: string };
  request_id?: string;
}

// Anthropic's Messages API on a gateway with auth on (a static key), over one sim worker:
// the official SDK unchanged but for the base URL, then raw HTTP for the wire format.
describe("POST /v1/messages (Anthropic's Messages API)", () => {
  const h = useHarness();
  let gw: GatewayHandle;
  let url: string;
  let client: Anthropic;

  before(async () => {
    const keysFile = join(mkdtempSync(join(tmpdir(), "msg-keys-")), "keys.yaml");
    writeFileSync(keysFile, `keys:\n  - name: messages\n    key: ${KEY}\n    models: ["sim-*"]\n`);
    const cfg = h.config({
      gateway: { auth: { enabled: true, keysFile }, bodyLimitBytes: 64 * 1024 },
      workers: [{ name: "sim", slots: 4, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 12, itlMs: 1 } }] }],
    });
    h.worker(cfg, "sim");
    gw = await h.gateway(cfg);
    url = `${gw.url}/v1/messages`;
    await waitForModel(gw.url, MODEL, 15_000, KEY);
    client = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 });
  });

  test("sdk: messages.create answers a message with text, stop reason and usage", async () => {
    const m = await client.messages.create({ model: MODEL, max_tokens: 64, system: "Be brief.", messages: [{ role: "user", content: "Hi" }] });
    assert.match(m.id, /^msg_/);
    assert.equal(m.type, "message");
    assert.equal(m.role, "assistant");
    assert.equal(m.model, MODEL);
    assert.equal(m.content.length, 1);
    const block = m.content[0];
    assert.ok(block?.type === "text" && block.text.length > 0);
    assert.equal(m.stop_reason, "end_turn");
    assert.equal(m.stop_sequence, null);
    assert.equal(m.usage.output_tokens, 12);
    assert.ok(m.usage.input_tokens > 0);
    assert.match(m._request_id ?? "", /.+/, "the SDK reads the request-id header");
  });

  test("sdk: max_tokens cuts the answer: stop_reason max_tokens", async () => {
    const m = await client.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] });
    assert.equal(m.stop_reason, "max_tokens");
    assert.equal(m.usage.output_tokens, 5);
  });

  test("sdk: messages.stream gives text events and a final message that agree", async () => {
    let text = "";
    const s = client.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "Hi" }] });
    s.on("text", (t) => {
      text += t;
    });
    const m = await s.finalMessage();
    assert.ok(text.length > 0);
    const block = m.content[0];
    assert.ok(block?.type === "text");
    assert.equal(block.text, text);
    assert.equal(m.stop_reason, "end_turn");
    assert.equal(m.usage.output_tokens, 12);
    assert.ok(m.usage.input_tokens > 0);
  });

  test("sdk: a key in Authorization: Bearer (authToken) works too; errors are the SDK's typed errors", async () => {
    const bearer = new Anthropic({ baseURL: gw.url, apiKey: null, authToken: KEY, maxRetries: 0 });
    const m = await bearer.messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "Hi" }] });
    assert.equal(m.usage.output_tokens, 8);
    await assert.rejects(client.messages.create({ model: "sim-nope", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }), Anthropic.NotFoundError);
    const wrong = new Anthropic({ baseURL: gw.url, apiKey: "sk-brk-wrong", maxRetries: 0 });
    await assert.rejects(wrong.messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }), Anthropic.AuthenticationError);
  });

  test("raw: the SSE events come in Anthropic's order, each `event: <type>` with its `data:`", async () => {
    const res = await postJson(url, ask({ stream: true }), { "x-api-key": KEY, "anthropic-version": "2023-06-01" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const blocks = (await res.text()).split("\n\n").filter(Boolean);
    const names = blocks.map((b) => {
      const m = /^event: (\S+)\ndata: (.*)$/s.exec(b);
      assert.ok(m, `an event block: ${JSON.stringify(b)}`);
      assert.equal((JSON.parse(m[2] as string) as { type: string }).type, m[1]);
      return m[1];
    });
    const deltas = names.filter((n) => n === "content_block_delta").length;
    assert.ok(deltas > 0);
    assert.deepEqual(names, ["message_start", "content_block_start", "ping", ...Array<string>(deltas).fill("content_block_delta"), "content_block_stop", "message_delta", "message_stop"]);
  });

  test("raw: errors in Anthropic's shape, with its types and statuses", async () => {
    const auth = { "x-api-key": KEY };
    const cases: { body: unknown; headers?: Record<string, string>; status: number; type: string; message: RegExp; path?: string }[] = [
      { body: { model: MODEL, messages: [{ role: "user", content: "Hi" }] }, status: 400, type: "invalid_request_error", message: /^max_tokens: Field required$/ },
      { body: ask({ model: "sim-unknown" }), status: 404, type: "not_found_error", message: /sim-unknown/ },
      { body: ask({ mcp_servers: [{ type: "url", url: "https://mcp.example.com", name: "x" }] }), status: 400, type: "invalid_request_error", message: /'mcp_servers' is not supported by this gateway/ },
      { body: ask(), headers: { "x-api-key": "sk-brk-not-a-real-key-000000000000000000000000" }, status: 401, type: "authentication_error", message: /./ },
      { body: ask(), headers: {}, status: 401, type: "authentication_error", message: /./ },
      { body: "{not json", status: 400, type: "invalid_request_error", message: /not valid JSON/ },
      { body: ask({ system: "x".repeat(100 * 1024) }), status: 413, type: "request_too_large", message: /limit/ },
      { body: ask(), path: "/v1/messages/count_tokens", status: 400, type: "invalid_request_error", message: /^max_tokens: Extra inputs are not permitted$/ },
    ];
    for (const c of cases) {
      const res = await postJson(`${gw.url}${c.path ?? "/v1/messages"}`, c.body, c.headers ?? auth);
      const body = await readJson<ErrorBody>(res);
      const what = `${JSON.stringify(c.body)} → ${res.status} ${JSON.stringify(body)}`;
      assert.equal(res.status, c.status, what);
      assert.equal(body.type, "error", what);
      assert.equal(body.error.type, c.type, what);
      assert.match(body.error.message, c.message, what);
      assert.equal(body.request_id, res.headers.get("request-id"), what);
      assert.ok(!JSON.stringify(body).includes("sk-brk-not-a-real"), "the key is never echoed");
    }
  });

  test("sdk: models.list and models.retrieve answer in Anthropic's shape, only the key's models; an unknown one is NotFoundError", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      assert.equal(m.type, "model");
      assert.ok(!Number.isNaN(Date.parse(m.created_at)), m.created_at);
      ids.push(m.id);
    }
    assert.deepEqual(ids, [MODEL]);
    const one = await client.models.retrieve(MODEL);
    assert.deepEqual([one.type, one.id, one.display_name], ["model", MODEL, MODEL]);
    await assert.rejects(client.models.retrieve("no-such-model"), Anthropic.NotFoundError);
  });

  test("raw: the model list pages with limit and after_id; errors in Anthropic's shape; no anthropic-version keeps OpenAI's list", async () => {
    const get = (path: string, headers: Record<string, string> = { "x-api-key": KEY, "anthropic-version": "2023-06-01" }) => fetch(`${gw.url}${path}`, { headers });
    const page = (await (await get("/v1/models?limit=1")).json()) as { data: { id: string }[]; has_more: boolean; first_id: string | null; last_id: string | null };
    assert.deepEqual(page, { data: [{ type: "model", id: MODEL, display_name: MODEL, created_at: (page.data[0] as { created_at?: string } | undefined)?.created_at }], has_more: false, first_id: MODEL, last_id: MODEL });
    const after = (await (await get(`/v1/models?after_id=${MODEL}`)).json()) as { data: unknown[]; has_more: boolean; first_id: string | null };
    assert.deepEqual([after.data, after.has_more, after.first_id], [[], false, null]);
    const bad = await get("/v1/models?limit=0");
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as ErrorBody).error.type, "invalid_request_error");
    const noKey = await get("/v1/models", { "anthropic-version": "2023-06-01" });
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as ErrorBody).error.type, "authentication_error");
    const openai = (await (await get("/v1/models", { authorization: `Bearer ${KEY}` })).json()) as { object: string };
    assert.equal(openai.object, "list");
  });
});
