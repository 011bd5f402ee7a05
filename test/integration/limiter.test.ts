import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test, type TestContext } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { HOLD_TTL_MS } from "../../access/limits/concurrency.js";
import { parseSlots, slotOf, windowSum } from "../../access/limits/slots.js";
import { Limiter, type LimitScope, type Permit } from "../../access/mod.js";
import { KeyLimits } from "../../config/mod.js";
import { BrokerError } from "../../contract/mod.js";
import { bucketName, type KV, openBucket } from "../../nats/mod.js";
import { createLogger } from "../../ops/mod.js";
import { startNats, type TestNats } from "../helpers/nats.js";

const log = createLogger("limiter-test", "silent");
let buckets = 0;

interface Clock {
  now: () => number;
  advance(ms: number): void;
  set(ms: number): void;
}

/** An injected clock: time moves only when the test says. */
function clock(start: number): Clock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

function scope(id: string, limits: Record<string, unknown>): LimitScope {
  return { id, limits: KeyLimits.parse(limits), label: `key ${id}` };
}

/** admit() throws or returns; either way, this settles to the permit or the error. */
async function tryAdmit(l: Limiter, scopes: LimitScope[], est: number): Promise<Permit | BrokerError> {
  try {
    return await l.admit(scopes, est);
  } catch (e) {
    if (e instanceof BrokerError) return e;
    throw e;
  }
}

function refused(r: Permit | BrokerError): r is BrokerError {
  return r instanceof BrokerError;
}

async function lastSeq(kv: KV): Promise<number> {
  return (await kv.status()).streamInfo.state.last_seq;
}

async function windowOf(kv: KV, key: string): Promise<Map<number, number>> {
  const e = await kv.get(key);
  return parseSlots(e && e.operation === "PUT" ? e.string() : null);
}

/** Resolves once `key`'s value satisfies `pred` (watched, not polled); fails after a generous bound. */
async function waitFor(kv: KV, key: string, pred: (v: string) => boolean): Promise<void> {
  const w = await kv.watch({ key });
  const timer = setTimeout(() => w.stop(), 10_000);
  try {
    for await (const e of w) if (e.operation === "PUT" && pred(e.string())) return;
    assert.fail(`${key} never matched`);
  } finally {
    clearTimeout(timer);
    w.stop();
  }
}

/** Resolves once the process is stopped: a signal is delivered asynchronously, and a server still running would answer. */
async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    // /proc/<pid>/stat: "pid (comm) S ...", state T when stopped.
    if (/\) T /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail("nats-server did not stop");
}

