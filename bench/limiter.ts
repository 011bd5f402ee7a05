// The limiter under load, on a real nats-server and the real clock: how many
// admissions wait on KV, how many KV writes a second the leases cost, what one
// covered admit() costs, and that a small shared limit stays exact.
// Run: npm run build && node dist/bench/limiter.js [seconds] [req/s per gateway]
import { connect } from "@nats-io/transport-node";
import { Limiter, type LimitScope, type Permit } from "../access/mod.js";
import { KeyLimits } from "../config/mod.js";
import { BrokerError } from "../contract/mod.js";
import { openBucket, type KV } from "../nats/mod.js";
import { createLogger } from "../ops/mod.js";
import { startNats } from "../test/helpers/nats.js";

const seconds = Number(process.argv[2] ?? 5);
const rate = Number(process.argv[3] ?? 1500);
const HOLD_MS = 20;
const log = createLogger("bench-limiter", "warn");

const nats = await startNats();
let n = 0;
async function gateways(count: number): Promise<{ limiters: Limiter[]; kv: KV; close(): Promise<void> }> {
  const bucket = `bench${++n}-limits`;
  const ncs = await Promise.all(Array.from({ length: count }, () => connect({ servers: nats.url, noAsyncTraces: true })));
  const kvs = await Promise.all(ncs.map((nc) => openBucket(nc, bucket, { replicas: 1 })));
  const limiters = kvs.map((kv, i) => new Limiter(kv, { gatewayId: `gw-${i}`, log }));
  return {
    limiters,
    kv: kvs[0]!,
    close: async () => {
      await Promise.all(limiters.map((l) => l.stop()));
      await Promise.all(ncs.map((nc) => nc.close()));
    },
  };
}
const lastSeq = async (kv: KV) => (await kv.status()).streamInfo.state.last_seq;
const scope = (id: string, limits: Record<string, unknown>): LimitScope => ({ id, limits: KeyLimits.parse(limits), label: `key ${id}` });

/**
 * Paced load from every gateway: `rate` admits a second each, every permit
 * held HOLD_MS. The first `warmMs` are not counted: a cold start ramps leases
 * up from nothing (and a cold JIT and server answer slowly).
 */
async function load(limiters: Limiter[], scopes: LimitScope[], est: number, warmMs: number, secs = seconds) {
  const held: { p: Permit; until: number }[] = [];
  const waits: number[] = [];
  let sync = 0;
  let granted = 0;
  let refused = 0;
  const codes = new Map<string, number>();
  const t0 = performance.now();
  let sent = 0;
  let counted = 0;
  while (performance.now() - t0 < warmMs + secs * 1000) {
    await new Promise((r) => setTimeout(r, 5));
    const now = performance.now();
    while (held.length > 0 && held[0]!.until <= now) held.shift()!.p.end({ promptTokens: est / 2, completionTokens: est / 2 });
    const due = Math.floor(((now - t0) / 1000) * rate);
    for (; sent < due; sent++) {
      if (now - t0 < warmMs) {
        for (const l of limiters) {
          const r = l.admit(scopes, est);
          if (r instanceof Promise) r.then((p) => p.end(), () => {});
          else r.end();
        }
        continue;
      }
      counted++;
      for (const l of limiters) {
        const start = performance.now();
        try {
          const r = l.admit(scopes, est);
          if (r instanceof Promise) {
            r.then(
              (p) => {
                waits.push(performance.now() - start);
                granted++;
                held.push({ p, until: performance.now() + HOLD_MS });
              },
              (e: unknown) => {
                refused++;
                const c = e instanceof BrokerError ? e.code : "other";
                codes.set(c, (codes.get(c) ?? 0) + 1);
              },
            );
          } else {
            sync++;
            granted++;
            held.push({ p: r, until: now + HOLD_MS });
          }
        } catch (e) {
          refused++;
          const c = e instanceof BrokerError ? e.code : "other";
          codes.set(c, (codes.get(c) ?? 0) + 1);
        }
      }
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  for (const h of held) h.p.end();
  waits.sort((a, b) => a - b);
  return { attempts: counted * limiters.length, granted, refused, sync, waited: waits.length, p99WaitMs: waits[Math.floor(waits.length * 0.99)] ?? 0, codes: Object.fromEntries(codes) };
}

// 1. Generous limits on a key and a model scope, two gateways.
{
  const g = await gateways(2);
  const scopes = [scope("key1", { rpm: 1e9, tpm: 1e12, maxConcurrent: 100_000, budgetTokens: 1e13 }), scope("key1.m.llama", { rpm: 1e9 })];
  await load(g.limiters, scopes, 100, 1000, 0);
  const before = await lastSeq(g.kv);
  const r = await load(g.limiters, scopes, 100, 0);
  const writes = (await lastSeq(g.kv)) - before;
  console.log(`generous, warm: ${JSON.stringify(r)}`);
  console.log(`  KV writes ${writes} in ${seconds} s: ${(writes / seconds).toFixed(1)}/s for 2 gateways × 5 limits (${(writes / seconds / 10).toFixed(2)} per limit per gateway per second); ${((100 * r.sync) / r.granted).toFixed(2)}% admitted without waiting`);
  // One covered admit()'s cost: a tight loop on a lease that covers it.
  const l = g.limiters[0]!;
  const hot = [scope("key2", { rpm: 1e9, tpm: 1e12 })];
  for (let i = 0; i < 1000; i++) {
    const p = l.admit(hot, 10);
    (p instanceof Promise ? await p : p).end();
  }
  let covered = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) {
    const p = l.admit(hot, 0);
    if (p instanceof Promise) (await p).end();
    else {
      covered++;
      p.end();
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / 100_000;
  console.log(`  admit()+end() with rpm+tpm: ${ns.toFixed(0)} ns each (${covered} of 100000 covered locally)`);
  await g.close();
}

// 2. A small shared limit under saturating load: exact, and what it costs.
{
  const g = await gateways(2);
  const scopes = [scope("key3", { rpm: 600 })];
  const before = await lastSeq(g.kv);
  const r = await load(g.limiters, scopes, 10, 0);
  const writes = (await lastSeq(g.kv)) - before;
  console.log(`rpm 600 shared by 2 gateways, saturated for ${seconds} s: ${JSON.stringify(r)}`);
  console.log(`  granted ${r.granted} (limit 600 per 60 s window); KV writes ${writes}`);
  await g.close();
}
await nats.close();
