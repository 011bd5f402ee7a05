import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../../config/mod.js";
import { natsAuthorization, roleUsers, type NatsUser } from "../../nats/mod.js";
import type { DriverResult } from "../helpers/multihost-driver.js";
import { canCreateNamespaces, createNet, type Net } from "../helpers/netns.js";

// Several machines, simulated with network namespaces: a three-node NATS
// cluster (n1–n3, JetStream domain "hub", replicas 3), a gateway (gw), a
// worker dialling the cluster (w1), a worker behind NAT that reaches it only
// through its own leaf node (w2, nats.jsDomain "hub"), and a client. NATS is
// locked down as `broker nats-config` would: each process is its own
// least-privilege user, on the cluster and on the leaf's server. Runs as
// root (CI, ./scripts/test); where namespaces cannot be made it is skipped
// with the reason printed loudly.
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLI = join(ROOT, "dist/scripts/broker.js");
const DRIVER = join(ROOT, "dist/test/helpers/multihost-driver.js");
const NATS_SERVER = "/usr/sbin/nats-server";
const PREFIX = "mh";
const MODEL = "sim";
/** Served by w1 and w3 only, with answers long enough to be cut mid-way (the cut-link scenario). */
const SLOW = "slow";
const SLOW_MS = 300 * 20;
const HEARTBEAT_MS = 500;
/** Three missed beats (jobs/registry.ts lostAfterMs): gateways write a worker off, and it gives its jobs back. */
const LOST_AFTER_MS = 3 * HEARTBEAT_MS;


const can = canCreateNamespaces();
if (!can.ok) console.error(`\n*** multihost: SKIPPED — cannot create network namespaces here (${can.why}); run the tests as root on Linux to prove the cluster, leaf-node and worker scenarios ***\n`);

