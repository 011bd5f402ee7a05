import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type OpenAI from "openai";
import type { Config } from "../../config/config.js";
import { subjects } from "../../contract/subjects.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { field, type ErrorBody, type ModelList, type ReadyBody } from "../helpers/bodies.js";
import { spawnWorker, startTestGateway, testConfig, waitFor, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";
import { postJson, postSse, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

const CLIENT_KEY = "sk-client-own-key-987654321";

// Routes, aliases, prefixes, fallback chains and key passthrough, with a local sim and a stand-in cloud.
describe("routing: aliases, prefixes, fallback chains, credentials", () => {
  let nats: TestNats;
  let cloud: FakeOpenAI;
  let broken: FakeOpenAI;
  let gw: GatewayHandle;
  let cfg: Config;
  const workers = new Map<string, WorkerProcess>();

  before(async () => {
    nats = await startNats();
    cloud = await startFakeOpenAI();
    broken = await startFakeOpenAI();
    cfg = testConfig(nats.url, {
      gateway: {
        models: [
          { id: "fast", model: "local" },
          { prefix: "openai/", model: "cloud" },
          { prefix: "byok/", model: "byok", passthroughKey: true, queueWithoutWorkers: true },
          // A bound well beyond an idle worker's claim on a loaded machine: the spill test holds the slot instead.
          { id: "smart", chain: ["local", "openai/gpt-4o-mini"], fallback: { onQueueWaitMs: 2000 } },
          { id: "flaky", chain: ["broken", "openai/gpt-4o-mini"] },
          { id: "local" },
          { id: "broken" },
        ],
      },
      workers: [
        // One slot, and answers long enough (12 s) for a test to hold it with one stream.
        { name: "local", slots: 1, models: [{ id: "local", engine: "sim", options: { itlMs: 30, outputTokens: 400 } }] },
        { name: "cloud", slots: 4, models: [{ id: "cloud", engine: "openai-http", options: { baseUrl: cloud.url } }] },
        { name: "broken", slots: 2, models: [{ id: "broken", engine: "openai-http", options: { baseUrl: broken.url } }] },
        { name: "byok", slots: 2, models: [{ id: "byok", engine: "openai-http", options: { baseUrl: cloud.url } }] },
      ],
    });
    for (const name of ["cloud", "broken"]) workers.set(name, spawnWorker(cfg, name));
    gw = await startTestGateway(cfg);
    await waitFor(async () => (await readJson<ReadyBody>(fetch(`${gw.url}/readyz`))).workers === 2, "cloud and broken workers");
  });
  after(async () => {
    await gw?.close();
    for (const w of workers.values()) {
      w.child.kill("SIGKILL");
      await w.exited;
    }
    await cloud?.close();
    await broken?.close();
    await nats?.close();
  });

  const ask = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "route me please" }], ...extra });
  const chat = () => `${gw.url}/v1/chat/completions`;

  test("a prefix route sends the rest of the id upstream", async () => {
    cloud.requests.length = 0;
    const res = await postJson(chat(), ask("openai/gpt-4o-mini"));
    assert.equal(res.status, 200);
    assert.equal(field(cloud.requests[0]?.body, "model"), "gpt-4o-mini");
    assert.equal((await readJson<OpenAI.ChatCompletion>(res)).model, "openai/gpt-4o-mini", "the model field names the route target that served it");
    assert.equal(res.headers.get("x-broker-upstream-model"), "gpt-4o-mini", "the upstream's own name is in a header");
  });

  test("local first: with no local worker the chain falls to the cloud, and says so", async () => {
    const res = await postJson(chat(), ask("smart"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-broker-route"), "smart>openai/gpt-4o-mini");
    const s = await postSse(chat(), ask("smart", { stream: true }));
    assert.equal(s.status, 200);
    assert.ok(s.done);
    assert.equal(s.headers.get("x-broker-route"), "smart>openai/gpt-4o-mini");
  });

  test("an alias serves its model; once the local worker is up the chain stays local", async () => {
    workers.set("local", spawnWorker(cfg, "local"));
    await waitForModel(gw.url, "local");
    const alias = await readJson<OpenAI.ChatCompletion>(postJson(chat(), ask("fast", { max_tokens: 2 })));
    assert.equal(alias.usage?.completion_tokens, 2);
    const models = (await readJson<ModelList>(fetch(`${gw.url}/v1/models`))).data.map((m) => m.id);
    assert.ok(models.includes("fast") && models.includes("smart"), JSON.stringify(models));
    const res = await postJson(chat(), ask("smart", { max_tokens: 2 }));
    assert.equal(res.headers.get("x-broker-route"), "smart>local");
  });

  test("when the local queue wait passes the bound, the chain spills to the cloud", async () => {
    // The one local slot is held by a stream that has started (its first bytes arrived), so the
    // next request surely waits the whole bound, whatever the machine's speed.
    const hold = new AbortController();
    const blocker = await fetch(chat(), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ask("local", { stream: true })), signal: hold.signal });
    const reader = blocker.body?.getReader();
    assert.ok(reader);
    await reader.read();
    const t0 = Date.now();
    const res = await postJson(chat(), ask("smart"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-broker-route"), "smart>openai/gpt-4o-mini");
    assert.ok(Date.now() - t0 >= 1900, "it waited for the local queue first");
    hold.abort();
    await reader.closed.catch(() => undefined);
  });

  test("an error before the first token falls back; without a chain an upstream 429 keeps its Retry-After", async () => {
    broken.failNext({ status: 500 });
    const res = await postJson(chat(), ask("flaky"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-broker-route"), "flaky>openai/gpt-4o-mini");
    broken.failNext({ status: 429, headers: { "retry-after": "11" } });
    const direct = await postJson(chat(), ask("broken"));
    assert.equal(direct.status, 429);
    assert.equal(direct.headers.get("retry-after"), "11");
  });

  test("passthrough: the client's key reaches the upstream, is never stored in the job, and is required", async () => {
    const denied = await postJson(chat(), ask("byok/some-model"));
    assert.equal(denied.status, 401);
    assert.equal((await readJson<ErrorBody>(denied)).error.code, "invalid_api_key");

    cloud.requests.length = 0;
    // No byok worker yet: the job waits in JetStream, where we read what is stored.
    const pending = postJson(chat(), ask("byok/some-model"), { authorization: `Bearer ${CLIENT_KEY}` });
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const s = subjects(cfg.nats.prefix);
      const stored = await waitFor(async () => {
        try {
          return await jsm.streams.getMessage(s.stream, { last_by_subj: s.job("byok", "normal") });
        } catch {
          return null;
        }
      }, "the queued job");
      assert.ok(!Buffer.from(stored.data).toString("latin1").includes(CLIENT_KEY), "the key is not in the stored job");
    } finally {
      await nc.close();
    }
    workers.set("byok", spawnWorker(cfg, "byok"));
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(cloud.requests[0]?.headers.authorization, `Bearer ${CLIENT_KEY}`);
    assert.equal(field(cloud.requests[0]?.body, "model"), "some-model");
    for (const w of workers.values()) assert.ok(!w.output().includes(CLIENT_KEY), "no key in worker logs");
  });
});