describe("limiter: per-key limits across gateways, state in NATS KV", () => {
  let nats: TestNats;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.close();
  });

  /** A gateway: its own connection, the shared bucket, a Limiter; closed after the test. */
  async function gateway(t: TestContext, bucket: string, id: string, c: Clock): Promise<{ limiter: Limiter; kv: KV; nc: NatsConnection }> {
    const nc = await connect({ servers: nats.url, noAsyncTraces: true });
    const kv = await openBucket(nc, bucket, { replicas: 1, ttlMs: 40 * 86_400_000 });
    const limiter = new Limiter(kv, { gatewayId: id, log, now: c.now });
    t.after(async () => {
      await limiter.stop();
      await nc.close();
    });
    return { limiter, kv, nc };
  }

  const freshBucket = () => bucketName(`lim${process.pid}x${++buckets}`, "limits");

  test("two gateways share rpm 30: never more than 30 granted under saturating concurrent admits", async (t) => {
    const c = clock(1_700_000_000_500);
    const bucket = freshBucket();
    const a = await gateway(t, bucket, "gw-a", c);
    const b = await gateway(t, bucket, "gw-b", c);
    const sc = scope("k1", { rpm: 30 });
    const results = await Promise.all(Array.from({ length: 200 }, () => tryAdmit(Math.random() < 0.5 ? a.limiter : b.limiter, [sc], 1)));
    const granted = results.filter((r) => !refused(r)).length;
    t.diagnostic(`granted ${granted} of 200`);
    assert.ok(granted <= 30, `granted ${granted}`);
    // The documented undershoot: each gateway's unused lease, at most a quarter of the limit.
    assert.ok(granted >= 30 - 2 * Math.floor(30 / 4), `granted ${granted}`);
    for (const r of results.filter(refused)) {
      assert.equal(r.code, "rate_limit_exceeded");
      assert.equal(r.status, 429);
      assert.equal(r.type, "requests");
      assert.ok(r.retryAfterS >= 1);
      assert.match(r.message, /^Rate limit reached for key k1 on requests per min \(RPM\): Limit 30, Used \d+, Requested 1\. Please try again in \d+s\.$/);
    }
    await a.limiter.stop();
    await b.limiter.stop();
    assert.equal(windowSum(await windowOf(a.kv, "k1.rpm"), slotOf(c.now())), granted, "after stop() the window counts exactly what was granted");
  });

  test("a sliding window: never more than N in any 60 s span, room returns as slots leave the 61-slot window", async (t) => {
    const S = 1_700_000_100;
    const c = clock(S * 1000);
    const bucket = freshBucket();
    const gws = [(await gateway(t, bucket, "gw-a", c)).limiter, (await gateway(t, bucket, "gw-b", c)).limiter];
    const N = 10;
    const sc = scope("k2", { rpm: N });
    const grants: number[] = [];
    let turn = 0;
    const admit = async (): Promise<Permit | BrokerError> => {
      const r = await tryAdmit(gws[turn++ % 2]!, [sc], 1);
      if (!refused(r)) grants.push(c.now());
      return r;
    };
    for (let i = 0; i < 4; i++) assert.ok(!refused(await admit()));
    c.set((S + 30) * 1000);
    for (let i = 0; i < 6; i++) assert.ok(!refused(await admit()));
    const full = await admit();
    assert.ok(refused(full) && full.retryAfterS === 31, "slot S leaves the window at S + 61");
    c.set((S + 59) * 1000 + 500);
    const at59 = await admit();
    assert.ok(refused(at59) && at59.retryAfterS === 2);
    c.set((S + 60) * 1000 + 500);
    const at60 = await admit();
    assert.ok(refused(at60) && at60.retryAfterS === 1, "at 60.5 s slot S is still counted (61 slots)");
    c.set((S + 61) * 1000);
    for (let i = 0; i < 4; i++) assert.ok(!refused(await admit()), "slot S's 4 are back");
    const next = await admit();
    assert.ok(refused(next) && next.retryAfterS === 30);

    // Then a steady trickle for two more minutes, 4 attempts a second.
    const before = grants.length;
    for (let ms = 0; ms < 120_000; ms += 250) {
      c.set((S + 61) * 1000 + 250 + ms);
      await admit();
    }
    for (const g of grants) {
      const inSpan = grants.filter((x) => x >= g && x < g + 60_000).length;
      assert.ok(inSpan <= N, `${inSpan} grants in the 60 s from ${(g - S * 1000) / 1000} s`);
    }
    t.diagnostic(`trickle: ${grants.length - before} grants in 120 s at rpm ${N}`);
    assert.ok(grants.length - before >= N, "capacity keeps coming back");
  });

  test("maxConcurrent 3 across two gateways; a gateway gone without stop() frees its slots after the hold TTL", async (t) => {
    const c = clock(1_700_000_200_000);
    const bucket = freshBucket();
    const a = await gateway(t, bucket, "gw-a", c);
    const b = await gateway(t, bucket, "gw-b", c);
    const sc = scope("k3", { maxConcurrent: 3 });
    const p1 = await a.limiter.admit([sc], 0);
    await b.limiter.admit([sc], 0);
    await a.limiter.admit([sc], 0);
    for (const l of [a.limiter, b.limiter]) {
      const r = await tryAdmit(l, [sc], 0);
      assert.ok(refused(r));
      assert.equal(r.code, "rate_limit_exceeded");
      assert.match(r.message, /^Rate limit reached for key k3 on concurrent requests: Limit 3, Used 3, Requested 1\./);
      assert.equal(r.retryAfterS, 1);
    }
    p1.end();
    await waitFor(a.kv, "k3.conc", (v) => (JSON.parse(v) as Record<string, [number, number]>)["gw-a"]?.[0] === 1);
    c.advance(200); // b's refusal stands 100 ms
    assert.ok(!refused(await tryAdmit(b.limiter, [sc], 0)), "the slot a freed is taken on b");
    assert.ok(refused(await tryAdmit(b.limiter, [sc], 0)));

    // a dies holding one slot: its connection goes, nothing is given back.
    await a.nc.close();
    c.advance(HOLD_TTL_MS - 1000);
    assert.ok(refused(await tryAdmit(b.limiter, [sc], 0)), "a's hold still counts before it lapses");
    c.advance(1001);
    assert.ok(!refused(await tryAdmit(b.limiter, [sc], 0)), "a's hold lapsed");
    assert.ok(refused(await tryAdmit(b.limiter, [sc], 0)));
  });

  test("tpm: the estimate is charged, then reconciled with real usage in the slot it was charged in", async (t) => {
    const c = clock(1_700_000_300_500);
    const s0 = slotOf(c.now());
    const bucket = freshBucket();
    const sc = scope("k4", { tpm: 1000 });
    const a = await gateway(t, bucket, "gw-a", c);
    const p = await a.limiter.admit([sc], 100);
    assert.equal(p.view.limitTokens, 1000);
    assert.equal(p.view.remainingTokens, 900);
    assert.equal(p.view.limitRequests, undefined);
    p.end({ promptTokens: 4, completionTokens: 6 });
    await a.limiter.stop();
    assert.deepEqual([...(await windowOf(a.kv, "k4.tpm"))], [[s0, 10]], "estimate 100, actual 10: 90 credited back");

    const b = await gateway(t, bucket, "gw-b", c);
    (await b.limiter.admit([sc], 100)).end({ promptTokens: 400, completionTokens: 100 });
    const late = await b.limiter.admit([sc], 200);
    c.advance(5000);
    late.end({ promptTokens: 30, completionTokens: 20 });
    await b.limiter.stop();
    assert.deepEqual([...(await windowOf(b.kv, "k4.tpm"))], [[s0, 10 + 500 + 50]], "actual 500 debits 400; a late credit goes to the slot charged");

    // A debit may pass the limit (the tokens were spent); the window then refuses until it clears.
    const d = await gateway(t, bucket, "gw-d", c);
    (await d.limiter.admit([sc], 100)).end({ promptTokens: 900, completionTokens: 100 });
    const r = await tryAdmit(d.limiter, [sc], 1);
    assert.ok(refused(r));
    assert.equal(r.type, "tokens");
    assert.match(r.message, /on tokens per min \(TPM\): Limit 1000, Used \d+, Requested 1\./);
    const big = await tryAdmit(d.limiter, [sc], 5000);
    assert.ok(refused(big) && /^Request too large for key k4/.test(big.message));
  });

  test("budget: spent gives insufficient_quota until the next period; stop() gives back the unused lease", async (t) => {
    const c = clock(Date.parse("2025-03-12T12:00:00Z"));
    const bucket = freshBucket();
    const sc = scope("k5", { budgetTokens: 1000, budgetPeriod: "day" });
    const a = await gateway(t, bucket, "gw-a", c);
    for (let i = 0; i < 5; i++) (await a.limiter.admit([sc], 50)).end({ promptTokens: 25, completionTokens: 25 });
    await a.limiter.stop();
    const stored = await a.kv.get("k5.budget.2025-03-12");
    assert.deepEqual(stored?.json(), { used: 250 }, "the lease beyond what was spent went back");

    const b = await gateway(t, bucket, "gw-b", c);
    (await b.limiter.admit([sc], 750)).end();
    const r = await tryAdmit(b.limiter, [sc], 1);
    assert.ok(refused(r));
    assert.equal(r.code, "insufficient_quota");
    assert.equal(r.retryAfterS, 12 * 3600);
    assert.match(r.message, /token budget for key k5: Limit 1000 tokens per day, Used 1000, Requested 1\. It renews at 2025-03-13T00:00:00\.000Z\./);
    c.set(Date.parse("2025-03-13T00:00:01Z"));
    assert.ok(!refused(await tryAdmit(b.limiter, [sc], 1)), "a new day, a new budget");
  });

  test("scopes with no limits cost nothing: a Permit at once, and the bucket stays empty", async (t) => {
    const c = clock(1_700_000_400_000);
    const a = await gateway(t, freshBucket(), "gw-a", c);
    const r = a.limiter.admit([scope("k6", {}), scope("k6.m.llama", { budgetPeriod: "week" })], 1000);
    assert.ok(!(r instanceof Promise));
    assert.deepEqual(r.view, {});
    r.end({ promptTokens: 1, completionTokens: 1 });
    assert.ok(!(a.limiter.admit([], 0) instanceof Promise));
    await a.limiter.stop();
    assert.equal(await lastSeq(a.kv), 0);
  });

  test("generous limits: 2,000 admits cost a handful of KV writes, almost all admitted without waiting", async (t) => {
    const c = clock(1_700_000_500_000);
    const a = await gateway(t, freshBucket(), "gw-a", c);
    const sc = scope("k7", { rpm: 1e9, tpm: 1e12, maxConcurrent: 1000, budgetTokens: 1e12 });
    const model = scope("k7.m.llama", { rpm: 1e9 });
    let sync = 0;
    for (let i = 0; i < 2000; i++) {
      c.advance(1); // 1,000 requests a second
      const r = a.limiter.admit([sc, model], 20);
      if (r instanceof Promise) (await r).end({ promptTokens: 10, completionTokens: 5 });
      else {
        sync++;
        r.end({ promptTokens: 10, completionTokens: 5 });
      }
    }
    await a.limiter.stop();
    const writes = await lastSeq(a.kv);
    t.diagnostic(`2000 admits over 2 s (5 limits on 2 scopes): ${writes} KV writes, ${sync} admitted synchronously`);
    assert.ok(writes <= 40, `${writes} KV writes`);
    assert.ok(sync >= 1900, `${sync} synchronous`);
  });

  test("NATS not answering: nats_unavailable within the bound, then at once", async (t) => {
    const c = clock(1_700_000_600_000);
    const a = await gateway(t, freshBucket(), "gw-a", c);
    const sc = scope("k8", { rpm: 100 });
    const pid = nats.pid;
    assert.ok(pid);
    process.kill(pid, "SIGSTOP");
    try {
      await stopped(pid);
      const t0 = performance.now();
      const r = await tryAdmit(a.limiter, [sc], 1);
      const waited = performance.now() - t0;
      assert.ok(refused(r));
      assert.equal(r.code, "nats_unavailable");
      assert.equal(r.status, 503);
      assert.equal(r.retryAfterS, 1);
      assert.ok(waited < 5000, `waited ${waited} ms`);
      const t1 = performance.now();
      const again = await tryAdmit(a.limiter, [sc], 1);
      assert.ok(refused(again) && again.code === "nats_unavailable");
      assert.ok(performance.now() - t1 < 500, "fails fast right after a failure");
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });
});
