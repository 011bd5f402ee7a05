import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { subjects } from "../../contract/subjects.js";
import { spawnGateway, waitFor, waitForModel } from "../helpers/broker.js";
import { parseSse, postJson } from "../helpers/http.js";
import { freePort } from "../helpers/nats.js";
import { useHarness } from "../helpers/stack.js";

const messages = [{ role: "user", content: "hello" }];

// A nats-server restart under a full queue, and a gateway's graceful stop.
describe("restarts", () => {
  const harness = useHarness();

  test("500 queued jobs survive a nats-server restart; a request during the outage waits for NATS, or gets 503 after gateway.natsWaitMs", async () => {
    const cfg = harness.config({
      // Far longer than the outage: a request sent while NATS is down is queued when it is back.
      gateway: { natsWaitMs: 60_000, models: [{ id: "durable", queueWithoutWorkers: true }] },
      workers: [{ name: "w", slots: 16, models: [{ id: "durable", engine: "sim", options: { outputTokens: 4 } }] }],
    });
    const gw = await harness.gateway(cfg);
    const N = 500;
    const pending = Array.from({ length: N }, (_, i) => postJson(`${gw.url}/v1/chat/completions`, { model: "durable", messages, seed: i }));

    const stream = subjects(cfg.nats.prefix).stream;
    const queued = async (): Promise<number> => {
      const nc = await connect({ servers: harness.nats.url });
      try {
        return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
      } finally {
        await nc.close();
      }
    };
    await waitFor(async () => (await queued()) === N, `${N} jobs in the stream`, 30_000);

    // A second gateway that waits half a second at most.
    const impatient = await harness.gateway({ ...cfg, gateway: { ...cfg.gateway, natsWaitMs: 500 } });
    await harness.nats.stop();
    await waitFor(async () => (await fetch(`${impatient.url}/readyz`)).status === 503, "the gateways to notice");
    const t0 = Date.now();
    const refused = await postJson(`${impatient.url}/v1/chat/completions`, { model: "durable", messages });
    const waited = Date.now() - t0;
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "nats_unavailable");
    assert.ok(waited >= 450 && waited < 5000, `503 after natsWaitMs (500 ms), not at once nor after a publish timeout (${waited} ms)`);
    assert.equal((await fetch(`${gw.url}/readyz`)).status, 503);
    const during = postJson(`${gw.url}/v1/chat/completions`, { model: "durable", messages });

    await harness.nats.restart();
    await waitFor(async () => (await fetch(`${gw.url}/readyz`)).ok, "the gateway to reconnect", 15_000);
    harness.worker(cfg, "w");
    assert.equal((await during).status, 200, "the request sent during the outage was queued once NATS was back");
    const results = await Promise.all(pending);
    const statuses = new Map<number, number>();
    for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    assert.deepEqual([...statuses], [[200, N]], "every queued job completed");
    await waitFor(async () => (await queued()) === 0, "the stream to be empty", 10_000);
  });

  test("an outage longer than the heartbeat bound writes off no worker: the gateway heard nothing because it was cut off itself", async () => {
    const cfg = harness.config({
      gateway: { natsWaitMs: 60_000 },
      workers: [{ name: "steady", slots: 2, heartbeatMs: 300, models: [{ id: "steady", engine: "sim", options: { outputTokens: 4 } }] }],
    });
    const gw = await harness.gateway(cfg);
    harness.worker(cfg, "steady");
    await waitForModel(gw.url, "steady");
    const workers = async (): Promise<string[]> => ((await (await fetch(`${gw.url}/admin/workers`)).json()) as { data: { id: string }[] }).data.map((w) => w.id);
    const before = await workers();
    await harness.nats.stop();
    await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 503, "the gateway to notice");
    // The outage is the scenario: more than twice the 900 ms after which a silent worker is written off.
    await new Promise((r) => setTimeout(r, 2000));
    const during = await workers();
    // Back before asserting: a failure must not leave the file's later tests without NATS.
    await harness.nats.restart();
    assert.deepEqual(during, before, "no worker written off while the gateway itself had no connection");
    await waitFor(async () => (await fetch(`${gw.url}/readyz`)).ok, "the gateway to reconnect", 15_000);
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: "steady", messages });
    assert.equal(res.status, 200);
    assert.deepEqual(await workers(), before);
  });

  test("a SIGTERMed gateway finishes open streams, refuses new work and exits 0", async () => {
    const port = await freePort();
    const cfg = harness.config({
      gateway: { port },
      workers: [{ name: "w", slots: 2, models: [{ id: "slowish", engine: "sim", options: { itlMs: 20, outputTokens: 50 } }] }],
    });
    harness.worker(cfg, "w");
    const g = spawnGateway(cfg);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok, "gateway process to be ready", 15_000);
    await waitForModel(url, "slowish");
    const res = await postJson(`${url}/v1/chat/completions`, { model: "slowish", messages, stream: true });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    let raw = dec.decode((await reader.read()).value);
    g.child.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += dec.decode(value, { stream: true });
    }
    const { done } = parseSse(raw);
    assert.ok(done, `the open stream finished: ${raw.slice(-200)}`);
    const refused = await postJson(`${url}/v1/chat/completions`, { model: "slowish", messages }).then((r) => r.status, () => "refused");
    assert.ok(refused === "refused" || refused === 503, `new work refused (${refused})`);
    assert.equal(await g.exited, 0, g.output());
  });
});
