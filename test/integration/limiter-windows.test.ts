import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseSlots, slotOf, windowSum } from "../../access/limits/slots.js";
import { type Permit } from "../../access/mod.js";
import { BrokerError } from "../../contract/mod.js";
import { clock, freshBucket, fullestMinute, gateway, perSlot, refused, scope, tryAdmit, waitFor, windowOf } from "../helpers/limits.js";
import { startNats, type TestNats } from "../helpers/nats.js";

describe("limiter, rpm and tpm: sliding windows shared by gateways through NATS KV", () => {
  let nats: TestNats;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.close();
  });

  test("two gateways share rpm 30: never more than 30 granted under saturating concurrent admits", async (t) => {
    const c = clock(1_700_000_000_500);
    const bucket = freshBucket();
    const a = await gateway(t, nats, bucket, "gw-a", c);
    const b = await gateway(t, nats, bucket, "gw-b", c);
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
    const gws = [(await gateway(t, nats, bucket, "gw-a", c)).limiter, (await gateway(t, nats, bucket, "gw-b", c)).limiter];
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
    assert.ok(fullestMinute(grants) <= N);
    t.diagnostic(`trickle: ${grants.length - before} grants in 120 s at rpm ${N}`);
    assert.ok(grants.length - before >= N, "capacity keeps coming back");
  });

  test("the window bound holds under random timing, leases claimed ahead and given back included", async (t) => {
    // rpm 50 is saturated within seconds; rpm 1000 after about 40 s, so leases grow, are claimed ahead and shrink.
    for (const N of [50, 1000]) {
      const S = 1_700_000_150 + N;
      const c = clock(S * 1000);
      const bucket = freshBucket();
      const first = await gateway(t, nats, bucket, "gw-a", c);
      const kv = first.kv;
      const gws = [first.limiter, (await gateway(t, nats, bucket, "gw-b", c)).limiter];
      const sc = scope("k2r", { rpm: N });
      const grants: number[] = [];
      let seed = 42; // a fixed-seed generator, so a failure can be replayed
      const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      while (c.now() < (S + 150) * 1000) {
        c.advance(rnd() < 0.03 ? 1000 + Math.floor(rnd() * 2000) : Math.floor(rnd() * 120)); // now and then a quiet second or two
        const burst = rnd() < 0.1 ? 20 : 1;
        const rs = await Promise.all(Array.from({ length: burst }, () => tryAdmit(gws[rnd() < 0.5 ? 0 : 1]!, [sc], 1)));
        for (const r of rs) if (!refused(r)) grants.push(c.now());
      }
      const worst = fullestMinute(grants);
      t.diagnostic(`rpm ${N}: ${grants.length} grants in 150 s; the fullest 60 s span held ${worst}`);
      assert.ok(worst <= N, `${worst} grants in one 60 s span`);
      assert.ok(grants.length >= 2 * N, "capacity comes back");
      await Promise.all(gws.map((l) => l.stop()));
      assert.deepEqual(await windowOf(kv, "k2r.rpm"), perSlot(grants, slotOf(c.now())), "every grant was counted in the second it was used");
    }
  });

  test("a lease claimed ahead for a second that passes unused is given back, never used later", async (t) => {
    const S = 1_700_000_170;
    const c = clock(S * 1000);
    const a = await gateway(t, nats, freshBucket(), "gw-a", c);
    const sc = scope("k2a", { rpm: 1000 });
    const grants: number[] = [];
    const admit = async () => {
      if (!refused(await tryAdmit(a.limiter, [sc], 1))) grants.push(c.now());
    };
    for (let i = 0; i < 40; i++) {
      c.advance(20); // 50 a second: leases grow past the need
      await admit();
    }
    c.set(S * 1000 + 900);
    await admit(); // in the last 200 ms: claims slot S + 1's lease ahead
    await waitFor(a.kv, "k2a.rpm", (v) => parseSlots(v).has(S + 1));
    c.set((S + 3) * 1000 + 100); // slot S + 1 passes without a request
    await admit();
    await a.limiter.stop();
    assert.deepEqual(await windowOf(a.kv, "k2a.rpm"), perSlot(grants, S + 3));
  });

  test("tpm: the estimate is charged, then reconciled with real usage in the slot it was charged in", async (t) => {
    const c = clock(1_700_000_300_500);
    const s0 = slotOf(c.now());
    const bucket = freshBucket();
    const sc = scope("k4", { tpm: 1000 });
    const a = await gateway(t, nats, bucket, "gw-a", c);
    const p = await a.limiter.admit([sc], 100);
    assert.equal(p.view.limitTokens, 1000);
    assert.equal(p.view.remainingTokens, 900);
    assert.equal(p.view.limitRequests, undefined);
    p.end({ promptTokens: 4, completionTokens: 6 });
    await a.limiter.stop();
    assert.deepEqual([...(await windowOf(a.kv, "k4.tpm"))], [[s0, 10]], "estimate 100, actual 10: 90 credited back");

    const b = await gateway(t, nats, bucket, "gw-b", c);
    (await b.limiter.admit([sc], 100)).end({ promptTokens: 400, completionTokens: 100 });
    const late = await b.limiter.admit([sc], 200);
    c.advance(5000);
    late.end({ promptTokens: 30, completionTokens: 20 });
    await b.limiter.stop();
    assert.deepEqual([...(await windowOf(b.kv, "k4.tpm"))], [[s0, 10 + 500 + 50]], "actual 500 debits 400; a late credit goes to the slot charged");

    // A debit may pass the limit (the tokens were spent); the window then refuses until it clears.
    const d = await gateway(t, nats, bucket, "gw-d", c);
    (await d.limiter.admit([sc], 100)).end({ promptTokens: 900, completionTokens: 100 });
    const r = await tryAdmit(d.limiter, [sc], 0); // an estimate of nothing still needs 1 token of room
    assert.ok(refused(r));
    assert.equal(r.type, "tokens");
    assert.match(r.message, /on tokens per min \(TPM\): Limit 1000, Used \d+, Requested 1\./);
    const big = await tryAdmit(d.limiter, [sc], 5000);
    assert.ok(refused(big) && /^Request too large for key k4/.test(big.message));
  });
});