describe("across machines: a NATS cluster, a leaf node and workers in network namespaces", { skip: can.ok ? false : `cannot create network namespaces (${can.why})` }, () => {
  let net: Net;
  let dir: string;
  const procs = new Map<string, ChildProcess>();
  const violations: string[] = [];
  const output = new Map<string, string>();

  const start = (name: string, host: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const p = net.run(host, cmd, args, env);
    output.set(name, "");
    const keep = (d: Buffer): void => {
      const text = d.toString();
      output.set(name, ((output.get(name) ?? "") + text).slice(-20_000));
      // A server's word that a role lacked a grant (the processes' users are least-privilege).
      for (const line of text.split("\n")) if (/Violation/.test(line)) violations.push(`${name}: ${line}`);
    };
    p.stdout?.on("data", keep);
    p.stderr?.on("data", keep);
    procs.set(name, p);
    return p;
  };
  const stop = async (name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    const p = procs.get(name);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    await gone;
  };
  const addr = (h: string): string => net.host(h).addr;
  const clusterUrl = (): string => ["n1", "n2", "n3"].map((n) => `nats://${addr(n)}:4222`).join(",");
  /** The operator's user (no permissions block) for the test's own looks at the stream. */
  const admin: NatsUser = { user: "admin", password: randomBytes(12).toString("hex") };
  const leafPassword = randomBytes(12).toString("hex");
  /** NATS_USER and NATS_PASSWORD_FILE for one of the role users. */
  let login: (user: string) => NodeJS.ProcessEnv = () => ({});

  /** Runs a short node script in the client's namespace and returns its stdout. */
  const inClient = (script: string): Promise<string> => new Promise((resolve, reject) => {
    const p = net.run("client", process.execPath, ["--input-type=module", "-e", script], {});
    let out = "";
    let err = "";
    p.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    p.once("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`client script exited ${code}: ${err}`))));
  });
  const js = (body: string): string => `
    import { connect } from "@nats-io/transport-node";
    import { jetstreamManager } from "@nats-io/jetstream";
    const nc = await connect({ servers: ${JSON.stringify(clusterUrl().split(","))}, timeout: 2000, user: "admin", pass: ${JSON.stringify(admin.password)} });
    const jsm = await jetstreamManager(nc, { domain: "hub" });
    ${body}
    await nc.close();`;
  const waitUntil = async (what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<void> => {
    const until = Date.now() + ms;
    for (;;) {
      if (await fn().catch(() => false)) return;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${[...output].map(([k, v]) => `--- ${k}\n${v.slice(-1500)}`).join("\n")}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  interface AdminWorker { id: string; in_flight: number; models: { completed: number }[] }
  const adminWorkers = async (): Promise<AdminWorker[]> => {
    const text = await inClient(`const r = await fetch("http://${addr("gw")}:8080/admin/workers"); console.log(await r.text());`);
    return (JSON.parse(text) as { data: AdminWorker[] }).data;
  };
  const drive = (requests: number, onProgress: (done: number) => void, opts: { model?: string; concurrency?: number } = {}): Promise<DriverResult> => new Promise((resolve, reject) => {
    const p = net.run("client", process.execPath, [DRIVER, JSON.stringify({ url: `http://${addr("gw")}:8080`, requests, concurrency: opts.concurrency ?? 32, model: opts.model ?? MODEL })]);
    let out = "";
    p.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr?.on("data", (d: Buffer) => {
      for (const m of d.toString().matchAll(/done (\d+)/g)) onProgress(Number(m[1]));
    });
    p.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as DriverResult) : reject(new Error(`driver exited ${code}: ${out}`))));
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "multihost-"));
    net = createNet("brkmh", ["n1", "n2", "n3", "gw", "w1", "w2", "client"]);
    const cfg = {
      nats: { prefix: PREFIX, jsDomain: "hub" },
      queue: { replicas: 3, ackWaitMs: 5000 },
      gateway: { host: addr("gw"), port: 8080, idleTimeoutMs: 15_000, auth: { enabled: false }, allowUnauthenticated: true, models: [{ id: MODEL, queueWithoutWorkers: true }, { id: SLOW, queueWithoutWorkers: true }] },
      workers: ["w1", "w2", "w3"].map((name) => ({
        name,
        slots: 16,
        heartbeatMs: HEARTBEAT_MS,
        models: [
          { id: MODEL, engine: "sim", options: { outputTokens: 30, itlMs: 10 } },
          ...(name === "w2" ? [] : [{ id: SLOW, engine: "sim", options: { outputTokens: SLOW_MS / 20, itlMs: 20 } }]),
        ],
      })),
    };
    // The users `broker nats-config` makes for this config, with the JetStream domain's API in their grants.
    const users = roleUsers(parseConfig(cfg), () => randomBytes(12).toString("hex"));
    for (const u of users) writeFileSync(join(dir, `${u.user}.password`), u.password, { mode: 0o600 });
    login = (user) => ({ NATS_USER: user, NATS_PASSWORD_FILE: join(dir, `${user}.password`) });
    const worker2 = users.find((u) => u.user === "worker-w2");
    assert.ok(worker2);
    for (const n of ["n1", "n2", "n3"]) {
      const routes = ["n1", "n2", "n3"].map((m) => `nats://${addr(m)}:6222`).join(", ");
      const conf = join(dir, `${n}.conf`);
      writeFileSync(conf, [
        `server_name: ${n}`, `listen: ${addr(n)}:4222`, "max_payload: 8MB",
        // A domain, so a leaf node without JetStream of its own reaches this one as $JS.hub.API.
        `jetstream { store_dir: ${JSON.stringify(join(dir, n))}, domain: hub }`,
        `cluster { name: brk, listen: ${addr(n)}:6222, routes: [ ${routes} ] }`,
        // Leaf nodes log in too; the processes behind one are checked by its own server.
        `leafnodes { listen: ${addr(n)}:7422, authorization { user: leaf, password: ${JSON.stringify(leafPassword)} } }`,
        natsAuthorization([...users.filter((u) => u !== worker2), admin]),
      ].join("\n"));
      start(n, n, NATS_SERVER, ["-c", conf]);
    }
    // The GPU box behind NAT: its own nats-server, a leaf that only dials out to the cluster.
    const leafConf = join(dir, "leaf.conf");
    const remotes = ["n1", "n2", "n3"].map((m) => `"nats-leaf://leaf:${leafPassword}@${addr(m)}:7422"`).join(", ");
    writeFileSync(leafConf, `server_name: leaf-w2\nlisten: 127.0.0.1:4222\nmax_payload: 8MB\nleafnodes { remotes: [ { urls: [ ${remotes} ] } ] }\n${natsAuthorization([worker2])}`);
    start("leaf", "w2", NATS_SERVER, ["-c", leafConf]);
    await waitUntil("JetStream in the cluster", async () => (await inClient(js("console.log((await jsm.getAccountInfo()).limits ? 'ok' : '');"))) === "ok");

    const cfgFile = join(dir, "config.json");
    writeFileSync(cfgFile, JSON.stringify(cfg));
    const env = { LOG_LEVEL: "warn" };
    start("gateway", "gw", process.execPath, [CLI, "gateway", "--config", cfgFile], { ...env, ...login("gateway"), NATS_URL: clusterUrl() });
    // Only a gateway's user may create the jobs stream: the workers start once it is there.
    await waitUntil("the gateway to create the jobs stream", async () => (await inClient(js(`console.log((await jsm.streams.info("${PREFIX.toUpperCase()}_JOBS")).config.name);`))) === `${PREFIX.toUpperCase()}_JOBS`);
    start("w1", "w1", process.execPath, [CLI, "worker", "--config", cfgFile, "--name", "w1"], { ...env, ...login("worker-w1"), NATS_URL: clusterUrl() });
    start("w2", "w2", process.execPath, [CLI, "worker", "--config", cfgFile, "--name", "w2"], { ...env, ...login("worker-w2"), NATS_URL: "nats://127.0.0.1:4222" });
    await waitUntil("the gateway to see both workers", async () => (await adminWorkers()).length === 2);
  });

  after(async () => {
    for (const name of [...procs.keys()].reverse()) await stop(name, "SIGKILL");
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("1,000 jobs while the jobs stream's leader node is killed: every request ends, complete or with a well-formed error", async () => {
    let killed = "";
    let leaderKill: Promise<void> | undefined;
    const r = await drive(1000, (done) => {
      if (done < 200 || leaderKill) return;
      leaderKill = (async () => {
        killed = await inClient(js(`console.log((await jsm.streams.info("${PREFIX.toUpperCase()}_JOBS")).cluster?.leader ?? "");`));
        await stop(killed, "SIGKILL");
      })();
    });
    await leaderKill;
    console.log(`leader ${killed} killed after 200 answers: ${JSON.stringify(r)}`);
    assert.match(killed, /^n[123]$/, "the stream's leader was found and killed");
    assert.equal(r.completed, 1000, "every request ended");
    assert.deepEqual(r.malformed, {}, "no reset, timeout or cut stream: errors are OpenAI errors");
    // The killed node comes back, and the next scenario starts once the stream has all three
    // replicas current again and the gateway answers: a run started mid-recovery measures the
    // recovery (fast 503s), not the join.
    start(killed, killed, NATS_SERVER, ["-c", join(dir, `${killed}.conf`)]);
    await waitUntil("the stream's three replicas to be current", async () => {
      const out = await inClient(js(`const c = (await jsm.streams.info("${PREFIX.toUpperCase()}_JOBS")).cluster; console.log(c?.leader && (c.replicas ?? []).length === 2 && (c.replicas ?? []).every((r) => r.current) ? "ok" : "");`));
      return out === "ok";
    });
    await waitUntil("the gateway to answer again", async () => {
      const out = await inClient(`const r = await fetch("http://${addr("gw")}:8080/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: "${MODEL}", messages: [{ role: "user", content: "hi" }] }) }); console.log(r.status);`);
      return out === "200";
    });
  });

  test("1,000 jobs, streamed and not, over the cluster; the leaf-node worker serves, and a worker on a new machine joins mid-run with no gateway change", async () => {
    let joinedAt = 0;
    const r = await drive(1000, (done) => {
      if (done < 100 || joinedAt) return;
      joinedAt = Date.now();
      net.add("w3");
      start("w3", "w3", process.execPath, [CLI, "worker", "--config", join(dir, "config.json"), "--name", "w3"], { LOG_LEVEL: "warn", ...login("worker-w3"), NATS_URL: clusterUrl() });
    });
    const workers = await adminWorkers();
    const w3 = workers.find((w) => w.id.startsWith("w3"));
    console.log(`worker w3 joined mid-run: ${JSON.stringify(workers.map((w) => [w.id, w.models[0]?.completed]))}; run ${JSON.stringify(r)}`);
    assert.equal(r.completed, 1000);
    assert.deepEqual(r.malformed, {});
    assert.ok((w3?.models[0]?.completed ?? 0) > 0, "the new worker took jobs");
    const w2 = workers.find((w) => w.id.startsWith("w2"));
    assert.ok((w2?.models[0]?.completed ?? 0) > 0, "the worker behind its leaf node took jobs too");
  });

  test("a worker's link is cut mid-answer: its streams end with worker_lost, its other jobs run elsewhere, it stops what it holds within the bound, and it rejoins", async () => {
    const w1 = procs.get("w1");
    assert.ok(w1?.stdout, "w1 runs");
    // The worker's own word that it gave its jobs back (a JSON log line), when it says it.
    const gaveBack = new Promise<{ at: number; jobs: number; heldMs: number }>((resolve) => {
      let buf = "";
      const onData = (d: Buffer): void => {
        buf += d.toString();
        const line = buf.split("\n").find((l) => l.includes("giving back the jobs held"));
        if (!line) return;
        w1.stdout?.off("data", onData);
        const log = JSON.parse(line) as { jobs: number; heldMs: number };
        resolve({ at: Date.now(), jobs: log.jobs, heldMs: log.heldMs });
      };
      w1.stdout?.on("data", onData);
    });
    // Which workers the gateway writes off during this scenario (its log says): w1 alone.
    const writtenOff: string[] = [];
    procs.get("gateway")?.stdout?.on("data", (d: Buffer) => {
      for (const m of d.toString().matchAll(/"worker":"([^"]+)"[^\n]*worker lost: no heartbeat/g)) writtenOff.push(m[1] ?? "");
    });
    // 32 long answers fill the 32 slots of w1 and w3, 16 each (a worker pulls only for free slots).
    const slow = drive(32, () => undefined, { model: SLOW, concurrency: 32 });
    let seen: AdminWorker[] = [];
    await waitUntil("w1 to run 16 long answers", async () => (seen = await adminWorkers()).find((w) => w.id.startsWith("w1"))?.in_flight === 16)
      .catch((e: Error) => assert.fail(`${e.message.split("\n")[0]}; the gateway sees ${JSON.stringify(seen)}`));
    let cutAt = 0;
    let cut: Promise<void> | undefined;
    const figures: Record<string, number> = {};
    const load = drive(1000, (done) => {
      if (done < 100 || cut) return;
      cut = (async () => {
        net.link("w1", false);
        cutAt = Date.now();
        await waitUntil("the gateway to write w1 off", async () => !(await adminWorkers()).some((w) => w.id.startsWith("w1")));
        figures.writtenOffAfterMs = Date.now() - cutAt;
      })();
    });
    const stopped = await Promise.race([gaveBack, new Promise<undefined>((r) => setTimeout(() => r(undefined), 60_000))]);
    const [slowRun, loadRun] = await Promise.all([slow, load]);
    await cut;
    // The link comes back once every request has ended without w1: nothing it buffered helped.
    net.link("w1", true);
    const linkUpAt = Date.now();
    await waitUntil("w1 to rejoin", async () => (await adminWorkers()).some((w) => w.id.startsWith("w1")));
    figures.rejoinedAfterMs = Date.now() - linkUpAt;
    assert.ok(stopped, `w1 never gave back the jobs it held after its link was cut\n${output.get("w1")?.slice(-2000)}`);
    figures.stoppedAfterMs = stopped.at - cutAt;
    const rerun = slowRun.ok - 16;
    console.log(`w1's link cut with 16 long answers running: ${JSON.stringify(figures)}; written off: ${writtenOff.join(", ")}; w1 gave back ${stopped.jobs} runs holding ${(stopped.heldMs / 1000).toFixed(1)} s of engine time, ${(stopped.jobs * figures.stoppedAfterMs / 1000).toFixed(1)} s of it after the cut; ${rerun} had sent nothing and ran again on w3 (duplicate work ${(rerun * (stopped.heldMs / stopped.jobs) / 1000).toFixed(1)} s, ${(rerun * figures.stoppedAfterMs / 1000).toFixed(1)} s of it after the cut); long answers ${JSON.stringify(slowRun)}; short answers meanwhile ${JSON.stringify(loadRun)}`);
    // Still running when it gave them back: a worker that went on would have finished them into the void.
    assert.equal(stopped.jobs, 16, "w1 stopped all 16 answers it held");
    assert.deepEqual(writtenOff.map((id) => id.split("-")[0]), ["w1"], "the gateway wrote off w1, and no other worker");
    assert.ok(figures.stoppedAfterMs < SLOW_MS, `w1 stopped them ${figures.stoppedAfterMs} ms after the cut, before they would have ended (${SLOW_MS} ms); the bound is ${LOST_AFTER_MS} ms of silence`);
    assert.equal(slowRun.completed, 32);
    assert.deepEqual(slowRun.malformed, {});
    assert.deepEqual(Object.keys(slowRun.errors).filter((k) => k !== "worker_lost"), [], "a cut answer ends with worker_lost");
    assert.equal(slowRun.ok + (slowRun.errors.worker_lost ?? 0), 32, "every long answer completed, or ended with worker_lost after output");
    assert.ok(rerun >= 0 && (slowRun.errors.worker_lost ?? 0) <= 16, "only w1's answers were cut");
    assert.equal(loadRun.completed, 1000);
    assert.deepEqual(loadRun.malformed, {});
    assert.deepEqual(loadRun.errors, {}, "jobs w1 never claimed ran elsewhere");
    assert.deepEqual(violations, [], "no process ran into a permission its role lacks, in the whole run");
  });
});
