import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { postJson } from "../helpers/http.js";
import { startNats } from "../helpers/nats.js";
import { childPids, cmdline, isAlive } from "../helpers/procs.js";
import { useHarness } from "../helpers/stack.js";
import { spawnUp, startUp, type UpProcess } from "../helpers/up.js";

// Real processes are stopped, frozen and killed here: every wait is bounded, and whatever an
// assertion leaves running is killed in after().

/** A worker's own deadline past drainTimeoutMs, and the supervisor's (scripts/shutdown.ts). */
const WORKER_GRACE_MS = 3000;
const SUPERVISOR_GRACE_MS = 5000;
/** What a loaded 2-core machine may add to a bound. */
const SLACK_MS = 4000;

const simWorker = (name: string, drainTimeoutMs = 30_000) =>
  ({ name, slots: 2, heartbeatMs: 300, drainTimeoutMs, models: [{ id: name, engine: "sim" }] });

const ups = new Set<number>();
const spawned = new Set<number>();
const dirs: string[] = [];
after(() => {
  for (const up of ups) if (isAlive(up)) for (const kid of childPids(up)) spawned.add(kid);
  for (const pid of [...ups, ...spawned]) {
    if (!isAlive(pid)) continue;
    process.kill(pid, "SIGCONT");
    process.kill(pid, "SIGKILL");
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "broker-life-"));
  dirs.push(d);
  return d;
}

/** Rejects when `p` has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Marks `broker up` and everything it spawned for after() to kill. */
function track(up: UpProcess): void {
  const pid = up.child.pid;
  if (pid !== undefined) ups.add(pid);
}

interface UpChildren {
  nats: number;
  workers: Map<string, number>;
}

/** The nats-server and worker processes of a `broker up`, once all of them run. */
async function upChildren(up: UpProcess, workers: string[]): Promise<UpChildren> {
  const pid = up.child.pid;
  assert.ok(pid !== undefined);
  return waitFor(() => {
    let nats: number | undefined;
    const found = new Map<string, number>();
    for (const kid of childPids(pid)) {
      spawned.add(kid);
      const cmd = cmdline(kid);
      // The first word: a wrapper such as setpriv names nats-server only in its arguments until it execs.
      if (/^\S*nats-server$/.test(cmd.split(" ")[0] ?? "")) nats = kid;
      const m = / worker --name (\S+)/.exec(cmd);
      if (m?.[1]) found.set(m[1], kid);
    }
    return nats !== undefined && workers.every((w) => found.has(w)) ? { nats, workers: found } : undefined;
  }, "broker up's nats-server and workers", 20_000);
}

