// Every process the harness starts goes through here, so each one is stopped
// by its pid on success, on error and on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { findNatsServer } from "../ops/embedded-nats.js";
import { freePort } from "../test/helpers/nats.js";

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string | null>;
  /** The last few KB of stdout and stderr, for error messages. */
  output(): string;
}

const live = new Set<Proc>();
const tempDirs = new Set<string>();

/** A temp directory that stopAll() removes, so even Ctrl-C leaves nothing behind. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function spawnProc(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  let out = "";
  const keep = (d: Buffer): void => void (out = (out + d.toString()).slice(-8000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | string | null>((r) => child.once("exit", (code, sig) => r(code ?? sig)));
  const p: Proc = { name, child, pid: child.pid, exited, output: () => out };
  live.add(p);
  void exited.then(() => live.delete(p));
  return p;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopProc(p: Proc, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGTERM");
  const timer = new Promise((r) => setTimeout(r, graceMs).unref());
  if ((await Promise.race([p.exited.then(() => "exited"), timer])) !== "exited") {
    p.child.kill("SIGKILL");
    await p.exited;
  }
}

/** Stops every process still running, newest first (nats-server, started first, goes last), then removes temp dirs. */
export async function stopAll(): Promise<void> {
  for (const p of [...live].reverse()) await stopProc(p, 3000);
  for (const dir of [...tempDirs]) removeTempDir(dir);
}

/**
 * Installs the last-resort cleanup: Ctrl-C and SIGTERM stop the children in
 * order; a plain exit (even an uncaught error) SIGKILLs whatever is left.
 */
export function installCleanup(onSignal: () => Promise<void>): void {
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      console.error(`\n${sig}: stopping every process the bench started…`);
      void onSignal().finally(() => process.exit(130));
    });
  }
  process.on("exit", () => {
    for (const p of live) if (p.child.exitCode === null) p.child.kill("SIGKILL");
  });
}

// The same free-port lookup the integration tests use.
export { freePort };

/** Polls `fn` until it returns true; throws naming `what` (and the process output) on timeout. */
export async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000, proc?: Proc): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited while waiting for ${what}:\n${proc.output()}`);
    try {
      if (await fn()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${proc ? `:\n${proc.output()}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface BenchNats {
  url: string;
  proc: Proc;
  version: string;
  close(): Promise<void>;
}

/** A nats-server with JetStream on a random port and a temp store, like the integration tests use. */
export async function startNats(): Promise<BenchNats> {
  const bin = findNatsServer();
  if (!bin) throw new Error("nats-server not found: apt-get install -y nats-server");
  const dir = tempDir("bench-nats-");
  const port = await freePort();
  const conf = join(dir, "nats.conf");
  writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 8388608\njetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }\n`);
  const url = `nats://127.0.0.1:${port}`;
  const proc = spawnProc("nats-server", bin, ["-c", conf]);
  await waitUntil("nats-server with JetStream", async () => {
    const nc = await connect({ servers: url, timeout: 500 });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  }, 15_000, proc);
  const version = spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.trim();
  return {
    url,
    proc,
    version,
    close: async () => {
      await stopProc(proc);
      removeTempDir(dir);
    },
  };
}

/** Resident memory of a process in MB (VmRSS), or its peak so far (VmHWM); null when unreadable. */
export function memoryMb(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples VmRSS every `everyMs` and keeps the maximum: the peak under load. */
export function sampleRss(pids: Record<string, number>, everyMs = 100): { stop(): Record<string, number | null> } {
  const peak: Record<string, number | null> = {};
  const tick = (): void => {
    for (const [name, pid] of Object.entries(pids)) {
      const v = memoryMb(pid);
      if (v !== null) peak[name] = Math.max(peak[name] ?? 0, v);
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      tick();
      return peak;
    },
  };
}
