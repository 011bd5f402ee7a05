import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "../ops/mod.js";
import type { WorkerConfig } from "../config/mod.js";
import { EXIT_GRACE_MS } from "./shutdown.js";

/** Past a worker's own deadline, how long `broker up` waits before SIGKILL: the worker gets to say why first. */
const KILL_MARGIN_MS = 2000;

/** A worker process that `broker up` runs and stops. */
export interface WorkerChild {
  name: string;
  proc: ChildProcess;
  /** From SIGTERM to SIGKILL. */
  killAfterMs: number;
  exited: Promise<void>;
}

/** A NATS user and the file holding its password: what `broker up` gives a worker for its own nats-server. */
export interface NatsLogin {
  user: string;
  passwordFile: string;
}

/**
 * Spawns `broker worker --name <name>` for one configured worker. It gets its own process group,
 * so a terminal's Ctrl-C reaches only `broker up`, which stops the children in order (nats-server
 * last), and an IPC channel, whose closing tells it that `broker up` died, even by SIGKILL.
 */
export function spawnWorkerChild(cli: string, w: WorkerConfig, configPath: string | undefined, natsUrl: string, login?: NatsLogin): WorkerChild {
  const proc = spawn(process.execPath, [cli, "worker", "--name", w.name, ...(configPath ? ["--config", configPath] : [])], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    detached: true,
    env: childEnv(natsUrl, login),
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return { name: w.name, proc, killAfterMs: w.drainTimeoutMs + EXIT_GRACE_MS + KILL_MARGIN_MS, exited };
}

/** The password goes as a file's path (NATS_PASSWORD_FILE), never in env or argv, where other local users could read it. */
function childEnv(natsUrl: string, login: NatsLogin | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NATS_URL: natsUrl };
  if (!login) return env;
  // The shell's NATS credentials are for another server; with them the worker would refuse to start (two ways to log in).
  for (const k of ["NATS_PASSWORD", "NATS_TOKEN", "NATS_NKEY", "NATS_CREDS"]) delete env[k];
  return { ...env, NATS_USER: login.user, NATS_PASSWORD_FILE: login.passwordFile };
}

/** The longest that stopChildren may take. */
export function stopBoundMs(children: WorkerChild[]): number {
  return Math.max(0, ...children.map((c) => c.killAfterMs));
}

/**
 * SIGTERMs every child and waits for each up to its killAfterMs, then SIGKILLs it, saying which.
 * Resolves true when all exited by themselves.
 */
export async function stopChildren(children: WorkerChild[], log: Logger): Promise<boolean> {
  const clean = await Promise.all(children.map(async (c) => {
    if (!running(c.proc)) return true;
    c.proc.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), c.killAfterMs)));
    const outcome = await Promise.race([c.exited, late]);
    clearTimeout(timer);
    if (outcome !== "late") return true;
    log.warn({ worker: c.name, pid: c.proc.pid }, `worker ${c.name} (pid ${c.proc.pid}) did not exit within ${c.killAfterMs} ms of SIGTERM; sent SIGKILL`);
    c.proc.kill("SIGKILL");
    await c.exited;
    return false;
  }));
  return clean.every(Boolean);
}

/** SIGKILLs every child still running: a forced exit must not leave them behind. */
export function killChildren(children: WorkerChild[]): void {
  for (const c of children) if (running(c.proc)) c.proc.kill("SIGKILL");
}

function running(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}
