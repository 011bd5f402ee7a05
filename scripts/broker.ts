#!/usr/bin/env node
/**
 * broker up       nats-server (unless NATS_URL is set) + gateway + the config's workers
 * broker gateway  the HTTP facade only
 * broker worker   one worker (--name picks it from the config's workers)
 * broker usage    usage per day, key and model, from NATS
 * broker nats-config  a nats-server config with least-privilege users
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { applyEnv, openAccessNotice, applyFlags, ConfigError, type ConfigFlags, loadConfig, parseConfig, type Config, defaultConfig } from "../config/mod.js";
import { BrokerError } from "../contract/mod.js";
import { roleUser } from "../nats/mod.js";
import { createLogger, type Logger, DataDirInUse, loginAs, NATS_STOP_MS, startEmbeddedNats, type EmbeddedNats, withEmbeddedCredentials } from "../ops/mod.js";
import { engines, startWorker } from "../workers/mod.js";
import { killChildren, spawnWorkerChild, stopBoundMs, stopChildren } from "./children.js";
import { EXIT_GRACE_MS, onShutdown, watchParent } from "./shutdown.js";

const USAGE = `usage: broker <up|gateway|worker|keys|usage|nats-config> [--config FILE] [--name WORKER] [--no-auth]
  up       start nats-server (unless NATS_URL is set), the gateway and every configured worker
  gateway  start the HTTP facade (needs NATS_URL or nats.url)
  worker   start one worker (--name, default: the first in the config)
  keys     create, list, show, revoke and rotate client API keys (broker keys --help)
  usage    print usage per day, key and model (broker usage --help)
  nats-config  print a nats-server config with gateway and per-worker users (broker nats-config --help)
  --no-auth  the gateway takes calls without keys (beyond loopback only with gateway.allowUnauthenticated)
Environment: PORT, GRPC_PORT, HOST, GATEWAY_ID, NATS_URL, NATS_PORT, NATS_JS_DOMAIN, BROKER_PREFIX, BROKER_CONFIG, LOG_LEVEL;
  NATS credentials: NATS_USER with NATS_PASSWORD or NATS_PASSWORD_FILE (a file holding it), NATS_TOKEN, NATS_NKEY, NATS_CREDS`;

// Every command that logs in to NATS but `up` (which starts its own server and says who is who)
// then passes the config through withEmbeddedCredentials, with the user of its role.
function readConfig(path: string | undefined, flags: ConfigFlags): Config {
  if (path) return loadConfig(path, process.env, flags);
  return parseConfig(applyFlags(applyEnv(structuredClone(defaultConfig), process.env), flags));
}

// Loaded only by the commands that run a gateway: a worker process never pays for Fastify and gRPC.
const loadGateway = async () => (await import("../gateway/mod.js")).startGateway;

async function runGateway(cfg: Config, log: Logger): Promise<void> {
  const parent = watchParent(log);
  const gw = await (await loadGateway())(cfg, log);
  // `broker up` says this in its banner instead: one line either way.
  const notice = openAccessNotice(cfg, gw.url);
  if (notice) log.warn(notice);
  // The gateway's own drain is bounded by its drainTimeoutMs; the grace covers closing NATS.
  parent.handOver(onShutdown(() => gw.close(), { log, boundMs: cfg.gateway.drainTimeoutMs + EXIT_GRACE_MS }));
}

async function runWorker(cfg: Config, name: string | undefined, log: Logger): Promise<void> {
  const wcfg = name ? cfg.workers.find((w) => w.name === name) : cfg.workers[0];
  if (!wcfg) throw new ConfigError(name ? `no worker named '${name}' in the config (have: ${cfg.workers.map((w) => w.name).join(", ") || "none"})` : "the config has no workers");
  const parent = watchParent(log);
  const w = await startWorker(withEmbeddedCredentials(cfg, roleUser.worker(wcfg.name)), wcfg, engines, log);
  parent.handOver(onShutdown(() => w.drain(), { log, boundMs: wcfg.drainTimeoutMs + EXIT_GRACE_MS }));
}

async function runUp(cfg: Config, configPath: string | undefined, log: Logger): Promise<void> {
  let nats: EmbeddedNats | undefined;
  if (!process.env.NATS_URL) {
    nats = await startEmbeddedNats(cfg, log);
    // Its own users, whatever the config names: those credentials are for another server.
    cfg = { ...cfg, nats: { ...loginAs(cfg.nats, roleUser.gateway, nats.passwordFile(roleUser.gateway)), url: nats.url } };
  }
  // The gateway first: it creates the jobs stream, which a worker's NATS user may only look up
  // (nats/roles.ts), so a worker that won the race on a fresh data dir would stop at once.
  const startGateway = await loadGateway();
  const gw = await startGateway(cfg, log).catch(async (e: unknown) => {
    await nats?.stop();
    throw e;
  });
  const self = fileURLToPath(import.meta.url);
  const children = cfg.workers.map((w) => {
    const user = roleUser.worker(w.name);
    return spawnWorkerChild(self, w, configPath, cfg.nats.url, nats && { user, passwordFile: nats.passwordFile(user) });
  });
  for (const c of children) log.info({ worker: c.name, pid: c.proc.pid }, "worker started");
  const grpc = cfg.gateway.grpcPort === undefined ? "" : `, gRPC on ${cfg.gateway.host}:${cfg.gateway.grpcPort}`;
  const access = openAccessNotice(cfg, gw.url) ?? "auth is on: clients send a key from `broker keys create` as Authorization: Bearer <key>";
  console.error(`\n  broker is up: ${gw.url}/v1${grpc}  (models: ${cfg.gateway.models.flatMap((m) => m.id ?? []).join(", ") || "from workers"})\n  ${access}\n`);
  onShutdown(async () => {
    // Workers and the gateway drain side by side; nats-server, which both need, stops last.
    const workersStopped = stopChildren(children, log);
    await gw.close();
    const clean = await workersStopped;
    await nats?.stop();
    return clean ? 0 : 1;
  }, {
    log,
    boundMs: Math.max(cfg.gateway.drainTimeoutMs, stopBoundMs(children)) + NATS_STOP_MS + EXIT_GRACE_MS,
    force: () => {
      killChildren(children);
      // TERM, not KILL: it flushes its store by itself after we are gone.
      nats?.child.kill("SIGTERM");
    },
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === "keys") return runAdminCommand(process.argv.slice(3));
  // Commands with their own options parse them themselves.
  if (process.argv[2] === "usage") {
    const { runUsage } = await import("./usage.js");
    // exitCode, not exit(): a large CSV on a pipe must be written out first.
    process.exitCode = await runUsage(process.argv.slice(3), (path) => withEmbeddedCredentials(readConfig(path, {}), roleUser.gateway));
    return;
  }
  if (process.argv[2] === "nats-config") {
    const { runNatsConfig } = await import("./nats-config.js");
    process.exitCode = await runNatsConfig(process.argv.slice(3), (path) => readConfig(path, {}));
    return;
  }
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      name: { type: "string", short: "n" },
      // A plain option: parseArgs on Node 20 before 20.16 has no allowNegative.
      "no-auth": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const cmd = positionals[0];
  if (values.help || !cmd || !["up", "gateway", "worker"].includes(cmd)) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const configPath = values.config ?? process.env.BROKER_CONFIG;
  const cfg = readConfig(configPath, { noAuth: values["no-auth"] === true });
  const log = createLogger(cmd === "worker" ? `worker:${values.name ?? cfg.workers[0]?.name ?? ""}` : cmd);
  if (cmd === "up") await runUp(cfg, configPath, log);
  else if (cmd === "gateway") await runGateway(withEmbeddedCredentials(cfg, roleUser.gateway), log);
  else await runWorker(cfg, values.name, log);
}

/** `broker keys …`: a one-shot command against NATS, with its own flags. */
async function runAdminCommand(argv: string[]): Promise<void> {
  const { runKeys } = await import("./keys.js");
  const i = argv.findIndex((a) => a === "--config" || a === "-c");
  const configPath = i >= 0 ? argv[i + 1] : process.env.BROKER_CONFIG;
  const log = createLogger("keys");
  await runKeys(argv, withEmbeddedCredentials(readConfig(configPath, {}), roleUser.gateway), log);
}

main().catch((e: unknown) => {
  // Config and set-up errors are for people: the message, not a stack.
  const inUse = (e as NodeJS.ErrnoException)?.code === "EADDRINUSE" || /EADDRINUSE|address already in use/i.test(String((e as Error)?.message));
  const msg = inUse
    ? `a port is already in use (${(e as Error).message}); pick others with PORT, GRPC_PORT, NATS_PORT or gateway.metricsPort`
    : e instanceof ConfigError || e instanceof BrokerError || e instanceof DataDirInUse ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
  console.error(`broker: ${msg}`);
  process.exit(1);
});
