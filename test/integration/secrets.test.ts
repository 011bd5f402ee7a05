import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Config } from "../../config/config.js";
import { createInferenceClient } from "../../grpc/client.js";
import { runCli, spawnGateway, spawnWorker, waitFor, type WorkerProcess } from "../helpers/broker.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";
import { freePort } from "../helpers/nats.js";
import { useHarness } from "../helpers/stack.js";

// Known secrets of every kind, a whole scenario that uses and misuses them,
// and then a search for each through everything the broker said or stored.
const ADMIN_KEY = "adm-7f3c1e9a5b2d4c6e8f0a1b3c5d7e9f11";
const WORKER_UPSTREAM_KEY = "sk-worker-upstream-5e8d2c4a6b1f3e7d9c0b";
const CLIENT_UPSTREAM_KEY = "sk-client-own-upstream-a1c3e5g7i9k2m4o6";

/** Every file under a directory, as latin1 text (what JetStream keeps on disk). */
function filesUnder(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    const path = join(dir, name);
    if (statSync(path).isFile()) out += readFileSync(path).toString("latin1");
  }
  return out;
}

describe("secrets never leak", () => {
  const h = useHarness();

  test("client, admin and upstream keys appear in no log line, error, metric, admin answer, CLI output or stored byte", async () => {
    const cloud: FakeOpenAI = await startFakeOpenAI();
    h.defer(() => cloud.close());
    const port = await freePort();
    const cfg: Config = h.config({
      gateway: {
        port, grpcPort: await freePort(), auth: { enabled: true }, adminKeyEnv: "SECRETS_TEST_ADMIN",
        models: [{ prefix: "byok/", model: "byok", passthroughKey: true }],
      },
      workers: [
        { name: "sim", slots: 2, models: [{ id: "sim", engine: "sim", options: { outputTokens: 4 } }] },
        { name: "cloud", slots: 2, models: [{ id: "cloud", engine: "openai-http", options: { baseUrl: cloud.url, apiKeyEnv: "SECRETS_TEST_UPSTREAM" } }, { id: "byok", engine: "openai-http", options: { baseUrl: cloud.url } }] },
      ],
    });
    const debug = { LOG_LEVEL: "debug", SECRETS_TEST_UPSTREAM: WORKER_UPSTREAM_KEY, SECRETS_TEST_ADMIN: ADMIN_KEY };
    // Workers log at debug too: started here rather than through h.worker, which keeps the default level.
    const procs: WorkerProcess[] = [];
    for (const name of ["sim", "cloud"]) {
      const w = spawnWorker(cfg, name, debug);
      h.defer(async () => {
        w.child.kill("SIGTERM");
        await w.exited;
      });
      procs.push(w);
    }
    const gw = spawnGateway(cfg, [], debug);
    h.defer(async () => {
      gw.child.kill("SIGTERM");
      await gw.exited;
    });
    const base = `http://127.0.0.1:${port}`;

    const created = await runCli(cfg, ["keys", "create", "--name", "team-secret", "--rpm", "1000"]);
    assert.equal(created.code, 0, created.stderr);
    const clientKey = created.stdout.trim();
    const secrets = { clientKey, ADMIN_KEY, WORKER_UPSTREAM_KEY, CLIENT_UPSTREAM_KEY };

    let seen = "";
    const call = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<number> => {
      const res = await fetch(`${base}${path}`, {
        method: init.method ?? (init.body === undefined ? "GET" : "POST"),
        headers: { "content-type": "application/json", ...init.headers },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      seen += `${path} ${res.status} ${JSON.stringify([...res.headers])}\n${await res.text()}\n`;
      return res.status;
    };
    const as = (key: string, more: Record<string, string> = {}): Record<string, string> => ({ authorization: `Bearer ${key}`, ...more });
    const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "hello" }], ...extra });

    const listed = async (): Promise<boolean> => {
      const res = await fetch(`${base}/v1/models`, { headers: as(clientKey) }).catch(() => undefined);
      const text = res ? await res.text() : "";
      return text.includes('"cloud"') && text.includes('"sim"');
    };
    await waitFor(listed, "the gateway and both workers", 20_000);
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey), body: chat("sim") }), 200);
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey), body: chat("sim", { stream: true }) }), 200);
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey), body: chat("cloud") }), 200);
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey, { "x-upstream-authorization": `Bearer ${CLIENT_UPSTREAM_KEY}` }), body: chat("byok/gpt-x") }), 200);
    assert.equal(cloud.requests.at(-1)?.headers.authorization, `Bearer ${CLIENT_UPSTREAM_KEY}`, "the scenario really used the passthrough key");
    // Upstreams that echo the rejected key in their error (OpenAI does, in part).
    cloud.failNext({ status: 401, body: { error: { message: `Incorrect API key provided: ${WORKER_UPSTREAM_KEY}`, type: "invalid_request_error", code: "invalid_api_key" } } });
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey), body: chat("cloud") }), 502);
    cloud.failNext({ status: 400, body: { error: { message: `bad request from ${CLIENT_UPSTREAM_KEY}`, type: "invalid_request_error" } } });
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey, { "x-upstream-authorization": CLIENT_UPSTREAM_KEY }), body: chat("byok/gpt-x") }), 400);
    // Near misses: each contains the real secret, so echoing what was presented would leak it.
    assert.equal(await call("/v1/chat/completions", { headers: as(`${clientKey}x`), body: chat("sim") }), 401);
    assert.equal(await call("/v1/models", { headers: as(`${clientKey}x`) }), 401);
    assert.equal(await call("/admin/workers", { headers: as(`${ADMIN_KEY}x`) }), 401);
    assert.equal(await call("/admin/workers", { headers: as(clientKey) }), 401);
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey), body: chat("nope") }), 404);
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey, { "x-priority": "high" }), body: chat("sim") }), 403);
    assert.equal(await call("/v1/chat/completions", { headers: as(clientKey), body: { model: "sim", messages: "not a list", apiKey: clientKey } }), 400);
    // What operators read.
    for (const path of ["/admin/workers", "/admin/queues", "/admin/usage", "/metrics"]) await call(path, { headers: as(ADMIN_KEY) });
    for (const args of [["keys", "list"], ["keys", "list", "--json"], ["keys", "show", "team-secret", "--json"]]) {
      const r = await runCli(cfg, args);
      seen += r.stdout + r.stderr;
    }
    // gRPC, with a good and a near-miss key.
    const good = createInferenceClient(`127.0.0.1:${cfg.gateway.grpcPort}`, clientKey);
    const bad = createInferenceClient(`127.0.0.1:${cfg.gateway.grpcPort}`, `${clientKey}x`);
    try {
      for await (const c of good.chat("sim", { messages: [{ role: "user", content: "hi" }] })) seen += JSON.stringify(c);
      await bad.listModels().catch((e: unknown) => (seen += String(e) + JSON.stringify(e)));
      await good.listWorkers().catch((e: unknown) => (seen += String(e) + JSON.stringify(e)));
    } finally {
      good.close();
      bad.close();
    }
    const r = await runCli(cfg, ["keys", "revoke", "team-secret"]);
    seen += r.stdout + r.stderr;
    await waitFor(async () => (await call("/v1/chat/completions", { headers: as(clientKey), body: chat("sim") })) === 401, "the revoke");

    // Stop everything so logs are flushed, then search.
    for (const p of [gw, ...procs]) {
      p.child.kill("SIGTERM");
      await p.exited;
    }
    const logs = [gw, ...procs].map((p) => p.output()).join("\n");
    assert.ok(logs.split("\n").length > 20, "the processes logged (debug level): the search has something to search");
    assert.match(seen, /team-secret/, "the answers were captured");
    const stored = filesUnder(h.nats.storeDir);
    assert.match(stored, /team-secret/, "the store was read (the key's record is there, by name)");
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!seen.includes(secret), `${name} appears in an answer, header or CLI output`);
      assert.ok(!logs.includes(secret), `${name} appears in a log line`);
      assert.ok(!stored.includes(secret), `${name} appears in NATS's store`);
    }
  });
});
