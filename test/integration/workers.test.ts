import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { spawnWorker, waitFor, waitForModel } from "../helpers/broker.js";
import { joinChoices, parseSse, postJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const messages = [{ role: "user", content: "hello" }];

/** Reads an SSE response until `n` data events arrived; returns the raw text so far and the reader. */
async function readEvents(res: Response, n: number): Promise<{ raw: string; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let raw = "";
  while ((raw.match(/\n\n/g) ?? []).length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    raw += dec.decode(value, { stream: true });
  }
  return { raw, reader };
}

async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>, raw: string): Promise<string> {
  const dec = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return raw;
    raw += dec.decode(value, { stream: true });
  }
}

// Each test gets its own prefix, gateway and worker processes on one nats-server.
describe("workers: slots, drain and queueing", () => {
  const harness = useHarness();

  async function stack(raw: Record<string, unknown>, startWorkers = true): Promise<{ cfg: Config; gw: GatewayHandle }> {
    const cfg = harness.config(raw);
    const gw = await harness.gateway(cfg);
    if (startWorkers) {
      for (const w of cfg.workers) {
        harness.worker(cfg, w.name);
      }
    }
    return { cfg, gw };
  }

  test("a client that disconnects mid-stream frees the worker's slot", async () => {
    const { gw } = await stack({
      workers: [{ name: "one-slot", slots: 1, models: [{ id: "slow", engine: "sim", options: { itlMs: 50, outputTokens: 400 } }] }],
    });
    await waitForModel(gw.url, "slow");
    const ac = new AbortController();
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: "slow", messages, stream: true }, {}, ac.signal);
    await readEvents(res, 2);
    const abortedAt = Date.now();
    ac.abort();
    // The only slot must be free again long before the 20 s the first job would take.
    const next = await postJson(`${gw.url}/v1/chat/completions`, { model: "slow", messages, max_tokens: 2 });
    const body = (await next.json()) as { choices: { finish_reason: string }[] };
    const freedMs = Date.now() - abortedAt;
    assert.equal(next.status, 200);
    assert.equal(body.choices[0]?.finish_reason, "length");
    console.log(`# slot reused ${freedMs} ms after the client disconnected (includes the next job's ~100 ms run)`);
    assert.ok(freedMs < 5000, `slot freed in ${freedMs} ms`);
  });

  test("a SIGTERMed worker finishes its open streams, then exits 0", async () => {
    const { cfg, gw } = await stack({
      workers: [{ name: "drainer", slots: 2, models: [{ id: "drain-me", engine: "sim", options: { itlMs: 20, outputTokens: 60 } }] }],
    }, false);
    const p = spawnWorker(cfg, "drainer");
    await waitForModel(gw.url, "drain-me");
    const opened = await Promise.all([0, 1].map(async (i) => {
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model: "drain-me", messages, stream: true, seed: i });
      return { res, ...(await readEvents(res, 2)) };
    }));
    p.child.kill("SIGTERM");
    const finished = await Promise.all(opened.map((o) => readRest(o.reader, o.raw)));
    for (const raw of finished) {
      const { events, done } = parseSse(raw);
      assert.ok(done, "stream ended with [DONE]");
      const c = joinChoices(events).get(0);
      assert.equal(c?.finish, "stop");
      assert.ok(events.every((e) => !("error" in e)), "no error event");
    }
    assert.equal(await p.exited, 0, `worker exit code (output: ${p.output()})`);
    // A drained worker is no longer listed.
    await waitFor(async () => {
      const list = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: { id: string }[] };
      return !list.data.some((m) => m.id === "drain-me");
    }, "drained worker to leave /v1/models");
  });

  test("jobs queued while no worker is up are served when one starts", async () => {
    const { cfg, gw } = await stack({
      gateway: { models: [{ id: "later", queueWithoutWorkers: true }] },
      workers: [{ name: "late", slots: 2, models: [{ id: "later", engine: "sim", options: { outputTokens: 5 } }] }],
    }, false);
    const pending = [0, 1, 2, 3].map((i) => postJson(`${gw.url}/v1/chat/completions`, { model: "later", messages, seed: i }));
    let settled = false;
    void Promise.all(pending).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(settled, false, "requests wait in the queue while no worker is up");
    harness.worker(cfg, "late");
    const results = await Promise.all(pending);
    for (const r of results) {
      assert.equal(r.status, 200);
      const body = (await r.json()) as { usage: { completion_tokens: number } };
      assert.equal(body.usage.completion_tokens, 5);
    }
  });
});
