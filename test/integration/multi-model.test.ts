import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { startFakeAnthropic } from "../helpers/fake-anthropic.js";
import { startFakeOpenAI } from "../helpers/fake-openai.js";
import { postJson } from "../helpers/http.js";
import { adminWorkers } from "../helpers/metrics.js";
import { useHarness } from "../helpers/stack.js";

interface Completion {
  model: string;
  choices: { message: { content: string }; finish_reason: string }[];
}

/** CPU time (user + system) a process has used, in ms, from /proc. */
function cpuMs(pid: number): number {
  // Fields after the ")" of the command name: state is field 3, utime 14, stime 15 (1-based).
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

const messages = [{ role: "user", content: "alpha beta gamma" }];

// One worker process serving a local model and two relay models at once, as a real deployment's "cloud" worker does.
describe("a worker serving several models", () => {
  const harness = useHarness();

  test("sim, openai-http and anthropic in one worker: idle costs ~0% CPU, it stays live, and serves each model", async () => {
    const openai = await startFakeOpenAI();
    const anthropic = await startFakeAnthropic();
    harness.defer(() => openai.close());
    harness.defer(() => anthropic.close());
    process.env.MULTI_OPENAI_KEY = "sk-multi-openai";
    process.env.MULTI_ANTHROPIC_KEY = "sk-ant-multi";
    const cfg = harness.config({
      workers: [{
        name: "mixed", slots: 4,
        models: [
          { id: "local", engine: "sim" },
          { id: "cloud/gpt", engine: "openai-http", options: { baseUrl: openai.url, upstreamModel: "gpt-up", apiKeyEnv: "MULTI_OPENAI_KEY" } },
          { id: "cloud/claude", engine: "anthropic", options: { baseUrl: anthropic.url, upstreamModel: "claude-up", apiKeyEnv: "MULTI_ANTHROPIC_KEY" } },
        ],
      }],
    });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "mixed");
    for (const m of ["local", "cloud/gpt", "cloud/claude"]) await waitForModel(gw.url, m);
    const pid = w.child.pid as number;

    // Idle: over 3 s (10 heartbeat periods at the tests' 300 ms), well under 5% of a core.
    const t0 = performance.now();
    const c0 = cpuMs(pid);
    await new Promise((r) => setTimeout(r, 3000));
    const share = (cpuMs(pid) - c0) / (performance.now() - t0);
    console.log(`# idle worker with 3 models: ${(share * 100).toFixed(1)}% of a core`);
    assert.ok(share < 0.05, `idle CPU ${(share * 100).toFixed(1)}% of a core`);

    // Still live: its heartbeats kept coming while idle.
    const workers = await adminWorkers(gw.url);
    assert.equal(workers.length, 1);
    assert.deepEqual(workers[0]?.models.map((m) => m.model).sort(), ["cloud/claude", "cloud/gpt", "local"]);

    for (const model of ["local", "cloud/gpt", "cloud/claude", "local", "cloud/claude", "cloud/gpt"]) {
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model, messages, max_tokens: 5 });
      const body = (await res.json()) as Completion;
      assert.equal(res.status, 200, `${model}: ${JSON.stringify(body)}`);
      assert.ok(body.choices[0]?.message.content, `${model} answered`);
    }
    assert.equal(openai.requests.length, 2);
    assert.equal(anthropic.requests.length, 2);

    // Several at once across the models, more than the slots: every one completes.
    const all = await Promise.all(Array.from({ length: 24 }, (_, i) =>
      postJson(`${gw.url}/v1/chat/completions`, { model: ["local", "cloud/gpt", "cloud/claude"][i % 3], messages, max_tokens: 3 }).then((r) => r.status)));
    assert.deepEqual(all, Array(24).fill(200));

    // Idle again after the burst: the pull loop has gone quiet, not spinning.
    await waitFor(async () => (await adminWorkers(gw.url))[0]?.in_flight === 0, "the worker to report no jobs in flight");
    const c1 = cpuMs(pid);
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    const after = (cpuMs(pid) - c1) / (performance.now() - t1);
    assert.ok(after < 0.05, `idle CPU after a burst ${(after * 100).toFixed(1)}% of a core`);
  });

  test("SIGTERM on an idle worker with several models exits within its drain bound", async () => {
    const cfg = harness.config({
      workers: [{ name: "three", drainTimeoutMs: 1000, models: [{ id: "a", engine: "sim" }, { id: "b", engine: "sim" }, { id: "c", engine: "sim" }] }],
    });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "three");
    await waitForModel(gw.url, "c");
    const t0 = Date.now();
    w.child.kill("SIGTERM");
    const code = await w.exited;
    const took = Date.now() - t0;
    console.log(`# SIGTERM to exit: ${took} ms`);
    assert.equal(code, 0);
    assert.ok(took < 1000 + 5000, `exited after ${took} ms`);
  });

  test("SIGTERM with a job still running aborts it at drainTimeoutMs and exits in bound", async () => {
    const cfg = harness.config({
      workers: [{ name: "busy", drainTimeoutMs: 500, models: [{ id: "slow1", engine: "sim", options: { itlMs: 100, outputTokens: 10_000 } }, { id: "other", engine: "sim" }] }],
    });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "busy");
    await waitForModel(gw.url, "slow1");
    const pending = postJson(`${gw.url}/v1/chat/completions`, { model: "slow1", messages });
    await waitFor(async () => (await adminWorkers(gw.url))[0]?.in_flight === 1, "the job to be running");
    const t0 = Date.now();
    w.child.kill("SIGTERM");
    const code = await w.exited;
    const took = Date.now() - t0;
    assert.equal(code, 0);
    assert.ok(took < 500 + 5000, `exited after ${took} ms`);
    const res = await pending;
    const body = (await res.json()) as { error?: { code: string } };
    assert.equal(res.status, 503, JSON.stringify(body));
    assert.equal(body.error?.code, "shutting_down");
  });
});
