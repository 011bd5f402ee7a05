import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Config } from "../../config/config.js";
import { subjects, type ChatRequest, type Delta } from "../../contract/mod.js";
import { DetachedFold, DetachedJobs, EventLog, JobClient, WorkerRegistry } from "../../jobs/mod.js";
import { connectNats, ensureJobStream } from "../../nats/mod.js";
import { createLogger, GatewayMetrics } from "../../ops/mod.js";
import { waitFor } from "../helpers/broker.js";
import { useHarness } from "../helpers/stack.js";

const log = createLogger("test", "silent");
const MODEL = "sim-bg";

/** One gateway's job plane, in this process: what a gateway builds, minus HTTP. */
interface Plane {
  detached: DetachedJobs;
  stop(): Promise<void>;
}

async function plane(cfg: Config): Promise<Plane> {
  const nc = await connectNats(cfg.nats, "test-gateway", log);
  const jsm = await ensureJobStream(nc, cfg, log);
  const registry = new WorkerRegistry(nc, subjects(cfg.nats.prefix), log);
  await registry.start();
  const jobs = new JobClient(nc, jsm, cfg, registry, log, new GatewayMetrics());
  jobs.start();
  const detached = new DetachedJobs(nc, await EventLog.open(nc, jsm, cfg, log), jobs, registry, cfg, log);
  detached.start();
  let stopped = false;
  return {
    detached,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      detached.stop();
      jobs.stop();
      registry.stop();
      await nc.close();
    },
  };
}

const chat = (text: string): { chat: ChatRequest } => ({
  chat: { messages: [{ role: "user", content: text }], n: 1, stop: [], stream: true, includeUsage: false, user: "", toolsJson: "", toolChoiceJson: "", responseFormatJson: "", extraJson: "" },
});

const textOf = (items: Delta[][]): string => items.flat().map((d) => d.content ?? "").join("");

/** Every answer event of the log, folded from its start to its current end. */
async function replay(p: Plane, key: string): Promise<{ fold: DetachedFold; deltas: Delta[][] }> {
  const fold = new DetachedFold();
  const deltas: Delta[][] = [];
  for await (const ev of p.detached.events(key, fold, { live: false })) if (ev.kind === "deltas") deltas.push(ev.items);
  return { fold, deltas };
}

const settled = (p: Plane, key: string, what: string): Promise<DetachedFold> => waitFor(async () => {
  const f = await p.detached.fold(key);
  return f?.over ? f : undefined;
}, what, 30_000);

// Jobs owned by their NATS event log rather than by a gateway process: two in-process
// gateway planes (A queues, B is another replica) and real worker processes.
describe("detached jobs (background responses' core)", () => {
  const h = useHarness();

  test("runs to its end with nobody following; every reader folds the same answer", async () => {
    const cfg = h.config({ workers: [{ name: "sim", slots: 2, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 30, itlMs: 2 } }] }] });
    const a = await plane(cfg);
    h.defer(() => a.stop());
    h.worker(cfg, "sim");
    await a.detached.submit("k1", MODEL, chat("hello"));
    const f = await settled(a, "k1", "the job completed");
    assert.equal(f.status, "completed");
    assert.equal(f.final?.usage?.completionTokens, 30);
    const one = await replay(a, "k1");
    const two = await replay(a, "k1");
    assert.ok(textOf(one.deltas).length > 0);
    assert.deepEqual(two.deltas, one.deltas, "two readings of the log give the same events");
    assert.equal(await a.detached.fold("nope"), undefined, "an unknown key has no log");
  });

  test("the gateway that queued it is gone: another replica answers the claim and the job completes", async () => {
    const cfg = h.config({ workers: [{ name: "sim", slots: 1, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 8 } }] }] });
    const a = await plane(cfg);
    const b = await plane(cfg);
    h.defer(() => b.stop());
    await a.detached.submit("k2", MODEL, chat("orphan"));
    await a.stop();
    // Started only now: the claim can reach B alone.
    h.worker(cfg, "sim");
    const f = await settled(b, "k2", "the orphaned job completed");
    assert.equal(f.status, "completed");
  });

  test("cancel from another replica ends it as cancelled, stops the worker and frees its slot; cancel again changes nothing", async () => {
    const cfg = h.config({ workers: [{ name: "sim", slots: 1, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 2000, itlMs: 20 } }] }] });
    const a = await plane(cfg);
    const b = await plane(cfg);
    h.defer(() => a.stop());
    h.defer(() => b.stop());
    h.worker(cfg, "sim");
    await a.detached.submit("k3", MODEL, chat("long"));
    await waitFor(async () => (await b.detached.fold("k3"))?.output, "output logged");
    const f = await b.detached.cancel("k3");
    assert.equal(f?.status, "cancelled");
    const again = await a.detached.cancel("k3");
    assert.equal(again?.status, "cancelled");
    assert.equal(again?.error?.code, "cancelled");
    // The only slot is free again: a second job on the same one-slot worker completes well before the first could have.
    await a.detached.submit("k3b", MODEL, chat("next"));
    await waitFor(async () => (await a.detached.fold("k3b"))?.output, "the next job runs on the freed slot", 15_000);
    await a.detached.cancel("k3b");
    assert.equal(await b.detached.cancel("unknown-key"), undefined);
  });

  test("a live reader from another replica follows the job to its final", async () => {
    const cfg = h.config({ workers: [{ name: "sim", slots: 1, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 40, itlMs: 10 } }] }] });
    const a = await plane(cfg);
    const b = await plane(cfg);
    h.defer(() => a.stop());
    h.defer(() => b.stop());
    h.worker(cfg, "sim");
    await a.detached.submit("k4", MODEL, chat("follow"));
    const fold = new DetachedFold();
    const kinds: string[] = [];
    for await (const ev of b.detached.events("k4", fold, { live: true })) kinds.push(ev.kind);
    assert.equal(fold.status, "completed");
    assert.equal(kinds[kinds.length - 1], "final");
    assert.deepEqual((await replay(a, "k4")).fold.final, fold.final);
  });

  test("kill -9 of the worker after output: the job ends worker_lost (a replica's registry notices)", async () => {
    const cfg = h.config({ workers: [{ name: "sim", slots: 1, models: [{ id: MODEL, engine: "sim", options: { outputTokens: 2000, itlMs: 20 } }] }] });
    const a = await plane(cfg);
    h.defer(() => a.stop());
    const w = h.worker(cfg, "sim");
    await a.detached.submit("k5", MODEL, chat("doomed"));
    await waitFor(async () => (await a.detached.fold("k5"))?.output, "output logged");
    w.child.kill("SIGKILL");
    await w.exited;
    const f = await settled(a, "k5", "the job ended after its worker died");
    assert.equal(f.status, "failed");
    assert.equal(f.error?.code, "worker_lost");
  });
});
