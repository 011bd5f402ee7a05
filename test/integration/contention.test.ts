import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type OpenAI from "openai";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import type { ErrorBody } from "../helpers/bodies.js";
import { waitFor } from "../helpers/broker.js";
import { postJson, readJson } from "../helpers/http.js";
import { adminQueues, adminWorkers, sample } from "../helpers/metrics.js";
import { freePort } from "../helpers/nats.js";
import { useHarness } from "../helpers/stack.js";

const messages = [{ role: "user", content: "hi" }];

describe("contention: bounded queues, 429s and queue timeouts", () => {
  const harness = useHarness();

  async function stack(raw: Record<string, unknown>): Promise<{ cfg: Config; gw: GatewayHandle }> {
    const cfg = harness.config(raw);
    const gw = await harness.gateway(cfg);
    return { cfg, gw };
  }

  test("a burst of 2,000 at 4 slots: every request completes or gets a well-formed 429, each job runs once", async () => {
    const metricsPort = await freePort();
    const { cfg, gw } = await stack({
      queue: { maxPerModel: 300 },
      gateway: { models: [{ id: "busy", queueWithoutWorkers: true }] },
      workers: [{ name: "w", slots: 4, metricsPort, models: [{ id: "busy", engine: "sim", options: { ttftMs: 1, outputTokens: 3 } }] }],
    });
    // The worker starts only once the bound has been hit, so hitting it never depends on how fast this machine drains the queue.
    let workerStarted = false;
    const startWorker = () => {
      if (workerStarted) return;
      workerStarted = true;
      harness.worker(cfg, "w");
    };

    const N = 2000;
    const statuses = new Map<number, number>();
    let peakWaiting = 0;
    let next = 0;
    let finished = false;
    const scraper = (async () => {
      while (!finished) {
        const text = await (await fetch(`${gw.url}/metrics`)).text();
        peakWaiting = Math.max(peakWaiting, sample(text, "broker_queue_waiting_jobs", { model: "busy", lane: "normal" }));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // At most 1,000 connections at once, as a real burst from a pool of clients would be.
    await Promise.all(Array.from({ length: 1000 }, async () => {
      while (next < N) {
        next++;
        const res = await postJson(`${gw.url}/v1/chat/completions`, { model: "busy", messages });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const body: unknown = await res.json();
        if (res.status === 429) {
          startWorker();
          const { error } = body as ErrorBody;
          assert.equal(error.code, "queue_full");
          assert.equal(error.type, "rate_limit_error");
          const retry = Number(res.headers.get("retry-after"));
          assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
        } else {
          assert.equal(res.status, 200, JSON.stringify(body));
          assert.equal((body as OpenAI.ChatCompletion).usage?.completion_tokens, 3);
        }
      }
    }));
    finished = true;
    await scraper;
    const ok = statuses.get(200) ?? 0;
    const limited = statuses.get(429) ?? 0;
    console.log(`# burst: ${ok} completed, ${limited} got 429, peak waiting ${peakWaiting}`);
    assert.equal(ok + limited, N, `only 200 and 429: ${JSON.stringify([...statuses])}`);
    assert.ok(limited > 0, "the bound was hit");
    assert.ok(peakWaiting > 0 && peakWaiting <= 300, `queue depth moved and stayed within the bound (${peakWaiting})`);

    const gwText = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(sample(gwText, "broker_rejections_total", { reason: "queue_full" }), limited);
    assert.equal(sample(gwText, "broker_queue_wait_seconds_count", { model: "busy" }), ok);
    assert.equal(sample(gwText, "broker_jobs_total", { model: "busy", outcome: "ok" }), ok);
    await waitFor(async () => sample(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), "broker_worker_jobs_total", { model: "busy", outcome: "ok" }) === ok,
      "the worker to have run exactly the completed jobs, once each");
    const queues = await adminQueues(gw.url);
    assert.deepEqual(queues.filter((q) => q.model === "busy").map((q) => q.lane), ["high", "normal", "low"]);
    assert.deepEqual(queues.find((q) => q.model === "busy" && q.lane === "normal"), { model: "busy", lane: "normal", waiting: 0, running: 0, oldest_waiting_ms: 0 });
    const workers = await adminWorkers(gw.url);
    assert.equal(workers[0]?.slots, 4);
    await waitFor(async () => (await adminWorkers(gw.url))[0]?.models[0]?.completed === ok,
      "the worker's heartbeat to report its completed jobs");
  });

  test("a job no worker takes within maxQueueWaitMs ends with queue_timeout and never runs", async () => {
    const metricsPort = await freePort();
    const { cfg, gw } = await stack({
      gateway: { models: [{ id: "nobody", queueWithoutWorkers: true, maxQueueWaitMs: 500 }] },
      workers: [{ name: "late", slots: 1, metricsPort, models: [{ id: "nobody", engine: "sim" }] }],
    });
    const t0 = Date.now();
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: "nobody", messages, stream: true });
    assert.equal(res.status, 503);
    assert.equal((await readJson<ErrorBody>(res)).error.code, "queue_timeout");
    assert.ok(res.headers.get("retry-after"));
    assert.ok(Date.now() - t0 < 3000);
    // Read from the stream itself (no consumer exists yet): a job left behind would count here.
    await waitFor(async () => {
      const queues = await adminQueues(gw.url);
      return queues.filter((q) => q.model === "nobody").reduce((n, q) => n + q.waiting, 0) === 0;
    }, "the timed-out job to leave the queue");
    // A worker that starts later finds nothing to run.
    harness.worker(cfg, "late");
    // The model is listed without workers (it queues), so wait for the worker itself.
    await waitFor(async () => (await adminWorkers(gw.url)).length === 1, "the late worker to join");
    await new Promise((r) => setTimeout(r, 300));
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.equal(sample(text, "broker_worker_jobs_total", { model: "nobody", outcome: "ok" }), 0);
  });

  test("jobs queued for a model that never had a worker count as waiting on every gateway (scale from zero)", async () => {
    const { cfg, gw } = await stack({
      gateway: { models: [{ id: "cold", queueWithoutWorkers: true }] },
      workers: [{ name: "first", slots: 1, models: [{ id: "cold", engine: "sim", options: { outputTokens: 2 } }] }],
    });
    const other = await harness.gateway(cfg);
    const pending = [0, 1, 2].map(() => postJson(`${gw.url}/v1/chat/completions`, { model: "cold", messages }));
    const waiting = async (url: string) => sample(await (await fetch(`${url}/metrics`)).text(), "broker_queue_waiting_jobs", { model: "cold", lane: "normal" });
    await waitFor(async () => (await waiting(gw.url)) === 3, "three waiting jobs on the submitting gateway");
    assert.equal(await waiting(other.url), 3, "another gateway reads the same queue");
    const cold = (await adminQueues(other.url)).find((q) => q.model === "cold" && q.lane === "normal");
    assert.ok(cold, "the cold model's normal lane is listed");
    assert.equal(cold.waiting, 3);
    assert.equal(cold.running, 0);
    assert.ok(cold.oldest_waiting_ms >= 0);
    // The first worker takes them all; the queue empties.
    harness.worker(cfg, "first");
    for (const res of await Promise.all(pending)) assert.equal(res.status, 200);
    await waitFor(async () => (await waiting(other.url)) === 0, "the queue to empty");
  });
});
