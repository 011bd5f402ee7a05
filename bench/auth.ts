// The cost of client keys: nonstream-c32 through a gateway with auth on (one
// static key whose every limit is generous, so per-key limits and usage
// accounting run on every request but never refuse one) against a gateway on
// the same config with auth off. Both gateways share one set of sim workers and
// one nats-server; runs alternate within each round. The issue's target is
// auth-on ≥ 0.85 × auth-off throughput.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAlternating, type MeteredSystem, type SystemResult } from "./measure.js";
import { removeTempDir, stopProc, tempDir, type BenchNats, type Proc } from "./procs.js";
import { chatBody, type ScenarioResult, type Timing } from "./scenarios.js";
import { round } from "./stats.js";
import { startBroker, type Broker, type SimOptions } from "./systems.js";

export const AUTH = "auth-c32";

export interface AuthOptions {
  nats: BenchNats;
  slots: number;
  sim: SimOptions;
  timing: Timing;
}

const CONNECTIONS = 32;
const MAX_TOKENS = 16;
const SYSTEMS = { off: "auth-off", on: "auth-on" } as const;

// Far above anything 32 connections reach in a bench run, so a refusal can only
// be a bug. Key-level only: per-model limits are a further feature, not the
// "generous limit" the target speaks of.
const GENEROUS = { rpm: 1e9, tpm: 1e12, maxConcurrent: 100_000, budgetTokens: 1e15, budgetPeriod: "month" } as const;

/** Writes into `dir` the broker's config with auth on and a keys file holding one generous key. */
function authConfig(broker: Broker, dir: string): { configFile: string; key: string } {
  const key = `sk-brk-bench-${randomBytes(24).toString("base64url")}`;
  const keysFile = join(dir, "keys.json");
  writeFileSync(keysFile, JSON.stringify({ keys: [{ name: "bench", key, models: ["*"], ...GENEROUS }] }, null, 2));
  // startBroker wrote this file as JSON: a copy differs only in gateway.auth.
  const cfg = JSON.parse(readFileSync(broker.configFile, "utf8")) as { gateway?: Record<string, unknown> };
  const configFile = join(dir, "config.json");
  writeFileSync(configFile, JSON.stringify({ ...cfg, gateway: { ...cfg.gateway, auth: { enabled: true, keysFile } } }, null, 2));
  return { configFile, key };
}

const ask = (url: string, headers: Record<string, string>): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody(false, MAX_TOKENS), headers: { "content-type": "application/json", ...headers }, signal: AbortSignal.timeout(10_000) });

/** Auth must really be on (no key: 401) and the key must work (200), or the runs compare nothing. */
async function checkAuth(url: string, key: string): Promise<void> {
  const anon = await ask(url, {});
  await anon.arrayBuffer();
  if (anon.status !== 401) throw new Error(`the auth-on gateway answered ${anon.status} to a request without a key, not 401: auth is not on`);
  const keyed = await ask(url, { authorization: `Bearer ${key}` });
  const body = await keyed.text();
  if (!keyed.ok) throw new Error(`the auth-on gateway refused the bench key: ${keyed.status} ${body.slice(0, 500)}`);
}

function system(name: string, url: string, gateway: Proc, broker: Broker, o: AuthOptions, key?: string): MeteredSystem {
  const worker = broker.workers[0];
  if (!worker) throw new Error(`${AUTH}: the broker started no worker`);
  return {
    name,
    spec: {
      target: { kind: "http", url: `${url}/v1/chat/completions`, bodies: [chatBody(false, MAX_TOKENS)], stream: false, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) },
      connections: CONNECTIONS, warmupMs: o.timing.warmupMs, durationMs: o.timing.durationMs, timeoutMs: 30_000,
    },
    // The same role names on both sides, so CPU per request compares process by process.
    pids: { gateway: gateway.pid, worker: worker.pid, "nats-server": o.nats.proc.pid },
    stream: false,
  };
}

/** auth-on over auth-off: throughput (the target), latency and the gateway's CPU per request. */
function ratios(off: SystemResult | undefined, on: SystemResult | undefined): Record<string, number> {
  const r = (a: number | undefined, b: number | undefined): number => (a !== undefined && b !== undefined && b > 0 ? round(a / b) : Number.NaN);
  const key = `${SYSTEMS.on}/${SYSTEMS.off}`;
  const gwOn = on?.cpu_us_per_req.gateway;
  const gwOff = off?.cpu_us_per_req.gateway;
  return {
    [key]: r(on?.rps, off?.rps),
    [`${key} p50_ms`]: r(on?.p50_ms, off?.p50_ms),
    [`${key} p99_ms`]: r(on?.p99_ms, off?.p99_ms),
    [`${key} gateway cpu_us_per_req`]: r(gwOn, gwOff),
    [`${SYSTEMS.on}-${SYSTEMS.off} gateway cpu_us_per_req`]: round((gwOn ?? Number.NaN) - (gwOff ?? Number.NaN)),
  };
}

/**
 * Starts a broker (its gateway has auth off) and a second gateway with auth on,
 * alternates the same load over both, and throws if any answer in either was
 * not a complete 2xx: a refused request would make the ratio a measure of the
 * limits' refusals rather than of their cost.
 */
export async function runAuth(o: AuthOptions, log: (s: string) => void): Promise<ScenarioResult> {
  // Its own prefix: no stream, consumer, keys or usage bucket shared with another scenario's broker.
  const broker = await startBroker({ natsUrl: o.nats.url, prefix: "benchauth", slots: o.slots, workers: 1, sim: o.sim });
  const dir = tempDir("bench-auth-");
  let authGw: { url: string; proc: Proc } | undefined;
  try {
    const { configFile, key } = authConfig(broker, dir);
    authGw = await broker.extraGateway([], { name: "auth on", configFile, key });
    await checkAuth(authGw.url, key);
    const results = await runAlternating(AUTH, [
      system(SYSTEMS.off, broker.url, broker.gateway, broker, o),
      system(SYSTEMS.on, authGw.url, authGw.proc, broker, o, key),
    ], o.timing.rounds, log);
    const bad = Object.entries(results).filter(([, x]) => x.non2xx + x.failed > 0);
    if (bad.length) {
      const what = bad.map(([name, x]) => `${name}: ${x.non2xx} non-2xx, ${x.failed} failed over ${x.rounds} rounds`).join("; ");
      // The load generator keeps counts, not bodies: one more keyed request shows what a refusal looks like (if it still happens).
      const probe = await ask(authGw.url, { authorization: `Bearer ${key}` });
      const text = await probe.text();
      const now = `a keyed request now: ${probe.ok ? `${probe.status} (no longer refused)` : `${probe.status} ${text.slice(0, 300)}`}`;
      throw new Error(`requests were refused or failed (${what}); the key's limits are meant never to refuse one, so the ratio would be meaningless; ${now}`);
    }
    return {
      name: AUTH,
      description: `non-stream chat, ${MAX_TOKENS} tokens, ${CONNECTIONS} connections, one worker × ${o.slots} slots: a gateway with auth on (one static key, every limit generous: ${JSON.stringify(GENEROUS)}) against one with auth off on the same workers`,
      results,
      ratios: ratios(results[SYSTEMS.off], results[SYSTEMS.on]),
      notes: [
        "both gateways run throughout on the same workers and nats-server; the one not being measured is idle",
        "auth off still records usage (as the anonymous key): the difference is key lookup, per-key limits and per-key accounting",
      ],
    };
  } finally {
    if (authGw) await stopProc(authGw.proc);
    await broker.stop();
    removeTempDir(dir);
  }
}
