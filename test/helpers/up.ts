import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./nats.js";
import { waitFor } from "./broker.js";

const CLI = fileURLToPath(new URL("../../scripts/broker.js", import.meta.url));

export interface UpOptions {
  /** Holds the config and the data dir (`<dir>/nats`); a fresh temp dir, removed by stop(), when absent. */
  dir?: string;
  port?: number;
  natsPort?: number;
  /** Flags after `up --config FILE` (e.g. --no-auth). */
  args?: string[];
}

export interface UpProcess {
  url: string;
  child: ChildProcess;
  /** The data dir and ports it was given, for a second `broker up` on the same ones. */
  dir: string;
  port: number;
  natsPort: number;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  output(): string;
}

export interface Up extends UpProcess {
  /** SIGINT (as Ctrl-C would) and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Spawns the real `broker up` (embedded nats-server, gateway, workers) without waiting for it. */
export async function spawnUp(config: Record<string, unknown>, opts: UpOptions = {}): Promise<UpProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "broker-up-"));
  const port = opts.port ?? await freePort();
  const natsPort = opts.natsPort ?? await freePort();
  const file = join(dir, `broker-${port}.json`);
  writeFileSync(file, JSON.stringify({ ...config, embeddedNats: { port: natsPort, dataDir: join(dir, "nats") } }));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), LOG_LEVEL: "warn" };
  delete env.NATS_URL;
  const child = spawn(process.execPath, [CLI, "up", "--config", file, ...(opts.args ?? [])], { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { url: `http://127.0.0.1:${port}`, child, dir, port, natsPort, exited, output: () => out };
}

/** Runs the real `broker up` on free ports and a temp store (or the given ones) and waits until it is ready. */
export async function startUp(config: Record<string, unknown>, opts: UpOptions = {}): Promise<Up> {
  const up = await spawnUp(config, opts);
  await waitFor(async () => {
    if (up.child.exitCode !== null || up.child.signalCode !== null) throw new Error(`broker up exited: ${up.output()}`);
    try {
      return (await fetch(`${up.url}/readyz`)).ok;
    } catch {
      return false;
    }
  }, "broker up to be ready", 30_000);
  return {
    ...up,
    stop: async () => {
      if (up.child.exitCode === null && up.child.signalCode === null) up.child.kill("SIGINT");
      const code = await up.exited;
      if (!opts.dir) rmSync(up.dir, { recursive: true, force: true });
      return code;
    },
  };
}
