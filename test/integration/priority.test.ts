import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Config } from "../../config/config.js";
import { subjects } from "../../contract/subjects.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { postJson } from "../helpers/http.js";
import { scrape } from "../helpers/metrics.js";
import { useHarness } from "../helpers/stack.js";

// One slot, held by a long job while the lanes fill; then the order of service shows the policy.
describe("priority lanes", () => {
  const harness = useHarness();

  async function serviceOrder(fairEvery: number, jobs: string[]): Promise<string[]> {
    const cfg: Config = harness.config({
      workers: [{ name: "one", slots: 1, fairEvery, models: [{ id: "prio", engine: "sim", options: { itlMs: 100, outputTokens: 100_000 } }] }],
    });
    const gw: GatewayHandle = await harness.gateway(cfg);
    harness.worker(cfg, "one");
    await waitForModel(gw.url, "prio");
    const chat = `${gw.url}/v1/chat/completions`;
    // The blocker holds the only slot until every job is queued, however slow this machine is; then it is cancelled.
    const stopBlocker = new AbortController();
    const blocker = postJson(chat, { model: "prio", stream: true, messages: [{ role: "user", content: "block" }] }, {}, stopBlocker.signal)
      .then(async (r) => {
        assert.equal(r.status, 200);
        await r.text();
      })
      .catch((e: unknown) => assert.equal((e as Error).name, "AbortError"));
    await waitFor(async () => (await scrape(`${gw.url}/metrics`, "broker_queue_wait_seconds_count", { model: "prio" })) === 1, "the blocker to hold the slot");
    const order: string[] = [];
    const pending = jobs.map((lane, i) => postJson(chat, { model: "prio", max_tokens: 1, messages: [{ role: "user", content: `${lane}${i}` }] }, { "x-priority": lane })
      .then(async (r) => {
        assert.equal(r.status, 200);
        order.push(lane);
      }));
    const nc = await connect({ servers: harness.nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await waitFor(async () => (await jsm.streams.info(subjects(cfg.nats.prefix).stream)).state.messages === jobs.length + 1, "every job to be queued");
    } finally {
      await nc.close();
    }
    stopBlocker.abort();
    await blocker;
    await Promise.all(pending);
    return order;
  }

  test("the highest non-empty lane goes first", async () => {
    const order = await serviceOrder(10, ["low", "low", "normal", "normal", "high", "high"]);
    assert.deepEqual(order, ["high", "high", "normal", "normal", "low", "low"]);
  });

  test("a low lane passed over fairEvery times goes first once, so it is never starved", async () => {
    const order = await serviceOrder(2, ["low", "low", "high", "high", "high", "high", "high", "high"]);
    assert.deepEqual(order, ["high", "high", "low", "high", "high", "low", "high", "high"]);
  });

  test("an unknown priority is a 400 naming the header", async () => {
    const cfg = harness.config({});
    const gw = await harness.gateway(cfg);
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: "x", messages: [{ role: "user", content: "x" }] }, { "x-priority": "urgent" });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { param: string } }).error.param, "x-priority");
  });
});
