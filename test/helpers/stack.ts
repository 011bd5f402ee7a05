import { after, before } from "node:test";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { spawnWorker, startTestGateway, testConfig, type WorkerProcess } from "./broker.js";
import { startNats, type TestNats } from "./nats.js";

export interface Harness {
  readonly nats: TestNats;
  /** A validated test config on this file's nats-server, with a fresh prefix. */
  config(raw?: Record<string, unknown>): Config;
  /** An in-process gateway, closed after the file's tests. */
  gateway(cfg: Config): Promise<GatewayHandle>;
  /** A real `broker worker` process, killed after the file's tests; `env` overrides its environment (e.g. NATS_URL). */
  worker(cfg: Config, name: string, env?: Record<string, string>): WorkerProcess;
  /** Runs `fn` after the file's tests, newest first, before nats-server stops. */
  defer(fn: () => Promise<unknown>): void;
}

/**
 * One nats-server for the enclosing describe() and everything the tests start
 * on it, stopped in reverse order afterwards. Call it inside describe().
 */
export function useHarness(): Harness {
  let nats: TestNats | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await nats?.close();
  });
  const running = (): TestNats => {
    if (!nats) throw new Error("the harness's nats-server is not started yet (use it inside tests or before hooks)");
    return nats;
  };
  return {
    get nats() {
      return running();
    },
    config: (raw = {}) => testConfig(running().url, raw),
    gateway: async (cfg) => {
      const gw = await startTestGateway(cfg);
      cleanups.push(() => gw.close());
      return gw;
    },
    worker: (cfg, name, env) => {
      const p = spawnWorker(cfg, name, env);
      cleanups.push(async () => {
        p.child.kill("SIGKILL");
        await p.exited;
      });
      return p;
    },
    defer: (fn) => void cleanups.push(fn),
  };
}