describe("broker up: the lifecycle of its children", () => {
  test("kill -9 of broker up: its nats-server and workers exit, and a new broker up starts on the same data dir", async (t) => {
    const dir = tempDir();
    const cfg = { workers: [simWorker("a"), simWorker("b")] };
    const first = await startUp(cfg, { dir });
    track(first);
    const kids = await upChildren(first, ["a", "b"]);
    await waitForModel(first.url, "a");
    await waitForModel(first.url, "b");
    const pids = [kids.nats, ...kids.workers.values()];

    const t0 = performance.now();
    first.child.kill("SIGKILL");
    await first.exited;
    await waitFor(() => pids.every((p) => !isAlive(p)), "nats-server and workers to exit after their parent's SIGKILL", 10_000)
      .catch((e: unknown) => assert.fail(`${String(e)}; still running: ${pids.filter(isAlive).map(cmdline).join("; ")}\n${first.output()}`));
    t.diagnostic(`orphans gone ${Math.round(performance.now() - t0)} ms after SIGKILL`);

    // Same ports too: nothing holds them any more.
    const second = await startUp(cfg, { dir, port: first.port, natsPort: first.natsPort });
    track(second);
    await upChildren(second, ["a", "b"]);
    await waitForModel(second.url, "a");
    assert.equal(await second.stop(), 0, second.output());
  });

  test("a second broker up on a data dir in use refuses with one line naming the first, and leaves it running", async () => {
    const dir = tempDir();
    const cfg = { workers: [simWorker("a")] };
    const first = await startUp(cfg, { dir });
    track(first);
    const kids = await upChildren(first, ["a"]);
    await waitForModel(first.url, "a");

    // Other ports, the same data dir: two nats-servers on one JetStream store would corrupt it.
    const second = await spawnUp(cfg, { dir });
    track(second);
    const code = await within(second.exited, 20_000, "the second broker up to exit");
    assert.equal(code, 1, second.output());
    const lines = second.output().trim().split("\n");
    assert.equal(lines.length, 1, second.output());
    assert.match(lines[0] ?? "", new RegExp(`^broker: .*in use by broker up \\(pid ${first.child.pid}\\)`));

    for (const pid of [first.child.pid, kids.nats, ...kids.workers.values()]) assert.ok(pid !== undefined && isAlive(pid), `pid ${pid} still runs`);
    const res = await postJson(`${first.url}/v1/chat/completions`, { model: "a", messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.status, 200);
    assert.equal(await first.stop(), 0, first.output());
  });

  test("a nats port held by another nats-server is a one-line error, not a connection to that server", async () => {
    const other = await startNats();
    try {
      const up = await spawnUp({ workers: [simWorker("a")] }, { dir: tempDir(), natsPort: other.port });
      track(up);
      assert.equal(await within(up.exited, 20_000, "broker up to exit"), 1, up.output());
      const lines = up.output().trim().split("\n");
      assert.equal(lines.length, 1, up.output());
      assert.match(lines[0] ?? "", /^broker: a port is already in use .*NATS_PORT.*$/);
    } finally {
      await other.close();
    }
  });

  test("SIGTERM with a frozen worker: broker up SIGKILLs it by name after its bound, then exits", async (t) => {
    const drainTimeoutMs = 1000;
    const up = await startUp({ workers: [simWorker("frozen", drainTimeoutMs), simWorker("fine", drainTimeoutMs)] }, { dir: tempDir() });
    track(up);
    const kids = await upChildren(up, ["frozen", "fine"]);
    const frozen = kids.workers.get("frozen");
    assert.ok(frozen !== undefined);
    // A stopped process keeps SIGTERM pending: it stands for a worker that ignores it.
    process.kill(frozen, "SIGSTOP");

    const t0 = performance.now();
    up.child.kill("SIGTERM");
    const bound = drainTimeoutMs + SUPERVISOR_GRACE_MS;
    const code = await within(up.exited, bound + 20_000, "broker up to exit");
    const took = performance.now() - t0;
    t.diagnostic(`broker up exited ${Math.round(took)} ms after SIGTERM (bound ${bound} ms + nats-server stop)`);
    assert.equal(code, 1, "a child had to be killed");
    assert.match(up.output(), new RegExp(`worker frozen \\(pid ${frozen}\\)[^\\n]*SIGKILL`), up.output());
    assert.doesNotMatch(up.output(), /worker fine \(pid/, "the other worker drained by itself");
    assert.ok(took < bound + SLACK_MS, `took ${Math.round(took)} ms`);
    await waitFor(() => [kids.nats, ...kids.workers.values()].every((p) => !isAlive(p)), "all children to be gone", 5000);
  });
});

describe("broker worker: drain is bounded", () => {
  const harness = useHarness();

  test("a worker whose drain cannot finish (its nats-server frozen) exits within drainTimeoutMs and a grace", async (t) => {
    const drainTimeoutMs = 1000;
    const cfg = harness.config({ workers: [{ name: "stuck", slots: 1, drainTimeoutMs, models: [{ id: "stuck", engine: "sim" }] }] });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "stuck");
    await waitForModel(gw.url, "stuck");
    const natsPid = harness.nats.pid;
    assert.ok(natsPid !== undefined);
    // A frozen server keeps the TCP connection open and never answers: the final NATS flush waits forever.
    process.kill(natsPid, "SIGSTOP");
    try {
      const t0 = performance.now();
      w.child.kill("SIGTERM");
      const code = await within(w.exited, 60_000, "the worker to exit");
      const took = performance.now() - t0;
      t.diagnostic(`worker exited ${Math.round(took)} ms after SIGTERM (bound ${drainTimeoutMs + WORKER_GRACE_MS} ms)`);
      assert.equal(code, 1, w.output());
      // Either the worker's own close bound or the process's shutdown bound ended it, saying so.
      assert.match(w.output(), /did not close within|shutdown did not finish within/);
      assert.ok(took < drainTimeoutMs + WORKER_GRACE_MS + SLACK_MS, `took ${Math.round(took)} ms`);
    } finally {
      process.kill(natsPid, "SIGCONT");
    }
  });

  test("a second SIGTERM ends a draining worker at once", async () => {
    const cfg = harness.config({
      workers: [{ name: "slow", slots: 1, drainTimeoutMs: 60_000, models: [{ id: "slow", engine: "sim", options: { ttftMs: 60_000 } }] }],
    });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "slow");
    await waitForModel(gw.url, "slow");
    const client = new AbortController();
    const answer = postJson(`${gw.url}/v1/chat/completions`, { model: "slow", messages: [{ role: "user", content: "hi" }] }, {}, client.signal)
      .then(() => "answered", () => "aborted");
    await waitFor(async () => ((await (await fetch(`${gw.url}/metrics`)).text()).match(/^broker_worker_in_flight\{[^}]*\} [1-9]/m)), "the job to run");
    w.child.kill("SIGTERM");
    // Draining workers leave /v1/models: the first signal has been handled.
    await waitFor(async () => !((await (await fetch(`${gw.url}/v1/models`)).json()) as { data: { id: string }[] }).data.some((m) => m.id === "slow"), "the worker to drain");
    const t0 = performance.now();
    w.child.kill("SIGTERM");
    assert.equal(await within(w.exited, 10_000, "the worker to exit"), 1, w.output());
    assert.ok(performance.now() - t0 < 5000);
    // No worker is left to retry the job on: the client gives up.
    client.abort();
    assert.equal(await answer, "aborted");
  });
});
