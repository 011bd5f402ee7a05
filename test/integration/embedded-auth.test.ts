import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { subjects } from "../../contract/mod.js";
import { inboxPrefix } from "../../nats/mod.js";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { postJson } from "../helpers/http.js";
import { childPids, cmdline } from "../helpers/procs.js";
import { freePort } from "../helpers/nats.js";
import { startUp, type Up } from "../helpers/up.js";
import { violations } from "../helpers/violations.js";

const CLI = fileURLToPath(new URL("../../scripts/broker.js", import.meta.url));
const workers = [{ name: "sim", slots: 2, heartbeatMs: 300, models: [{ id: "sim", engine: "sim" }] }];
const s = subjects("infer");

/** The env of a process started by hand: no NATS URL or credentials, so it finds broker up's own. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ...extra };
  for (const k of ["NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_PASSWORD_FILE", "NATS_TOKEN", "NATS_NKEY", "NATS_CREDS", "BROKER_CONFIG"]) delete env[k];
  return env;
}

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: bareEnv() });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  return { code, out };
}

// `broker up`'s embedded nats-server takes no anonymous client: the gateway, each worker and the
// operator have their own user, with passwords under <dataDir>/credentials that outlive a restart.
describe("broker up's embedded nats-server: per-role users with generated passwords", () => {
  const dir = mkdtempSync(join(tmpdir(), "broker-embedded-auth-"));
  const creds = join(dir, "nats", "credentials");
  const pw = (user: string) => readFileSync(join(creds, `${user}.password`), "utf8").trim();
  let up: Up;
  // nats.url names the embedded port, as a config shared by `broker up` and processes started by hand would.
  let cfg: Record<string, unknown>;
  const conns: NatsConnection[] = [];
  const kids: { kill(): void }[] = [];
  const natsAs = async (user: string, inbox?: string): Promise<NatsConnection> => {
    const nc = await connect({ servers: `127.0.0.1:${up.natsPort}`, user, pass: pw(user), timeout: 2000, ...(inbox ? { inboxPrefix: inbox } : {}) });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    const natsPort = await freePort();
    cfg = { nats: { url: `nats://127.0.0.1:${natsPort}` }, workers };
    up = await startUp(cfg, { dir, natsPort });
    await waitForModel(up.url, "sim").catch((e: unknown) => assert.fail(`${String(e)}\n${up.output()}`));
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    for (const k of kids) k.kill();
    await up?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("an anonymous connection to its port is refused", async () => {
    await assert.rejects(connect({ servers: `127.0.0.1:${up.natsPort}`, timeout: 2000 }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: `127.0.0.1:${up.natsPort}`, user: "gateway", pass: "guessed", timeout: 2000 }), /Authorization Violation/i);
  });

  test("the passwords are files only their owner reads: 0600 in a 0700 dir, and the server config too", () => {
    assert.equal(statSync(creds).mode & 0o777, 0o700);
    for (const user of ["gateway", "worker-sim", "admin"]) {
      assert.equal(statSync(join(creds, `${user}.password`)).mode & 0o777, 0o600, user);
      assert.match(pw(user), /^[A-Za-z0-9_-]{32}$/, user);
    }
    assert.equal(statSync(join(dir, "nats", "nats-server.conf")).mode & 0o777, 0o600);
    // Nothing of them in broker up's output.
    for (const user of ["gateway", "worker-sim", "admin"]) assert.ok(!up.output().includes(pw(user)), user);
  });

  test("the worker gets its user and its password file's path, never the password, in env or argv", () => {
    const worker = childPids(up.child.pid ?? 0).find((pid) => / worker --name sim/.test(cmdline(pid)));
    assert.ok(worker !== undefined, "the worker process");
    const env = readFileSync(`/proc/${worker}/environ`, "utf8").split("\0");
    assert.ok(env.includes("NATS_USER=worker-sim"));
    assert.ok(env.includes(`NATS_PASSWORD_FILE=${join(creds, "worker-sim.password")}`));
    for (const text of [...env, cmdline(worker)]) assert.ok(!text.includes(pw("worker-sim")));
  });

  test("the gateway and the worker, each as its own user, serve a chat completion", async () => {
    const res = await postJson(`${up.url}/v1/chat/completions`, { model: "sim", messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.status, 200, await res.clone().text());
    assert.doesNotMatch(up.output(), /Permissions Violation|nats error/i);
  });

  test("the worker's user may not publish a job nor read replies", async () => {
    const nc = await natsAs("worker-sim", inboxPrefix.worker("sim"));
    const refused = violations(nc);
    const job = s.job("sim");
    await assert.rejects(jetstream(nc, { timeout: 1000 }).publish(job, "forged"));
    await refused("publish", job);
    const sub = nc.subscribe("infer.out.>");
    await refused("subscription", "infer.out.>");
    assert.ok((await sub.closed) instanceof PermissionViolationError);
  });

  test("the admin user may do both, and use the JetStream API (as the nats CLI does)", async () => {
    const nc = await natsAs("admin");
    const replies = nc.subscribe("infer.out.>", { max: 1 });
    nc.publish("infer.out.probe.x", "seen");
    for await (const m of replies) assert.equal(m.string(), "seen");
    // A model no worker serves: the job stays queued, harmlessly.
    const ack = await jetstream(nc).publish(s.job("nobody"), "admin");
    assert.equal(ack.stream, s.stream);
    const names: string[] = [];
    for await (const n of (await jetstreamManager(nc)).streams.names()) names.push(n);
    assert.ok(names.includes(s.stream), names.join(", "));
  });

  test("broker keys and broker usage, with the same config and no NATS env, log in as the gateway", async () => {
    const config = join(dir, `broker-${up.port}.json`);
    const created = await cli(["keys", "create", "--name", "embedded-ci", "--config", config]);
    assert.equal(created.code, 0, created.out);
    const list = await cli(["keys", "list", "--config", config]);
    assert.equal(list.code, 0, list.out);
    assert.match(list.out, /embedded-ci/);
    const usage = await cli(["usage", "--config", config]);
    assert.equal(usage.code, 0, usage.out);
  });

  test("a gateway started on its own against it finds its password and serves", async () => {
    const port = await freePort();
    const gw = spawn(process.execPath, [CLI, "gateway", "--config", join(dir, `broker-${up.port}.json`)], { stdio: ["ignore", "pipe", "pipe"], env: bareEnv({ PORT: String(port) }) });
    kids.push({ kill: () => gw.kill("SIGKILL") });
    let out = "";
    gw.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      if (gw.exitCode !== null) throw new Error(`broker gateway exited: ${out}`);
      return (await fetch(`${url}/readyz`).catch(() => undefined))?.ok;
    }, "the second gateway to be ready", 15_000);
    await waitForModel(url, "sim");
    const res = await postJson(`${url}/v1/chat/completions`, { model: "sim", messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.status, 200, `${await res.text()}\n${out}`);
    gw.kill("SIGTERM");
    await new Promise((r) => gw.once("exit", r));
  });

  test("a second broker up on the same data dir keeps the passwords, and makes one for a worker added since", async () => {
    const before = Object.fromEntries(["gateway", "worker-sim", "admin"].map((u) => [u, pw(u)]));
    for (const nc of conns.splice(0)) await nc.close();
    assert.equal(await up.stop(), 0, up.output());
    const added = { ...workers[0], name: "sim2", models: [{ id: "sim2", engine: "sim" }] };
    up = await startUp({ ...cfg, workers: [...workers, added] }, { dir, port: up.port, natsPort: up.natsPort });
    await waitForModel(up.url, "sim");
    await waitForModel(up.url, "sim2");
    for (const [user, p] of Object.entries(before)) assert.equal(pw(user), p, user);
    assert.equal(statSync(join(creds, "worker-sim2.password")).mode & 0o777, 0o600);
    for (const model of ["sim", "sim2"]) {
      const res = await postJson(`${up.url}/v1/chat/completions`, { model, messages: [{ role: "user", content: "hi" }] });
      assert.equal(res.status, 200, model);
    }
    // A client that kept the password from the first run still gets in.
    const nc = await natsAs("admin");
    await nc.flush();
  });
});
