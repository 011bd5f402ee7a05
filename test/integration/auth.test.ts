import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Config } from "../../config/config.js";
import { BrokerError } from "../../contract/errors.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { createInferenceClient } from "../../grpc/client.js";
import type { ErrorBody, ModelList } from "../helpers/bodies.js";
import { runCli, waitFor, waitForModel } from "../helpers/broker.js";
import { postJson, readJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";

const ADMIN = "admin-secret-for-tests-0123456789";
const STATIC = "static-key-for-tests-0123456789abcdef";

const ask = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "hi" }], ...extra });
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

async function createKey(cfg: Config, ...args: string[]): Promise<string> {
  const r = await runCli(cfg, ["keys", "create", ...args]);
  assert.equal(r.code, 0, r.stderr);
  const secret = r.stdout.trim();
  assert.match(secret, /^sk-brk-[A-Za-z0-9_-]{43}$/);
  return secret;
}

describe("client API keys", () => {
  const h = useHarness();
  let cfg: Config;
  let gw: GatewayHandle;
  let cloud: FakeOpenAI;

  test("set-up: a gateway with auth on, an admin key, a static key file and a sim worker", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keys-"));
    const keysFile = join(dir, "keys.yaml");
    writeFileSync(keysFile, `keys:\n  - name: static-one\n    key: ${STATIC}\n    models: ["sim-*", "byok/*"]\n`);
    process.env.TEST_ADMIN_KEY = ADMIN;
    cloud = await startFakeOpenAI();
    h.defer(() => cloud.close());
    cfg = h.config({
      gateway: {
        grpcPort: 0, auth: { enabled: true, keysFile }, adminKeyEnv: "TEST_ADMIN_KEY",
        models: [{ prefix: "byok/", model: "byok", passthroughKey: true }],
      },
      workers: [
        { name: "byok", slots: 2, models: [{ id: "byok", engine: "openai-http", options: { baseUrl: cloud.url } }] },{ name: "sim", slots: 4, models: [{ id: "sim-a", engine: "sim", options: { outputTokens: 4 } }, { id: "other", engine: "sim", options: { outputTokens: 4 } }, { id: "sim-slow", engine: "sim", options: { outputTokens: 20, itlMs: 100 } }] }],
    });
    h.worker(cfg, "sim");
    h.worker(cfg, "byok");
    gw = await h.gateway(cfg);
    await waitForModel(gw.url, "sim-a", 15_000, STATIC);
  });

  test("no key, a malformed one and an unknown one: 401 invalid_api_key in OpenAI's shape, never echoing the key", async () => {
    for (const headers of [{}, { authorization: "Basic abc" }, bearer("sk-brk-not-a-real-key-000000000000000000000000")]) {
      const res = await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), headers);
      assert.equal(res.status, 401);
      const body = await readJson<ErrorBody>(res);
      assert.equal(body.error.code, "invalid_api_key");
      assert.equal(body.error.type, "invalid_request_error");
      assert.ok(!JSON.stringify(body).includes("not-a-real-key"));
    }
    assert.equal((await fetch(`${gw.url}/v1/models`)).status, 401);
  });

  test("probes stay open; the admin surface needs the admin key", async () => {
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${gw.url}/readyz`)).status, 200);
    for (const path of ["/admin/workers", "/admin/queues", "/metrics"]) {
      assert.equal((await fetch(`${gw.url}${path}`)).status, 401, path);
      assert.equal((await fetch(`${gw.url}${path}`, { headers: bearer(STATIC) })).status, 401, `${path} with a client key`);
      assert.equal((await fetch(`${gw.url}${path}`, { headers: bearer(ADMIN) })).status, 200, `${path} with the admin key`);
    }
  });

  test("a key sees and calls only its models; any other is a 404 exactly like an unknown model", async () => {
    const key = await createKey(cfg, "--name", "team-a", "--models", "sim-*");
    const models = await readJson<ModelList>(fetch(`${gw.url}/v1/models`, { headers: bearer(key) }));
    assert.deepEqual(models.data.map((m) => m.id), ["sim-a", "sim-slow"]);
    const ok = await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(key));
    assert.equal(ok.status, 200);
    const denied = await postJson(`${gw.url}/v1/chat/completions`, ask("other"), bearer(key));
    const unknown = await postJson(`${gw.url}/v1/chat/completions`, ask("no-such-model"), bearer(key));
    assert.equal(denied.status, 404);
    assert.equal(unknown.status, 404);
    const d = await readJson<ErrorBody>(denied);
    const u = await readJson<ErrorBody>(unknown);
    assert.equal(d.error.message.replace("other", "X"), u.error.message.replace("no-such-model", "X"));
    assert.equal((await fetch(`${gw.url}/v1/models/other`, { headers: bearer(key) })).status, 404);
    // The static key file's key works the same way.
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(STATIC))).status, 200);
  });

  test("usage is counted per key and model, errors by code, and readable by the admin", async () => {
    interface Row { key_name: string; model: string; requests: number; completion_tokens: number; errors: Record<string, number> }
    const rows = await waitFor(async () => {
      const body = await readJson<{ data: Row[] }>(fetch(`${gw.url}/admin/usage?key=team-a`, { headers: bearer(ADMIN) }));
      return body.data.some((r) => r.model === "other") ? body.data : null;
    }, "team-a's usage to be flushed");
    const sim = rows.find((r) => r.model === "sim-a");
    assert.equal(sim?.requests, 1);
    assert.equal(sim?.completion_tokens, 4);
    assert.deepEqual(rows.find((r) => r.model === "other")?.errors, { model_not_found: 1 });
    assert.deepEqual(rows.find((r) => r.model === "no-such-model")?.errors, { model_not_found: 1 });
    const metrics = await (await fetch(`${gw.url}/metrics`, { headers: bearer(ADMIN) })).text();
    assert.match(metrics, /broker_key_requests_total\{key="team-a",model="sim-a",code="ok"\} 1/);
  });

  test("a priority above the key's cap is 403 priority_not_allowed", async () => {
    const key = await createKey(cfg, "--name", "low-only", "--max-priority", "low");
    const res = await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), { ...bearer(key), "x-priority": "normal" });
    assert.equal(res.status, 403);
    assert.equal((await readJson<ErrorBody>(res)).error.code, "priority_not_allowed");
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), { ...bearer(key), "x-priority": "low" })).status, 200);
  });

  test("revoke: an open stream finishes, new requests are refused within a second, saying so", async () => {
    const key = await createKey(cfg, "--name", "to-revoke");
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(key))).status, 200);
    const r = await runCli(cfg, ["keys", "revoke", "to-revoke"]);
    assert.equal(r.code, 0, r.stderr);
    const revokedAt = Date.now();
    const seen = await waitFor(async () => {
      const res = await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(key));
      return res.status === 401 ? readJson<ErrorBody>(res) : null;
    }, "the revoke to reach the gateway", 5000);
    const tookMs = Date.now() - revokedAt;
    console.log(`revoke reached the gateway ${tookMs} ms after the CLI returned`);
    assert.ok(tookMs < 1000, `refused within a second (took ${tookMs} ms)`);
    assert.match(seen.error.message, /revoked/);
  });

  test("rotate: the old secret stops working at once, the new one works", async () => {
    const old = await createKey(cfg, "--name", "to-rotate");
    const r = await runCli(cfg, ["keys", "rotate", "to-rotate"]);
    assert.equal(r.code, 0, r.stderr);
    const fresh = r.stdout.trim();
    await waitFor(async () => (await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(fresh))).status === 200, "the new secret");
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(old))).status, 401);
  });

  test("an expired key is refused, saying so", async () => {
    const key = await createKey(cfg, "--name", "short-lived", "--expires", new Date(Date.now() + 8000).toISOString());
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(key))).status, 200);
    const body = await waitFor(async () => {
      const res = await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(key));
      return res.status === 401 ? readJson<ErrorBody>(res) : null;
    }, "the key to expire", 20_000);
    assert.match(body.error.message, /expired/);
  });

  test("a stream opened before the revoke runs to its end", async () => {
    const key = await createKey(cfg, "--name", "streaming");
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json", ...bearer(key) }, body: JSON.stringify(ask("sim-slow", { stream: true })),
    });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    const r = await runCli(cfg, ["keys", "revoke", "streaming"]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(async () => (await postJson(`${gw.url}/v1/chat/completions`, ask("sim-a"), bearer(key))).status === 401, "the revoke");
    for (let c = await reader.read(); !c.done; c = await reader.read()) text += decoder.decode(c.value);
    assert.match(text, /"finish_reason":"stop"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  // The typed client turns the status back into the broker's error; UNAUTHENTICATED ⇄ 401 is grpc-status's unit test.
  test("passthrough with auth on: the broker key in Authorization, the upstream key in x-upstream-authorization", async () => {
    await waitFor(async () => (await fetch(`${gw.url}/readyz`).then((r) => r.json() as Promise<{ workers: number }>)).workers === 2, "the byok worker");
    const upstreamKey = "sk-upstream-own-key-123456";
    const missing = await postJson(`${gw.url}/v1/chat/completions`, ask("byok/gpt-x"), bearer(STATIC));
    assert.equal(missing.status, 401);
    assert.match((await readJson<ErrorBody>(missing)).error.message, /x-upstream-authorization/);
    cloud.requests.length = 0;
    const res = await postJson(`${gw.url}/v1/chat/completions`, ask("byok/gpt-x"), { ...bearer(STATIC), "x-upstream-authorization": `Bearer ${upstreamKey}` });
    assert.equal(res.status, 200);
    assert.equal(cloud.requests[0]?.headers.authorization, `Bearer ${upstreamKey}`, "the upstream got the client's own key, not the broker key");
  });

  test("gRPC: UNAUTHENTICATED without a key; a good key works; Admin needs the admin key", async () => {
    const refused = (e: unknown): boolean => e instanceof BrokerError && e.status === 401 && e.code === "invalid_api_key";
    const address = gw.grpcAddress ?? "";
    const anon = createInferenceClient(address);
    const client = createInferenceClient(address, STATIC);
    const admin = createInferenceClient(address, ADMIN);
    try {
      await assert.rejects(anon.listModels(), refused);
      assert.deepEqual((await client.listModels()).map((m) => m.id), ["sim-a", "sim-slow"]);
      await assert.rejects(client.listWorkers(), refused);
      assert.ok((await admin.listWorkers()).workers.length >= 1);
    } finally {
      anon.close();
      client.close();
      admin.close();
    }
  });
});
