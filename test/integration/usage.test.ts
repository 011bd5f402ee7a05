import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { USAGE_TTL_MS, UsageLedger, type UsageEvent, type UsageRow } from "../../access/usage.js";
import { bucketName, isCasConflict, openBucket, type KV } from "../../nats/kv.js";
import { connectNats } from "../../nats/connect.js";
import { createLogger } from "../../ops/log.js";
import { freshPrefix, waitFor } from "../helpers/broker.js";
import { startNats, type TestNats } from "../helpers/nats.js";

const log = createLogger("usage", process.env.TEST_LOG_LEVEL ?? "silent");
const MAR1 = Date.parse("2026-03-01T12:00:00Z");

const ev = (keyName: string, model: string, promptTokens: number, completionTokens: number, errorCode?: string): UsageEvent =>
  ({ keyId: `id-${keyName}`, keyName, model, promptTokens, completionTokens, ...(errorCode ? { errorCode } : {}) });

const row = (day: string, keyName: string, model: string, requests: number, promptTokens: number, completionTokens: number, errors: Record<string, number> = {}): UsageRow =>
  ({ day, keyId: `id-${keyName}`, keyName, model, requests, promptTokens, completionTokens, errors });

// The ledgers, NATS KV and the durability promises; one nats-server, a fresh bucket per test.
describe("usage ledger", () => {
  let nats: TestNats;
  const conns: NatsConnection[] = [];
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    for (const nc of conns) await nc.close();
    await nats.close();
  });

  /** A "gateway": its own connection to the bucket of `prefix`. */
  const gateway = async (prefix: string): Promise<KV> => {
    const nc = await connectNats({ url: nats.url, prefix: "infer" }, "usage-test", log);
    conns.push(nc);
    return openBucket(nc, bucketName(prefix, "usage"), { replicas: 1, ttlMs: USAGE_TTL_MS });
  };
  const ledger = (kv: KV, now = () => MAR1, flushMs = 60_000) => new UsageLedger(kv, { flushMs, log, now });

  test("two gateways record into one bucket; both answer the same sums", async () => {
    const prefix = freshPrefix();
    const a = ledger(await gateway(prefix));
    const b = ledger(await gateway(prefix));
    a.record(ev("alice", "org/m:q4", 10, 5));
    a.record(ev("alice", "org/m:q4", 20, 0, "timeout"));
    b.record(ev("alice", "org/m:q4", 1, 1));
    b.record(ev("bob", "org/m:q4", 7, 3));
    await Promise.all([a.flush(), b.flush()]);
    const want = [row("2026-03-01", "alice", "org/m:q4", 3, 31, 6, { timeout: 1 }), row("2026-03-01", "bob", "org/m:q4", 1, 7, 3)];
    assert.deepEqual(await a.query({}), want);
    assert.deepEqual(await b.query({}), want);
    await Promise.all([a.stop(), b.stop()]);
  });

  test("a stopped ledger's counts and a restarted one's add up; the timer flushes by itself", async () => {
    const prefix = freshPrefix();
    const first = ledger(await gateway(prefix));
    first.record(ev("alice", "m", 3, 4));
    await first.stop();
    const second = ledger(await gateway(prefix), () => MAR1, 50);
    second.record(ev("alice", "m", 5, 6));
    await waitFor(async () => (await second.query({}))[0]?.requests === 2, "the periodic flush");
    await second.stop();
    assert.deepEqual(await ledger(await gateway(prefix)).query({}), [row("2026-03-01", "alice", "m", 2, 8, 10)]);
  });

  test("queries filter by days, key name or id, and model", async () => {
    const prefix = freshPrefix();
    let now = Date.parse("2026-01-10T00:00:00Z");
    const l = ledger(await gateway(prefix), () => now);
    const at = (iso: string, ...events: UsageEvent[]) => {
      now = Date.parse(iso);
      for (const e of events) l.record(e);
    };
    at("2026-01-10T23:59:59.999Z", ev("alice", "a/x", 1, 1));
    at("2026-03-01T00:00:00Z", ev("alice", "a/x", 2, 2), ev("bob", "b.y", 3, 3));
    at("2026-03-02T10:00:00Z", ev("bob", "a/x", 4, 4, "upstream_error"));
    await l.flush();
    const jan10 = row("2026-01-10", "alice", "a/x", 1, 1, 1);
    const mar1a = row("2026-03-01", "alice", "a/x", 1, 2, 2);
    const mar1b = row("2026-03-01", "bob", "b.y", 1, 3, 3);
    const mar2 = row("2026-03-02", "bob", "a/x", 1, 4, 4, { upstream_error: 1 });
    assert.deepEqual(await l.query({}), [jan10, mar1a, mar1b, mar2]);
    assert.deepEqual(await l.query({ from: "2026-03-01", to: "2026-03-01" }), [mar1a, mar1b]);
    // Only `from`: up to today (the ledger's clock: 2026-03-02).
    assert.deepEqual(await l.query({ from: "2026-03-02" }), [mar2]);
    // Wider than the day-by-day listing: the whole bucket's names, filtered.
    assert.deepEqual(await l.query({ from: "2025-06-01", to: "2026-03-01" }), [jan10, mar1a, mar1b]);
    assert.deepEqual(await l.query({ to: "2026-01-10" }), [jan10]);
    assert.deepEqual(await l.query({ key: "bob" }), [mar1b, mar2]);
    assert.deepEqual(await l.query({ key: "id-alice", from: "2026-03-01" }), [mar1a]);
    assert.deepEqual(await l.query({ model: "a/x" }), [jan10, mar1a, mar2]);
    assert.deepEqual(await l.query({ model: "b.y", key: "bob" }), [mar1b]);
    assert.deepEqual(await l.query({ model: "nope" }), []);
    assert.deepEqual(await l.query({ from: "2026-03-02", to: "2026-03-01" }), []);
    await l.stop();
  });

  test("two gateways flushing the same entry at once, many times: CAS conflicts retried, totals exact", async () => {
    const prefix = freshPrefix();
    const kvA = await gateway(prefix);
    const kvB = await gateway(prefix);
    let conflicts = 0;
    for (const kv of [kvA, kvB]) {
      const update = kv.update.bind(kv);
      kv.update = async (k, data, version, timeout) => {
        try {
          return await update(k, data, version, timeout);
        } catch (e) {
          if (isCasConflict(e)) conflicts++;
          throw e;
        }
      };
    }
    const a = ledger(kvA);
    const b = ledger(kvB);
    // One conflict for certain: B reads, then A writes before B's update.
    a.record(ev("alice", "m", 1, 1));
    b.record(ev("alice", "m", 1, 1));
    await a.flush();
    const get = kvB.get.bind(kvB);
    let once = true;
    kvB.get = async (k, opts) => {
      const e = await get(k, opts);
      if (once) {
        once = false;
        a.record(ev("alice", "m", 1, 1));
        await a.flush();
      }
      return e;
    };
    await b.flush();
    assert.ok(conflicts >= 1, "B's first update conflicted");
    const rounds = 40;
    for (let i = 0; i < rounds; i++) {
      a.record(ev("alice", "m", 1, 2));
      b.record(ev("alice", "m", 1, 2));
      await Promise.all([a.flush(), b.flush()]);
    }
    const n = 3 + 2 * rounds;
    assert.deepEqual(await a.query({}), [row("2026-03-01", "alice", "m", n, n, 3 + 4 * rounds)]);
    console.log(`# CAS conflicts retried: ${conflicts}`);
    await Promise.all([a.stop(), b.stop()]);
  });

  test("a write stored whose answer was lost is not counted twice by the retry", async () => {
    const kv = await gateway(freshPrefix());
    const update = kv.update.bind(kv);
    const create = kv.create.bind(kv);
    // The server stores the write, then the reply never arrives.
    kv.create = async (k, data) => {
      await create(k, data);
      throw new Error("TIMEOUT (the reply was lost)");
    };
    const l = ledger(kv);
    l.record(ev("alice", "m", 10, 1));
    await assert.rejects(l.flush(), /reply was lost/);
    kv.create = create;
    l.record(ev("alice", "m", 20, 2));
    kv.update = async (k, data, version) => {
      await update(k, data, version);
      throw new Error("TIMEOUT (the reply was lost)");
    };
    await assert.rejects(l.flush(), /reply was lost/);
    kv.update = update;
    await l.flush();
    await l.flush();
    assert.deepEqual(await l.query({}), [row("2026-03-01", "alice", "m", 2, 30, 3)]);
    await l.stop();
  });

  test("a flush while nats-server is down keeps the counts; after the restart they are written once", async () => {
    const prefix = freshPrefix();
    const l = ledger(await gateway(prefix));
    l.record(ev("alice", "m", 1, 1));
    await l.flush();
    l.record(ev("alice", "m", 2, 2));
    await nats.stop();
    try {
      l.record(ev("bob", "m", 3, 3));
      await assert.rejects(l.flush());
      l.record(ev("alice", "m", 4, 4));
    } finally {
      await nats.restart();
    }
    await waitFor(async () => l.flush().then(() => true, () => false), "a flush after the restart", 20_000);
    await l.flush();
    assert.deepEqual(await l.query({}), [row("2026-03-01", "alice", "m", 3, 7, 7), row("2026-03-01", "bob", "m", 1, 3, 3)]);
    await l.stop();
  });
});
