// The multi-model scenario: one worker serving several sim models, non-stream
// requests spread round-robin over them, against the same worker serving one
// model. The pull loop runs per model (a consumer per model and lane), and a
// worker that re-pumped every model after every pull once spun a whole core
// (fixed in b6473a2), so its cost with many models is measured here rather than
// assumed: throughput, latency and CPU per request per process under load, and
// each worker's CPU while idle before any load.
import { cpuPctOver } from "./cpu.js";
import { runAlternating, type MeteredSystem, type SystemResult } from "./measure.js";
import { waitUntil, type BenchNats } from "./procs.js";
import { chatBody, type ScenarioResult, type Timing } from "./scenarios.js";
import { round } from "./stats.js";
import { startBroker, type Broker, type SimOptions } from "./systems.js";

export const MULTIMODEL = "multimodel-c32";

export interface MultiModelOptions {
  nats: BenchNats;
  /** How many models the multi-model worker serves (≥ 2); the other serves one. */
  models: number;
  slots: number;
  sim: SimOptions;
  timing: Timing;
  /** How long the idle CPU is read, after start-up and before any load. */
  idleMs: number;
}

const CONNECTIONS = 32;
const MAX_TOKENS = 16;
// Start-up work (module loading, JIT, consumer creation) is not idle cost: let it end first.
const SETTLE_MS = 1000;

/** Each broker's idle CPU, % of one core, by role. */
type Idle = Record<string, number>;

const modelIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `sim-${i}`);

function workerPid(b: Broker): number {
  const w = b.workers[0];
  if (!w) throw new Error(`${MULTIMODEL}: a broker started no worker`);
  return w.pid;
}

function system(name: string, broker: Broker, models: string[], o: MultiModelOptions): MeteredSystem {
  return {
    name,
    // One body per model: the load generator takes them in turn, so request i asks for model i mod N.
    spec: {
      target: { kind: "http", url: `${broker.url}/v1/chat/completions`, bodies: models.map((m) => chatBody(false, MAX_TOKENS, m)), stream: false },
      connections: CONNECTIONS, warmupMs: o.timing.warmupMs, durationMs: o.timing.durationMs, timeoutMs: 30_000,
    },
    pids: { gateway: broker.gateway.pid, worker: workerPid(broker), "nats-server": o.nats.proc.pid },
    stream: false,
  };
}

/** `many`'s figure over `one`'s: below 1 for rates means the extra models cost throughput. */
function ratios(n: number, one: SystemResult | undefined, many: SystemResult | undefined): Record<string, number> {
  const r = (a: number | undefined, b: number | undefined): number => (a !== undefined && b !== undefined && b > 0 ? round(a / b) : Number.NaN);
  const key = `${n} models/1 model`;
  const out: Record<string, number> = {
    [`${key} rps`]: r(many?.rps, one?.rps),
    [`${key} p50_ms`]: r(many?.p50_ms, one?.p50_ms),
    [`${key} p99_ms`]: r(many?.p99_ms, one?.p99_ms),
  };
  for (const role of ["gateway", "worker", "nats-server"]) {
    out[`${key} ${role} cpu_us_per_req`] = r(many?.cpu_us_per_req[role], one?.cpu_us_per_req[role]);
  }
  return out;
}

/** Both brokers idle over the same window; nats-server serves both, so its figure is theirs together. */
async function idleCpu(one: Broker, many: Broker, nats: BenchNats, ms: number): Promise<{ one: Idle; many: Idle; nats: number }> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const pids = { oneWorker: workerPid(one), oneGateway: one.gateway.pid, manyWorker: workerPid(many), manyGateway: many.gateway.pid, nats: nats.proc.pid };
  const v = await cpuPctOver(pids, ms);
  const get = (k: keyof typeof pids): number => round(v[k] ?? Number.NaN);
  return { one: { worker: get("oneWorker"), gateway: get("oneGateway") }, many: { worker: get("manyWorker"), gateway: get("manyGateway") }, nats: get("nats") };
}

/**
 * Jobs the broker's worker completed per model, from /admin/workers (its
 * heartbeats, so up to heartbeatMs late): waits until every model has some, or
 * the load never spread over them and the scenario measured one model.
 */
async function spreadOver(b: Broker, models: string[]): Promise<Record<string, number>> {
  let counts: Record<string, number> = {};
  await waitUntil(`jobs completed on every one of ${models.join(", ")}`, async () => {
    const res = await fetch(`${b.url}/admin/workers`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { data?: { models?: { model: string; completed: number }[] }[] };
    counts = Object.fromEntries(body.data?.flatMap((w) => w.models ?? []).map((m) => [m.model, m.completed]) ?? []);
    return models.every((m) => (counts[m] ?? 0) > 0);
  }, 10_000, b.gateway);
  return counts;
}

const pct = (idle: Idle): string => Object.entries(idle).map(([role, v]) => `${role} ${round(v)}`).join(", ");

/** Starts a 1-model and an N-model broker on one nats-server, reads their idle CPU, then alternates the same load over both. */
export async function runMultiModel(o: MultiModelOptions, log: (s: string) => void): Promise<ScenarioResult> {
  if (!Number.isInteger(o.models) || o.models < 2) throw new Error(`${MULTIMODEL}: --models must be an integer ≥ 2, not ${o.models}`);
  const many = modelIds(o.models);
  const one = modelIds(1);
  const names = { one: "broker-1-model", many: `broker-${o.models}-models` };
  // Own prefixes: neither broker shares a stream, consumer or subject with the other or with the main bench broker.
  const brokers: Broker[] = [];
  try {
    const b1 = await startBroker({ natsUrl: o.nats.url, prefix: "benchone", slots: o.slots, workers: 1, sim: o.sim, models: one });
    brokers.push(b1);
    const bn = await startBroker({ natsUrl: o.nats.url, prefix: "benchmany", slots: o.slots, workers: 1, sim: o.sim, models: many });
    brokers.push(bn);
    const idle = await idleCpu(b1, bn, o.nats, o.idleMs);
    const idleText = `1 model ${pct(idle.one)}; ${o.models} models ${pct(idle.many)}; nats-server (both idle) ${idle.nats}`;
    log(`  ${MULTIMODEL}: idle over ${o.idleMs / 1000} s, % of one core: ${idleText}`);
    const results = await runAlternating(MULTIMODEL, [system(names.one, b1, one, o), system(names.many, bn, many, o)], o.timing.rounds, log);
    const perModel = await spreadOver(bn, many);
    const counts = Object.values(perModel);
    return {
      name: MULTIMODEL,
      description: `non-stream chat, ${MAX_TOKENS} tokens, ${CONNECTIONS} connections, one worker × ${o.slots} slots serving ${o.models} sim models (requests round-robin over them) against one serving 1 model`,
      results: {
        [names.one]: { ...results[names.one], idle_cpu_pct: idle.one },
        [names.many]: { ...results[names.many], idle_cpu_pct: idle.many, completed_by_model: perModel },
      },
      ratios: ratios(o.models, results[names.one], results[names.many]),
      notes: [
        `idle CPU, % of one core over ${o.idleMs / 1000} s before any load (from /proc/<pid>/stat, 10 ms ticks): ${idleText}`,
        "both brokers run on the bench's nats-server throughout; the one not being measured is idle",
        `jobs per model on the ${o.models}-model worker, warm-ups included: ${Math.min(...counts)}–${Math.max(...counts)}`,
      ],
    };
  } finally {
    await Promise.all(brokers.map((b) => b.stop()));
  }
}
