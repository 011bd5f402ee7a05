import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HOLD_TTL_MS } from "../../access/limits/concurrency.js";
import { clock, freshBucket, gateway, lastSeq, refused, scope, stopped, tryAdmit, waitFor } from "../helpers/limits.js";
import { startNats, type TestNats } from "../helpers/nats.js";

describe("limiter: maxConcurrent, budgets, no-limit scopes, cost and failure, across gateways through NATS KV", () => {
  let nats: TestNats;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.close();
  });

  test("maxConcurrent 3 across two gateways; a gateway gone without stop() frees its slots after the hold TTL", async (t) => {
    const c = clock(1_700_000_200_000);
    const bucket = freshBucket();
    const a = await gateway(t, nats, bucket, "gw-a", c);
    const b = await gateway(t, nats, bucket, "gw-b", c);
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

  test("maxConcurrent: a busy gateway holds a spare, an idle one gives it back within seconds", async (t) => {
    const c = clock(1_700_000_250_000);
    const a = await gateway(t, nats, freshBucket(), "gw-a", c);
    const sc = scope("k3s", { maxConcurrent: 100 });
    const permits = await Promise.all(Array.from({ length: 10 }, () => a.limiter.admit([sc], 0)));
    const held = (await a.kv.get("k3s.conc"))?.json<Record<string, [number, number]>>()["gw-a"]?.[0] ?? 0;
    assert.ok(held > 10 && held <= 10 + 90 / 4, `holds ${held} for 10 running`);
    for (const p of permits) p.end();
    // The once-a-second flush sees the peak fall to 0 within two seconds, and drops the hold.
    await waitFor(a.kv, "k3s.conc", (v) => !("gw-a" in (JSON.parse(v) as object)));
  });

  test("budget: spent gives insufficient_quota until the next period; stop() gives back the unused lease", async (t) => {
    const c = clock(Date.parse("2025-03-12T12:00:00Z"));
    const bucket = freshBucket();
    const sc = scope("k5", { budgetTokens: 1000, budgetPeriod: "day" });
    const a = await gateway(t, nats, bucket, "gw-a", c);
    for (let i = 0; i < 5; i++) (await a.limiter.admit([sc], 50)).end({ promptTokens: 25, completionTokens: 25 });
    await a.limiter.stop();
    const stored = await a.kv.get("k5.budget.2025-03-12");
    assert.deepEqual(stored?.json(), { used: 250 }, "the lease beyond what was spent went back");

    const b = await gateway(t, nats, bucket, "gw-b", c);
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
    const a = await gateway(t, nats, freshBucket(), "gw-a", c);
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
    const a = await gateway(t, nats, freshBucket(), "gw-a", c);
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
    const a = await gateway(t, nats, freshBucket(), "gw-a", c);
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
