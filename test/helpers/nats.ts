import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import { findNatsServer } from "../../ops/embedded-nats.js";

export interface TestNats {
  url: string;
  port: number;
  /** The JetStream store directory (tests that read what is on disk). */
  storeDir: string;
  /** The running server's pid (tests that freeze it with SIGSTOP). */
  readonly pid: number | undefined;
  /** SIGTERM and wait; the store stays for restart(). */
  stop(): Promise<void>;
  /** Starts again on the same port and store (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Stops and removes the store. */
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartNatsOptions {
  maxPayload?: number;
  /** More nats-server config (authorization, tls), appended to the default file. */
  extraConfig?: string;
  /** How the readiness probe connects to a server that wants credentials or TLS. */
  probe?: Pick<NodeConnectionOptions, "authenticator" | "tls" | "inboxPrefix">;
}

/** A real `nats-server -js` on a random port with a temp store: one per test file. */
export async function startNats(opts: StartNatsOptions = {}): Promise<TestNats> {
  const bin = findNatsServer();
  if (!bin) throw new Error("nats-server not found: apt-get install -y nats-server");
  const dir = mkdtempSync(join(tmpdir(), "broker-nats-"));
  const port = await freePort();
  const conf = join(dir, "nats.conf");
  writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: ${opts.maxPayload ?? 1024 * 1024}\njetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }\n${opts.extraConfig ? `${opts.extraConfig}\n` : ""}`);
  const url = `nats://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    child = spawn(bin, ["-c", conf], { stdio: "ignore" });
    const until = Date.now() + 10_000;
    for (;;) {
      try {
        const nc = await connect({ servers: url, timeout: 300, ...opts.probe });
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
        } finally {
          await nc.close();
        }
        return;
      } catch (e) {
        if (Date.now() > until) {
          // A server that never became ready must not outlive the test file (it would keep it from exiting).
          child?.kill("SIGKILL");
          throw e;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await gone;
  };
  await start();
  return {
    url,
    port,
    storeDir: join(dir, "js"),
    get pid() {
      return child?.pid;
    },
    stop,
    // A restart of a running server stops it first: starting a second one on the same port would
    // leave the first running (and the test file unable to exit) while seeming to succeed.
    restart: async () => {
      await stop();
      await start();
    },
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
