import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Config } from "../config/mod.js";
import { natsAuthorization } from "../nats/mod.js";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import { ADMIN_USER, embeddedCredentials } from "./embedded-credentials.js";
import type { Logger } from "./log.js";

export interface EmbeddedNats {
  url: string;
  child: ChildProcess;
  /** The file that holds a user's password (gateway, worker-<name>, admin). */
  passwordFile(user: string): string;
  stop(): Promise<void>;
}

const CANDIDATES = ["nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/bin/nats-server"];

export function findNatsServer(): string | null {
  for (const c of CANDIDATES) {
    if (c.includes("/") ? existsSync(c) : spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0) return c;
  }
  return null;
}

/** After SIGTERM, how long nats-server may take to flush its store before it is killed. */
export const NATS_STOP_MS = 5000;

/**
 * nats-server watches nothing: if `broker up` is SIGKILLed it would keep the port and the store.
 * util-linux's setpriv asks the kernel to send it SIGTERM (a clean store flush, unlike SIGKILL)
 * when the thread that spawned it exits; Node spawns from the main thread, so that is our death.
 */
function withParentDeathSignal(bin: string, args: string[]): [string, string[]] | null {
  const probe = spawnSync("setpriv", ["--pdeathsig", "SIGTERM", "--", "true"], { stdio: "ignore" });
  return probe.status === 0 ? ["setpriv", ["--pdeathsig", "SIGTERM", "--", bin, ...args]] : null;
}

/**
 * Starts `nats-server` with JetStream and a file store under the project, its
 * users those of embedded-credentials.ts (no anonymous access), and resolves
 * once JetStream answers. It runs in its own process group so a Ctrl-C
 * reaches the gateway and workers first; the caller stops it last.
 * Throws DataDirInUse when another broker (or its orphaned server) holds the data dir.
 */
export async function startEmbeddedNats(cfg: Config, log: Logger): Promise<EmbeddedNats> {
  const bin = findNatsServer();
  if (!bin) {
    throw new Error("nats-server is not installed. On Debian: sudo apt-get install -y nats-server (or set NATS_URL to a running server with JetStream).");
  }
  const dir = resolve(cfg.embeddedNats.dataDir);
  mkdirSync(dir, { recursive: true });
  const lock = lockDataDir(dir);
  try {
    return await start(bin, dir, cfg, log, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function start(bin: string, dir: string, cfg: Config, log: Logger, lock: DataDirLock): Promise<EmbeddedNats> {
  const conf = resolve(dir, "nats-server.conf");
  const port = cfg.embeddedNats.port;
  // Made under the lock: one broker up at a time writes a data dir's passwords.
  const creds = embeddedCredentials(cfg);
  // It holds the passwords: made anew each start, so it is born 0600 even where an older one was not.
  rmSync(conf, { force: true });
  writeFileSync(conf, [
    `listen: 127.0.0.1:${port}`,
    `max_payload: ${cfg.embeddedNats.maxPayloadBytes}`,
    `jetstream { store_dir: ${JSON.stringify(resolve(dir, "jetstream"))} }`,
    natsAuthorization(creds.users),
  ].join("\n"), { flag: "wx", mode: 0o600 });
  const admin = creds.users.find((u) => u.user === ADMIN_USER)?.password;
  const args = ["-c", conf];
  const [cmd, argv] = withParentDeathSignal(bin, args) ?? [bin, args];
  // Its log goes to a file, not a pipe to us: a Go program writing to a broken stderr dies of
  // SIGPIPE, so after our death its shutdown's first log line would end it before the store flush.
  const logFile = resolve(dir, "nats-server.log");
  const logFd = openSync(logFile, "w");
  const child = spawn(cmd, argv, { detached: true, stdio: ["ignore", "ignore", logFd] });
  closeSync(logFd);
  if (child.pid !== undefined) lock.setServer(child.pid);
  if (cmd === bin) log.warn({ pid: child.pid }, "setpriv --pdeathsig is unavailable (util-linux): if broker up is killed with SIGKILL, its nats-server keeps running");
  const readLog = () => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };
  // Its errors, not its banner: they end up in a one-line message.
  const errors = () => readLog().split("\n").filter((l) => /\[(ERR|FTL)\]/.test(l)).join("; ") || `see ${logFile}`;
  const url = `nats://127.0.0.1:${port}`;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (gone()) throw new Error(`nats-server exited at start (is port ${port} in use? set NATS_PORT): ${errors()}`);
    try {
      // Our own server's word that it listens: connecting first could reach another server on the port.
      if (!/Server is ready/.test(readLog())) throw new Error("not listening yet");
      // As admin, not gateway: this asks whether the server and JetStream are up, which must not hang
      // on a role's grants (its prefix, a jsDomain); the gateway reports its own refusal when it connects.
      const nc = await connect({ servers: url, timeout: 500, user: ADMIN_USER, pass: admin });
      try {
        await (await jetstreamManager(nc)).getAccountInfo();
      } finally {
        await nc.close();
      }
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`nats-server did not become ready with JetStream in 15 s: ${(e as Error).message} ${errors()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  log.info({ url, dataDir: dir, pid: child.pid }, "nats-server started");
  return {
    url,
    child,
    passwordFile: creds.passwordFile,
    stop: async () => {
      if (!gone()) {
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, NATS_STOP_MS).unref())]);
        if (!gone()) {
          log.warn({ pid: child.pid }, `nats-server (pid ${child.pid}) did not exit within ${NATS_STOP_MS} ms of SIGTERM; sent SIGKILL`);
          child.kill("SIGKILL");
          await exited;
        }
      }
      lock.release();
    },
  };
}
