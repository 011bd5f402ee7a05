import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type OpenAI from "openai";
import type { MaybeErrorEvent, ModelList, ReadyBody } from "../helpers/bodies.js";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";
import { parseSse, postJson, readJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

// Processes are really killed here; every wait is bounded.
describe("crash safety", () => {
  const harness = useHarness();
  let fake: FakeOpenAI;

  before(async () => {
    fake = await startFakeOpenAI();
    harness.defer(() => fake.close());
  });

  test("kill -9 of a worker: queued jobs run once elsewhere, started streams end with an error, untouched ones restart", async () => {
    const relay = { id: "crashy", engine: "openai-http", options: { baseUrl: fake.url } };
    const cfg = harness.config({
      queue: { ackWaitMs: 2000 },
      workers: [{ name: "a", slots: 2, models: [relay] }, { name: "b", slots: 4, models: [relay] }],
    });
    const gw = await harness.gateway(cfg);
    const a = harness.worker(cfg, "a");
    await waitForModel(gw.url, "crashy");
    fake.requests.length = 0;
    fake.setPace({ ttftMs: 0, itlMs: 400 });
    const chat = `${gw.url}/v1/chat/completions`;
    // Two running on A: one streamed (text reaches its client), one non-stream (nothing reaches its client).
    const streamed = postJson(chat, { model: "crashy", stream: true, messages: [{ role: "user", content: "s0 x" }] }).then((r) => r.text());
    const collected = postJson(chat, { model: "crashy", messages: [{ role: "user", content: "c0 x" }] }).then(async (r) => ({ status: r.status, body: await readJson<OpenAI.ChatCompletion>(r) }));
    await waitFor(() => fake.requests.length === 2, "both jobs running on worker a");
    // Two more wait in JetStream: A has no free slot.
    const queued = [1, 2].map((i) => postJson(chat, { model: "crashy", messages: [{ role: "user", content: `q${i} x` }] }).then((r) => r.status));
    await new Promise((r) => setTimeout(r, 600));
    a.child.kill("SIGKILL");
    await a.exited;
    fake.setPace({});
    harness.worker(cfg, "b");

    const raw = await streamed;
    const { events, done } = parseSse<MaybeErrorEvent>(raw);
    assert.equal(done, false);
    assert.equal(events[events.length - 1]?.error?.code, "worker_lost", raw);
    assert.deepEqual(await Promise.all(queued), [200, 200], "queued jobs completed on the other worker");
    const c = await collected;
    assert.equal(c.status, 200, "a job whose client had seen nothing is retried from scratch");
    assert.equal(c.body.choices[0]?.message.content?.split(" ")[0], "c0", "no text from the first attempt leaks in");

    const runs = (tag: string) => fake.requests.filter((q) => (q.body as { messages: { content: string }[] }).messages[0]?.content.startsWith(tag)).length;
    assert.equal(runs("q1"), 1, "q1 ran exactly once");
    assert.equal(runs("q2"), 1, "q2 ran exactly once");
    assert.equal(runs("s0"), 1, "the broken stream is not re-run after its client got an error");
    assert.equal(runs("c0"), 2, "the untouched job ran again, once");
  });

  test("a worker that stops sending heartbeats leaves /v1/models and readiness", async () => {
    const cfg = harness.config({ workers: [{ name: "sleepy", slots: 1, models: [{ id: "sleepy", engine: "sim" }] }] });
    const gw = await harness.gateway(cfg);
    const w = harness.worker(cfg, "sleepy");
    await waitForModel(gw.url, "sleepy");
    const listed = async () => (await readJson<ModelList>(fetch(`${gw.url}/v1/models`))).data.some((m) => m.id === "sleepy");
    const readyWorkers = async () => (await readJson<ReadyBody>(fetch(`${gw.url}/readyz`))).workers;
    assert.equal(await readyWorkers(), 1);
    w.child.kill("SIGSTOP");
    try {
      await waitFor(async () => !(await listed()), "the silent worker to leave /v1/models", 5000);
      assert.equal(await readyWorkers(), 0);
      assert.equal((await postJson(`${gw.url}/v1/chat/completions`, { model: "sleepy", messages: [{ role: "user", content: "x" }] })).status, 404);
    } finally {
      w.child.kill("SIGCONT");
    }
    await waitForModel(gw.url, "sleepy", 5000);
  });
});
