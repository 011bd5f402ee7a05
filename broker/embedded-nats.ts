import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Config } from "./config.js";
import type { Logger } from "./log.js";

export interface EmbeddedNats {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const CANDIDATES = ["nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/bin/nats-server"];

export function findNatsServer(): string | null {
  for (const c of CANDIDATES) {
    if (c.includes("/") ? existsSync(c) : spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0) return c;
  }
  return null;
}

/**
 * Starts `nats-server` with JetStream and a file store under the project, and
 * resolves once JetStream answers. It runs in its own process group so a
 * Ctrl-C reaches the gateway and workers first; the caller stops it last.
 */
export async function startEmbeddedNats(cfg: Config, log: Logger): Promise<EmbeddedNats> {
  const bin = findNatsServer();
  if (!bin) {
    throw new Error("nats-server is not installed. On Debian: sudo apt-get install -y nats-server (or set NATS_URL to a running server with JetStream).");
  }
  const dir = resolve(cfg.embeddedNats.dataDir);
  mkdirSync(dir, { recursive: true });
  const conf = resolve(dir, "nats-server.conf");
  const port = cfg.embeddedNats.port;
  writeFileSync(conf, [
    `listen: 127.0.0.1:${port}`,
    `max_payload: ${cfg.embeddedNats.maxPayloadBytes}`,
    `jetstream { store_dir: ${JSON.stringify(resolve(dir, "jetstream"))} }`,
    "",
  ].join("\n"));
  const child = spawn(bin, ["-c", conf], { detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `nats://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nats-server exited at start (is port ${port} in use? set NATS_PORT): ${stderr.trim()}`);
    try {
      const nc = await connect({ servers: url, timeout: 500 });
      try {
        await (await jetstreamManager(nc)).getAccountInfo();
      } finally {
        await nc.close();
      }
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`nats-server did not become ready with JetStream in 15 s: ${(e as Error).message} ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  log.info({ url, dataDir: dir }, "nats-server started");
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
