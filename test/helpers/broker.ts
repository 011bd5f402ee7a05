import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig, type Config } from "../../config/config.js";
import { createLogger } from "../../ops/log.js";
import { startGateway, type GatewayHandle } from "../../gateway/main.js";

const CLI = fileURLToPath(new URL("../../scripts/broker.js", import.meta.url));
let prefixCounter = 0;

/** A fresh subject prefix per test, so tests sharing one nats-server never see each other's jobs. */
export function freshPrefix(): string {
  return `t${process.pid}x${++prefixCounter}`;
}

/** A validated config for tests: gateway on a random port, fast heartbeats. */
export function testConfig(natsUrl: string, raw: Record<string, unknown> = {}): Config {
  const r = raw as { nats?: object; gateway?: object; queue?: object; workers?: { heartbeatMs?: number }[] };
  return parseConfig({
    ...raw,
    nats: { url: natsUrl, prefix: freshPrefix(), ...r.nats },
    gateway: { port: 0, ...r.gateway },
    workers: (r.workers ?? []).map((w) => ({ heartbeatMs: 300, ...w })),
  });
}

export async function startTestGateway(cfg: Config): Promise<GatewayHandle> {
  return startGateway(cfg, createLogger("gateway", process.env.TEST_LOG_LEVEL ?? "silent"));
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  output(): string;
}

/** Runs `broker worker` as a real child process on the given config. */
export function spawnWorker(cfg: Config, name: string, env: Record<string, string> = {}): WorkerProcess {
  return spawnCli(cfg, ["worker", "--name", name], env);
}

/**
 * Runs `broker gateway` as a real child process; the config's gateway.port
 * must be a free port. `args` and `env` add flags and environment overrides.
 */
export function spawnGateway(cfg: Config, args: string[] = [], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  return spawnCli(cfg, ["gateway", ...args], env);
}

function spawnCli(cfg: Config, args: string[], extraEnv: NodeJS.ProcessEnv = {}): WorkerProcess {
  const dir = mkdtempSync(join(tmpdir(), "broker-cfg-"));
  const file = join(dir, "config.json");
  writeFileSync(file, JSON.stringify(cfg));
  // An IPC channel, as `broker up` gives its workers: a worker exits when this test process dies,
  // even by SIGKILL or a timeout, instead of living on as an orphan on a 2-core CI machine.
  const child = spawn(process.execPath, [CLI, ...args, "--config", file], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: { ...process.env, NATS_URL: cfg.nats.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn", ...extraEnv },
  });
  // The channel must not keep this process alive by itself.
  child.channel?.unref();
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, exited, output: () => out };
}

/** Runs a one-shot CLI command (`broker keys …`) on the config and returns its exit code and output. */
export async function runCli(cfg: Config, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), "broker-cfg-"));
  const file = join(dir, "config.json");
  writeFileSync(file, JSON.stringify(cfg));
  const child = spawn(process.execPath, [CLI, ...args, "--config", file], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NATS_URL: cfg.nats.url, LOG_LEVEL: "warn", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  return { code, stdout, stderr };
}

/** Polls until `fn` returns a truthy value (events we cannot subscribe to from outside a process). */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until the gateway lists the model (its worker's heartbeat arrived). */
export async function waitForModel(gatewayUrl: string, model: string, timeoutMs = 15_000, key?: string): Promise<void> {
  await waitFor(async () => {
    const res = await fetch(`${gatewayUrl}/v1/models`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
    const body = (await res.json()) as { data: { id: string }[] };
    return body.data.some((m) => m.id === model);
  }, `model ${model} to be live`, timeoutMs);
}
