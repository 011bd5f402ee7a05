import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitFor, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { postJson, postSse } from "../helpers/http.js";
import { adminWorkers, scrape } from "../helpers/metrics.js";
import { freePort } from "../helpers/nats.js";
import { useHarness } from "../helpers/stack.js";
import { startStallProxy } from "../helpers/stall-proxy.js";

const messages = [{ role: "user", content: "hello there" }];

interface Completion {
  choices: { message: { content: string }; finish_reason: string }[];
  error?: { code: string };
}

/**
 * A worker that is alive but silent (SIGSTOP stands in for a long GC pause, a
 * starved VM or a partition that heals): once gateways write it off, each of
 * its jobs ends or restarts within a bound, and when it comes back it stops
 * them instead of running them for nobody.
 */
describe("a silent worker that comes back", () => {
  const harness = useHarness();

  /** A worker's own counter of runs by outcome (ok, reassigned, cancelled, error). */
  const runs = (metricsPort: number, model: string, outcome: string) =>
    scrape(`http://127.0.0.1:${metricsPort}/metrics`, "broker_worker_jobs_total", { model, outcome });

  async function pauseUntilWrittenOff(gw: GatewayHandle, w: WorkerProcess, stillLive: number): Promise<void> {
    w.child.kill("SIGSTOP");
    try {
      await waitFor(async () => (await adminWorkers(gw.url)).length === stillLive, "the paused worker to be written off");
    } catch (e) {
      w.child.kill("SIGCONT");
      throw e;
    }
  }

  /** Waits until the gateway has seen the job claimed (a claim records the job's queue wait). */
  const claimed = (gw: GatewayHandle, model: string) =>
    waitFor(async () => (await scrape(`${gw.url}/metrics`, "broker_queue_wait_seconds_count", { model })) === 1, "the job to be claimed");

  test("back before the ack wait: the job it held restarts at once and completes; it gives the run back", async () => {
    const metricsPort = await freePort();
    const cfg: Config = harness.config({
      // The ack wait is far longer than the test's bound: JetStream's redelivery cannot be what saves the job.
      gateway: { requestTimeoutMs: 60_000 },
      queue: { ackWaitMs: 30_000 },
      workers: [{ name: "napper", slots: 1, metricsPort, models: [{ id: "nap", engine: "sim", options: { ttftMs: 1500, outputTokens: 4 } }] }],
    });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "napper");
    await waitForModel(gw.url, "nap");
    const answer = postJson(`${gw.url}/v1/chat/completions`, { model: "nap", messages });
    await claimed(gw, "nap");
    await pauseUntilWrittenOff(gw, w, 0);
    const resumed = Date.now();
    w.child.kill("SIGCONT");
    const res = await answer;
    const body = (await res.json()) as Completion;
    const took = Date.now() - resumed;
    console.log(`# resumed worker: answer ${took} ms after SIGCONT (ttft 1500 ms)`);
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.ok(body.choices[0]?.message.content, "a whole answer");
    assert.ok(took < 15_000, `the job restarted at once, not after the 30 s ack wait (${took} ms)`);
    assert.equal(await runs(metricsPort, "nap", "reassigned"), 1, "the written-off run was given back");
    assert.equal(await runs(metricsPort, "nap", "ok"), 1, "and the job ran once more, to the end");
  });

  test("back after the ack wait: another worker ran the job; the old run stops without a nak that would run it a third time", async () => {
    const portA = await freePort();
    const portB = await freePort();
    const model = (name: string, metricsPort: number) => ({
      name, slots: 1, metricsPort, models: [{ id: "nap2", engine: "sim", options: { ttftMs: 3000, outputTokens: 4 } }],
    });
    const cfg = harness.config({ gateway: { requestTimeoutMs: 60_000 }, queue: { ackWaitMs: 1500 }, workers: [model("a", portA), model("b", portB)] });
    const gw = await harness.gateway(cfg);
    const a = harness.worker(cfg, "a");
    await waitForModel(gw.url, "nap2");
    const answer = postJson(`${gw.url}/v1/chat/completions`, { model: "nap2", messages });
    await claimed(gw, "nap2");
    harness.worker(cfg, "b");
    await waitFor(async () => (await adminWorkers(gw.url)).length === 2, "the second worker to join");
    await pauseUntilWrittenOff(gw, a, 1);
    // JetStream hands the job to b after the ack wait; a comes back while b runs it.
    await waitFor(async () => (await adminWorkers(gw.url))[0]?.in_flight === 1, "the second worker to run the job", 15_000);
    a.child.kill("SIGCONT");
    const res = await answer;
    const body = (await res.json()) as Completion;
    assert.equal(res.status, 200, JSON.stringify(body));
    await waitFor(async () => (await runs(portA, "nap2", "reassigned")) === 1, "the old run to be given back");
    await waitFor(async () => (await adminWorkers(gw.url)).find((w) => w.id.startsWith("a-"))?.in_flight === 0, "the old worker to hold nothing");
    assert.equal(await runs(portA, "nap2", "ok"), 0, "the old run sent nothing more");
    assert.equal(await runs(portB, "nap2", "ok"), 1);
    assert.equal(await runs(portB, "nap2", "reassigned"), 0, "the second run was not disturbed");
    await waitFor(async () => {
      const q = (await (await fetch(`${gw.url}/admin/queues`)).json()) as { data: { model: string; waiting: number; running: number }[] };
      return q.data.filter((x) => x.model === "nap2").every((x) => x.waiting === 0 && x.running === 0);
    }, "the queue to be empty: no third run");
    assert.equal(await runs(portB, "nap2", "ok") + await runs(portA, "nap2", "ok"), 1, "the job ran to the end once");
  });

  test("a stream that had output ends with worker_lost; the worker, back, stops the job instead of finishing it", async () => {
    const metricsPort = await freePort();
    const cfg = harness.config({
      queue: { ackWaitMs: 30_000 },
      workers: [{ name: "talker", slots: 1, metricsPort, models: [{ id: "talk", engine: "sim", options: { itlMs: 100, outputTokens: 600 } }] }],
    });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "talker");
    await waitForModel(gw.url, "talk");
    const streamed = postSse(`${gw.url}/v1/chat/completions`, { model: "talk", messages, stream: true });
    await waitFor(async () => (await scrape(`${gw.url}/metrics`, "broker_time_to_first_token_seconds_count", { model: "talk" })) === 1, "the first token");
    const stopped = Date.now();
    await pauseUntilWrittenOff(gw, w, 0);
    const sse = await streamed;
    console.log(`# stream of a paused worker ended ${Date.now() - stopped} ms after SIGSTOP`);
    const last = sse.events[sse.events.length - 1] as { error?: { code: string } };
    assert.equal(last.error?.code, "worker_lost");
    w.child.kill("SIGCONT");
    // 600 tokens at 100 ms would hold the slot for a minute: it must be free within seconds.
    await waitFor(async () => (await adminWorkers(gw.url))[0]?.in_flight === 0, "the worker to stop the job", 10_000);
    assert.equal(await runs(metricsPort, "talk", "ok"), 0, "the job was not run to its end");
  });

  test("a cut link (no reset, no error: its bytes just stop): the worker stops what it holds within the bound instead of generating for nobody", async () => {
    const metricsPort = await freePort();
    const proxy = await startStallProxy(harness.nats.port);
    harness.defer(() => proxy.close());
    const heartbeatMs = 300;
    const cfg = harness.config({
      // The ack wait is far longer than the test: the job restarts because the worker gives it back.
      gateway: { requestTimeoutMs: 60_000 },
      queue: { ackWaitMs: 30_000 },
      workers: [{ name: "cable", slots: 2, heartbeatMs, metricsPort, models: [{ id: "cable", engine: "sim", options: { itlMs: 100, outputTokens: 100 } }] }],
    });
    const gw = await harness.gateway(cfg);
    harness.worker(cfg, "cable", { NATS_URL: proxy.url });
    await waitForModel(gw.url, "cable");
    const streamed = postSse(`${gw.url}/v1/chat/completions`, { model: "cable", messages, stream: true });
    const whole = postJson(`${gw.url}/v1/chat/completions`, { model: "cable", messages });
    await waitFor(async () => (await scrape(`${gw.url}/metrics`, "broker_queue_wait_seconds_count", { model: "cable" })) === 2, "both jobs to be claimed");
    await waitFor(async () => (await scrape(`${gw.url}/metrics`, "broker_time_to_first_token_seconds_count", { model: "cable" })) === 2, "both to have output");
    proxy.stall();
    const cutAt = Date.now();
    const sse = await streamed;
    const last = sse.events[sse.events.length - 1] as { error?: { code: string } };
    assert.equal(last.error?.code, "worker_lost", "the stream that had output ends with worker_lost");
    // Its metrics port is not behind the cut: the worker says what it did while cut off.
    await waitFor(async () => (await runs(metricsPort, "cable", "reassigned")) === 2, "the cut-off worker to stop both jobs", 10_000);
    const stoppedAfterMs = Date.now() - cutAt;
    console.log(`# cut link: the worker stopped its 2 jobs ${stoppedAfterMs} ms after the cut (bound: ${3 * heartbeatMs} ms of unanswered heartbeats; each job would have run 10 s)`);
    assert.equal(await runs(metricsPort, "cable", "ok"), 0, "no job ran to its end into the cut");
    // The link mends: the job whose client had seen nothing runs again and completes.
    proxy.resume();
    const res = await whole;
    const body = (await res.json()) as Completion;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.ok(body.choices[0]?.message.content, "a whole answer");
    assert.equal(await runs(metricsPort, "cable", "ok"), 1, "the answer ran again, once");
  });
});
