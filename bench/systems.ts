// Starts the systems under test as separate processes, each on 127.0.0.1:
// the broker (gateway + sim workers), the direct server and the floor worker.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, removeTempDir, spawnProc, stopProc, tempDir, waitUntil, type Proc } from "./procs.js";

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
export const BROKER_CLI = here("../scripts/broker.js");
export const LOADGEN = here("./loadgen.js");

export interface SimOptions {
  ttftMs: number;
  itlMs: number;
  outputTokens: number;
}

export interface BrokerSpec {
  natsUrl: string;
  /** Subject prefix, so the throughput broker and the burst broker never share a queue. */
  prefix: string;
  slots: number;
  workers: number;
  sim: SimOptions;
  /** Model ids each worker serves, all on the sim engine with `sim` (default: just "sim"). */
  models?: string[];
  /** More sim models each worker serves, each on its own options (e.g. a paced one beside "sim"). */
  extraModels?: { id: string; sim: SimOptions }[];
  /** Extra `node` flags for the gateway only (e.g. --cpu-prof). */
  gatewayNodeArgs?: string[];
}

/** Another config for an extra gateway, on the same NATS prefix (so it shares the broker's workers). */
export interface GatewayVariant {
  name: string;
  configFile: string;
  /** Bearer key for /v1/models while waiting for it, when the variant has auth on. */
  key?: string;
}

export interface Broker {
  url: string;
  gateway: Proc;
  workers: Proc[];
  configFile: string;
  /**
   * Starts one more gateway beside the measured one: on the same config (a
   * profiled run), or on `other.configFile` (a variant of it, e.g. with auth
   * on; then `other.key` is the client key its /v1/models needs).
   */
  extraGateway(nodeArgs: string[], other?: GatewayVariant): Promise<{ url: string; proc: Proc }>;
  stop(): Promise<void>;
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

/**
 * Waits until the gateway is ready and lists every one of `models` (a worker's
 * heartbeat reached it). With auth on, /v1/models needs a client `key`.
 */
async function gatewayReady(url: string, proc: Proc, models: string[], key?: string): Promise<void> {
  await waitUntil(`${proc.name} ready`, () => httpOk(`${url}/readyz`), 20_000, proc);
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  await waitUntil(`${proc.name} to see a worker for ${models.join(", ")}`, async () => {
    const res = await fetch(`${url}/v1/models`, { headers, signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { data?: { id: string }[] };
    const listed = new Set(body.data?.map((m) => m.id));
    return models.every((m) => listed.has(m));
  }, 20_000, proc);
}

async function startGatewayProc(name: string, configFile: string, natsUrl: string, nodeArgs: string[], models: string[], key?: string): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = spawnProc(name, process.execPath, [...nodeArgs, BROKER_CLI, "gateway", "--config", configFile], {
    NATS_URL: natsUrl, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn",
  });
  const url = `http://127.0.0.1:${port}`;
  await gatewayReady(url, proc, models, key);
  return { url, proc };
}

/** The broker as users run it: `broker worker` processes and one `broker gateway`, from one config file. */
export async function startBroker(spec: BrokerSpec): Promise<Broker> {
  const dir = tempDir("bench-broker-");
  const configFile = join(dir, "config.json");
  const names = Array.from({ length: spec.workers }, (_, i) => `${spec.prefix}-w${i}`);
  const extra = spec.extraModels ?? [];
  const models = [...(spec.models ?? ["sim"]), ...extra.map((m) => m.id)];
  writeFileSync(configFile, JSON.stringify({
    nats: { url: spec.natsUrl, prefix: spec.prefix },
    gateway: { host: "127.0.0.1", port: 0 },
    queue: { maxPerModel: 10_000 },
    // Background streams' events are stored on disk: the least retention allowed keeps a bench run's disk bounded.
    background: { eventRetentionMs: 60_000 },
    workers: names.map((name) => ({
      name,
      slots: spec.slots,
      models: [
        ...(spec.models ?? ["sim"]).map((id) => ({ id, engine: "sim", options: spec.sim })),
        ...extra.map((m) => ({ id: m.id, engine: "sim", options: m.sim })),
      ],
    })),
  }, null, 2));
  const workers = names.map((name) => spawnProc(`worker ${name}`, process.execPath, [BROKER_CLI, "worker", "--config", configFile, "--name", name], {
    NATS_URL: spec.natsUrl, LOG_LEVEL: "warn",
  }));
  const gw = await startGatewayProc(`gateway ${spec.prefix}`, configFile, spec.natsUrl, spec.gatewayNodeArgs ?? [], models);
  return {
    url: gw.url,
    gateway: gw.proc,
    workers,
    configFile,
    extraGateway: (nodeArgs, other) => other
      ? startGatewayProc(`gateway ${spec.prefix} (${other.name})`, other.configFile, spec.natsUrl, nodeArgs, models, other.key)
      : startGatewayProc(`gateway ${spec.prefix} (extra)`, configFile, spec.natsUrl, nodeArgs, models),
    stop: async () => {
      // Gateway first, then workers: the order `broker up` uses.
      await stopProc(gw.proc);
      await Promise.all(workers.map((w) => stopProc(w)));
      removeTempDir(dir);
    },
  };
}

/** The direct server: the same OpenAI work in one process, no NATS. */
export async function startDirect(sim: SimOptions): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = spawnProc("direct", process.execPath, [here("./direct-server.js")], { PORT: String(port), SIM_OPTIONS: JSON.stringify(sim) });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil("direct server", () => httpOk(`${url}/healthz`), 15_000, proc);
  return { url, proc };
}

/** The floor's worker process; resolves once it consumes. */
export async function startFloorWorker(natsUrl: string, slots: number): Promise<Proc> {
  const proc = spawnProc("floor worker", process.execPath, [here("./floor-worker.js"), natsUrl, String(slots)]);
  await waitUntil("floor worker", async () => proc.output().includes("ready"), 15_000, proc);
  return proc;
}
