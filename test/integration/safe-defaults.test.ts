import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { spawnGateway, waitFor, type WorkerProcess } from "../helpers/broker.js";
import { freePort } from "../helpers/nats.js";
import { useHarness } from "../helpers/stack.js";
import { startUp } from "../helpers/up.js";

const NOTICE = /auth is off: anyone on this machine can call the gateway at http:\/\/127\.0\.0\.1:\d+ /;

/** How often `re` matches in the process's output. */
const count = (p: WorkerProcess, re: RegExp): number => p.output().split("\n").filter((l) => re.test(l)).length;

async function ready(url: string, p: WorkerProcess): Promise<void> {
  await waitFor(async () => {
    if (p.child.exitCode !== null) throw new Error(`the gateway exited: ${p.output()}`);
    return fetch(`${url}/readyz`).then((r) => r.ok, () => false);
  }, "the gateway to be ready", 15_000);
}

describe("safe defaults: --no-auth and the open-access notice", () => {
  const harness = useHarness();

  /** `broker gateway` as a child, killed after the file's tests. */
  const gateway = (cfg: Parameters<typeof spawnGateway>[0], args: string[] = [], env: NodeJS.ProcessEnv = {}): WorkerProcess => {
    const g = spawnGateway(cfg, args, env);
    harness.defer(async () => {
      g.child.kill("SIGKILL");
      await g.exited;
    });
    return g;
  };

  test("`HOST=0.0.0.0 broker gateway --no-auth` refuses to start, naming gateway.allowUnauthenticated", async () => {
    const g = gateway(harness.config({ gateway: { port: await freePort() } }), ["--no-auth"], { HOST: "0.0.0.0" });
    const code = await Promise.race([g.exited, sleep(15_000, "still running", { ref: false })]);
    assert.equal(code, 1, g.output());
    const lines = g.output().trim().split("\n");
    assert.equal(lines[0], "broker: invalid config:", g.output());
    assert.equal(lines.length, 2, `the config error's usual form, one line for the field: ${g.output()}`);
    assert.match(lines[1] ?? "", /^ {2}gateway\.auth\.enabled: auth is off while the gateway listens on 0\.0\.0\.0.*gateway\.allowUnauthenticated: true/);
  });

  test("auth off on 0.0.0.0 with gateway.allowUnauthenticated starts, and says so once", async () => {
    const port = await freePort();
    const g = gateway(harness.config({ gateway: { host: "0.0.0.0", port, auth: { enabled: false }, allowUnauthenticated: true } }));
    await ready(`http://127.0.0.1:${port}`, g);
    await waitFor(() => count(g, /auth is off beyond loopback/) > 0, "the notice");
    assert.equal(count(g, /auth is off/), 1, g.output());
    assert.match(g.output(), new RegExp(`anyone who reaches http://0\\.0\\.0\\.0:${port} can call the gateway`));
  });

  test("`broker gateway` on loopback (auth auto) logs the notice once; with auth on it logs none", async () => {
    const port = await freePort();
    const g = gateway(harness.config({ gateway: { port } }));
    await ready(`http://127.0.0.1:${port}`, g);
    await waitFor(() => count(g, NOTICE) > 0, "the notice");
    assert.equal(count(g, /auth is off/), 1, g.output());

    const onPort = await freePort();
    const on = gateway(harness.config({ gateway: { port: onPort, auth: { enabled: true } } }));
    await ready(`http://127.0.0.1:${onPort}`, on);
    assert.equal(count(on, /auth is off/), 0, on.output());
  });

  test("`broker up --no-auth` on loopback starts and logs the notice once, with how to turn keys on", async () => {
    const up = await startUp({ gateway: { models: [] }, workers: [] }, { args: ["--no-auth"] });
    harness.defer(() => up.stop());
    // Ready may be answered before the child's log line has reached this process.
    await waitFor(() => /auth is off/.test(up.output()), "the notice");
    const lines = up.output().split("\n").filter((l) => /auth is off/.test(l));
    assert.equal(lines.length, 1, up.output());
    assert.match(lines[0] ?? "", NOTICE);
    assert.match(lines[0] ?? "", /drop --no-auth/);
  });
});
