// Shared by the limiter's integration tests: an injected clock, gateways on
// one bucket, and readers of what the limiter stored.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { TestContext } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { parseSlots, slotOf } from "../../access/limits/slots.js";
import { Limiter, type LimitScope, type Permit } from "../../access/mod.js";
import { KeyLimits } from "../../config/mod.js";
import { BrokerError } from "../../contract/mod.js";
import { bucketName, type KV, openBucket } from "../../nats/mod.js";
import { createLogger } from "../../ops/mod.js";
import type { TestNats } from "./nats.js";

const log = createLogger("limiter-test", "silent");
let buckets = 0;

export const freshBucket = (): string => bucketName(`lim${process.pid}x${++buckets}`, "limits");

export interface Clock {
  now: () => number;
  advance(ms: number): void;
  set(ms: number): void;
}

/** An injected clock: time moves only when the test says. */
export function clock(start: number): Clock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

export function scope(id: string, limits: Record<string, unknown>): LimitScope {
  return { id, limits: KeyLimits.parse(limits), label: `key ${id}` };
}

/** admit() throws or returns; either way, this settles to the permit or the error. */
export async function tryAdmit(l: Limiter, scopes: LimitScope[], est: number): Promise<Permit | BrokerError> {
  try {
    return await l.admit(scopes, est);
  } catch (e) {
    if (e instanceof BrokerError) return e;
    throw e;
  }
}

export function refused(r: Permit | BrokerError): r is BrokerError {
  return r instanceof BrokerError;
}

export async function lastSeq(kv: KV): Promise<number> {
  return (await kv.status()).streamInfo.state.last_seq;
}

export async function windowOf(kv: KV, key: string): Promise<Map<number, number>> {
  const e = await kv.get(key);
  return parseSlots(e && e.operation === "PUT" ? e.string() : null);
}

/** Resolves once `key`'s value satisfies `pred` (watched, not polled); fails after a generous bound. */
export async function waitFor(kv: KV, key: string, pred: (v: string) => boolean): Promise<void> {
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

/** The most grants in any 60 s span [g, g + 60 s), over sorted grant times. */
export function fullestMinute(grants: number[]): number {
  let worst = 0;
  for (let i = 0, j = 0; i < grants.length; i++) {
    while (j < grants.length && grants[j]! < grants[i]! + 60_000) j++;
    worst = Math.max(worst, j - i);
  }
  return worst;
}

/** Grants per slot, as the window at `slot` stores them. */
export function perSlot(grants: number[], slot: number): Map<number, number> {
  const m = new Map<number, number>();
  for (const g of grants) if (slotOf(g) >= slot - 60) m.set(slotOf(g), (m.get(slotOf(g)) ?? 0) + 1);
  return m;
}

/** Resolves once the process is stopped: a signal is delivered asynchronously, and a server still running would answer. */
export async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    // /proc/<pid>/stat: "pid (comm) S ...", state T when stopped.
    if (/\) T /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail("nats-server did not stop");
}

export interface TestGateway {
  limiter: Limiter;
  kv: KV;
  nc: NatsConnection;
}

/** A gateway: its own connection, the shared bucket, a Limiter on the injected clock; closed after the test. */
export async function gateway(t: TestContext, nats: TestNats, bucket: string, id: string, c: Clock): Promise<TestGateway> {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const kv = await openBucket(nc, bucket, { replicas: 1, ttlMs: 40 * 86_400_000 });
  const limiter = new Limiter(kv, { gatewayId: id, log, now: c.now });
  t.after(async () => {
    await limiter.stop();
    await nc.close();
  });
  return { limiter, kv, nc };
}
