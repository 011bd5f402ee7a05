import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../../config/config.js";
import { decodeJob, encodeChunk, pb, REASSIGNED, subjects, Verdict, type ChunkInit, type InferenceJob } from "../../contract/mod.js";
import { connectNats, ensureJobConsumer, ensureJobStream } from "../../nats/mod.js";
import { createLogger } from "../../ops/mod.js";
import { Puller, type JobMsg } from "../../workers/puller.js";
import { waitFor } from "../helpers/broker.js";
import { postJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const MODEL = "gappy";
const messages = [{ role: "user", content: "hi" }];

/**
 * Chunks go over core NATS: a server that dies takes the ones in flight with
 * it, and the gateway sees a hole in the sequence. Played here by a worker
 * made of raw NATS calls that skips a chunk on purpose.
 */
describe("chunks lost in transit", () => {
  const harness = useHarness();

  /** A hand-made worker: it takes a job, claims it, and sends the chunks it is told to. */
  async function rawWorker(cfg: Config) {
    const log = createLogger("raw-worker", "silent");
    const nc: NatsConnection = await connectNats(cfg.nats, "raw-worker", log);
    harness.defer(() => nc.close());
    const jsm = await ensureJobStream(nc, cfg, log);
    const consumer = await ensureJobConsumer(jsm, cfg, MODEL, log);
    const puller = new Puller(nc, subjects(cfg.nats.prefix).stream);
    const control = subjects(cfg.nats.prefix).control("raw-1");
    const cancels: string[] = [];
    nc.subscribe(control, { callback: (_e, m) => void cancels.push(pb.Cancel.decode(m.data).reason ?? "") });
    const take = async (): Promise<{ job: InferenceJob; msg: JobMsg }> => {
      let got: JobMsg | undefined;
      await waitFor(async () => {
        await puller.pull(consumer, 1, (m) => (got = m));
        return got !== undefined;
      }, "a job to pull");
      const msg = got as JobMsg;
      return { job: decodeJob(msg.data), msg };
    };
    const claim = async (job: InferenceJob, delivery: number): Promise<Verdict> => {
      const res = await nc.request(job.replySubject, encodeChunk({ jobId: job.id, seq: 0, claim: { workerId: "raw", controlSubject: control, delivery } }), { timeout: 5000 });
      return pb.ClaimAnswer.decode(res.data).verdict ?? Verdict.CANCELLED;
    };
    const send = (job: InferenceJob, delivery: number, chunk: Omit<ChunkInit, "jobId" | "delivery">): void => {
      nc.publish(job.replySubject, encodeChunk({ ...chunk, jobId: job.id, delivery }));
    };
    return { take, claim, send, cancels };
  }

  const config = () => harness.config({ queue: { ackWaitMs: 30_000 }, gateway: { models: [{ id: MODEL, queueWithoutWorkers: true }] } });
  const final = { usage: { promptTokens: 1, completionTokens: 1 }, model: MODEL, deltas: [{ index: 0, content: "whole" }] };

  test("an answer the client has seen none of runs again, and completes", async () => {
    const cfg = config();
    const gw = await harness.gateway(cfg);
    const w = await rawWorker(cfg);
    const answer = postJson(`${gw.url}/v1/chat/completions`, { model: MODEL, messages }, {}, AbortSignal.timeout(30_000));
    const first = await w.take();
    assert.equal(await w.claim(first.job, 1), Verdict.GO);
    // Chunk 1 never arrives: the gateway sees 2 first.
    w.send(first.job, 1, { seq: 2, deltas: { items: [{ index: 0, content: "lost" }] } });
    await waitFor(() => w.cancels.includes(REASSIGNED), "the gateway to give the run back");
    // As a worker does with a run it was told to give back: to the queue at once.
    first.msg.nak();
    const again = await w.take();
    assert.equal(again.job.id, first.job.id);
    assert.equal(again.msg.deliveryCount, 2);
    assert.equal(await w.claim(again.job, 2), Verdict.GO);
    w.send(again.job, 2, { seq: 1, final });
    const res = await answer;
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.choices[0]?.message.content, "whole", "only the second run's text");
    again.msg.ack();
  });

  test("a stream the client has seen part of ends with stream_interrupted", async () => {
    const cfg = config();
    const gw = await harness.gateway(cfg);
    const w = await rawWorker(cfg);
    // SSE headers go out with the first output: the response resolves once a chunk came.
    const response = fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: MODEL, messages, stream: true }), signal: AbortSignal.timeout(30_000) });
    const { job, msg } = await w.take();
    assert.equal(await w.claim(job, 1), Verdict.GO);
    w.send(job, 1, { seq: 1, deltas: { items: [{ index: 0, role: "assistant", content: "part" }] } });
    const res = await response;
    const reader = res.body?.getReader();
    assert.ok(reader);
    let text = "";
    const decoder = new TextDecoder();
    while (!text.includes("part")) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the stream ended early: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    w.send(job, 1, { seq: 3, deltas: { items: [{ index: 0, content: "after a hole" }] } });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    assert.match(text, /"code":"stream_interrupted"/);
    assert.doesNotMatch(text, /after a hole/);
    msg.ack();
  });
});
