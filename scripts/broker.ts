#!/usr/bin/env node
/**
 * broker up       nats-server (unless NATS_URL is set) + gateway + the config's workers
 * broker gateway  the HTTP facade only
 * broker worker   one worker (--name picks it from the config's workers)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  applyEnv, BrokerError, ConfigError, createLogger, DataDirInUse, defaultConfig, loadConfig, parseConfig, startEmbeddedNats,
  type Config, type EmbeddedNats, type Logger,
} from "../broker/mod.js";
import { engines, startWorker } from "../workers/mod.js";

const USAGE = `usage: broker <up|gateway|worker> [--config FILE] [--name WORKER]
  up       start nats-server (unless NATS_URL is set), the gateway and every configured worker
  gateway  start the HTTP facade (needs NATS_URL or nats.url)
  worker   start one worker (--name, default: the first in the config)
Environment: PORT, GRPC_PORT, HOST, NATS_URL, NATS_PORT, BROKER_PREFIX, BROKER_CONFIG, LOG_LEVEL`;

function readConfig(path: string | undefined): Config {
  if (path) return loadConfig(path);
  return parseConfig(applyEnv(structuredClone(defaultConfig) as unknown as Record<string, unknown>, process.env));
}

function onSignals(fn: () => Promise<void>): void {
  let once = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (once) return;
      once = true;
      fn().then(() => process.exit(0), (e: unknown) => {
        console.error(e);
        process.exit(1);
      });
    });
  }
}

// Loaded only by the commands that run a gateway: a worker process never pays for Fastify and gRPC.
const loadGateway = async () => (await import("../facade/mod.js")).startGateway;

async function runGateway(cfg: Config, log: Logger): Promise<void> {
  const gw = await (await loadGateway())(cfg, log);
  onSignals(() => gw.close());
}

async function runWorker(cfg: Config, name: string | undefined, log: Logger): Promise<void> {
  const wcfg = name ? cfg.workers.find((w) => w.name === name) : cfg.workers[0];
  if (!wcfg) throw new ConfigError(name ? `no worker named '${name}' in the config (have: ${cfg.workers.map((w) => w.name).join(", ") || "none"})` : "the config has no workers");
  const w = await startWorker(cfg, wcfg, engines, log);
  onSignals(() => w.drain());
}

async function runUp(cfg: Config, configPath: string | undefined, log: Logger): Promise<void> {
  let nats: EmbeddedNats | undefined;
  if (!process.env.NATS_URL) {
    nats = await startEmbeddedNats(cfg, log);
    cfg = { ...cfg, nats: { ...cfg.nats, url: nats.url } };
  }
  const self = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = cfg.workers.map((w) =>
    // Own process group: Ctrl-C reaches this process, which drains the children in order.
    spawn(process.execPath, [self, "worker", "--name", w.name, ...(configPath ? ["--config", configPath] : [])], {
      stdio: "inherit",
      detached: true,
      env: { ...process.env, NATS_URL: cfg.nats.url },
    }));
  const startGateway = await loadGateway();
  let gw;
  try {
    gw = await startGateway(cfg, log);
  } catch (e) {
    // The children run in their own process groups: they would outlive us.
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
    await nats?.stop();
    throw e;
  }
  const grpc = cfg.gateway.grpcPort === undefined ? "" : `, gRPC on ${cfg.gateway.host}:${cfg.gateway.grpcPort}`;
  console.error(`\n  broker is up: ${gw.url}/v1${grpc}  (models: ${cfg.gateway.models.flatMap((m) => m.id ?? []).join(", ") || "from workers"})\n`);
  onSignals(async () => {
    const workersDone = children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r))));
    for (const c of children) c.kill("SIGTERM");
    await gw.close();
    await Promise.all(workersDone);
    await nats?.stop();
  });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { config: { type: "string", short: "c" }, name: { type: "string", short: "n" }, help: { type: "boolean", short: "h" } },
  });
  const cmd = positionals[0];
  if (values.help || !cmd || !["up", "gateway", "worker"].includes(cmd)) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const configPath = values.config ?? process.env.BROKER_CONFIG;
  const cfg = readConfig(configPath);
  const log = createLogger(cmd === "worker" ? `worker:${values.name ?? cfg.workers[0]?.name ?? ""}` : cmd);
  if (cmd === "up") await runUp(cfg, configPath, log);
  else if (cmd === "gateway") await runGateway(cfg, log);
  else await runWorker(cfg, values.name, log);
}

main().catch((e: unknown) => {
  // Config and set-up errors are for people: the message, not a stack.
  const inUse = (e as NodeJS.ErrnoException)?.code === "EADDRINUSE" || /EADDRINUSE|address already in use/i.test(String((e as Error)?.message));
  const msg = inUse
    ? `a port is already in use (${(e as Error).message}); pick others with PORT, GRPC_PORT or NATS_PORT`
    : e instanceof ConfigError || e instanceof BrokerError || e instanceof DataDirInUse ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
  console.error(`broker: ${msg}`);
  process.exit(1);
});
