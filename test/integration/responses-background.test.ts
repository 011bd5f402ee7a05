import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import OpenAI, { NotFoundError, BadRequestError } from "openai";
import type { ResponseStreamEvent, Response as OpenAIResponse } from "openai/resources/responses/responses";
import type { Config } from "../../config/config.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitFor, waitForModel } from "../helpers/broker.js";
import { useHarness } from "../helpers/stack.js";

const FAST = "sim-bg-fast";
const SLOW = "sim-bg-slow";
const FAST_TOKENS = 40;

type Status = OpenAIResponse["status"];

/** Polls the response until it has ended (any status but queued and in_progress). */
async function ended(client: OpenAI, id: string): Promise<OpenAIResponse> {
  return waitFor(async () => {
    const r = await client.responses.retrieve(id);
    return r.status === "queued" || r.status === "in_progress" ? undefined : r;
  }, `response ${id} to end`, 30_000);
}

async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const out: ResponseStreamEvent[] = [];
  for await (const ev of stream) out.push(ev);
  return out;
}

const textOf = (r: OpenAIResponse): string => r.output.flatMap((i) => (i.type === "message" ? i.content : [])).map((p) => (p.type === "output_text" ? p.text : "")).join("");

// Background responses over two gateway replicas (A and B) on one NATS and one worker process:
// the job belongs to its event log in JetStream, so B answers for what A started, also once A is gone.
describe("background responses (/v1/responses with background: true)", () => {
  const h = useHarness();
  let a: GatewayHandle;
  let b: GatewayHandle;
  let viaA: OpenAI;
  let viaB: OpenAI;
  let cfg: Config;

  before(async () => {
    cfg = h.config({
      workers: [{
        name: "w", slots: 3,
        models: [
          { id: FAST, engine: "sim", options: { outputTokens: FAST_TOKENS, itlMs: 2 } },
          // One slot: a cancel that frees it shows as the next job running.
          { id: SLOW, engine: "sim", options: { outputTokens: 5000, itlMs: 20 } },
        ],
      }],
    });
    h.worker(cfg, "w");
    a = await h.gateway(cfg);
    b = await h.gateway(cfg);
    await waitForModel(a.url, SLOW);
    await waitForModel(b.url, SLOW);
    viaA = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: "unused", maxRetries: 0 });
    viaB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });

  test("create returns at once, queued or in progress; polling another replica finds it completed", async () => {
    const r = await viaA.responses.create({ model: FAST, input: "Say something", background: true });
    assert.match(r.id, /^resp_/);
    assert.equal(r.background, true);
    assert.ok((["queued", "in_progress"] as Status[]).includes(r.status), r.status);
    const done = await ended(viaB, r.id);
    assert.equal(done.status, "completed");
    assert.equal(done.usage?.output_tokens, FAST_TOKENS);
    assert.ok(textOf(done).length > 0);
    // The same from A: the stored copy now holds the whole answer.
    assert.deepEqual(await viaA.responses.retrieve(r.id), done);
    // And a follow-up turn continues from it, its answer in the conversation.
    const next = await viaB.responses.create({ model: FAST, input: "And more", previous_response_id: r.id });
    assert.equal(next.status, "completed");
  });

  test("a background stream, then a resume on another replica from event N: exactly the events after N, identical", async () => {
    const stream = await viaA.responses.create({ model: FAST, input: "Stream it", background: true, stream: true });
    const all = await collect(stream);
    const seqs = all.map((e) => e.sequence_number);
    assert.deepEqual(seqs, seqs.map((_, i) => i), "sequence numbers 0, 1, 2, … with no gap");
    assert.equal(all[0]?.type, "response.created");
    assert.equal(all[all.length - 1]?.type, "response.completed");
    const id = all[0]?.type === "response.created" ? all[0].response.id : "";
    const n = Math.floor(all.length / 2);
    const resumed = await collect(await viaB.responses.retrieve(id, { stream: true, starting_after: n }));
    assert.deepEqual(resumed, all.slice(n + 1), "the replay after N equals the original events after N");
    // The SDK's helper for the same resume, with its final response.
    const s = viaB.responses.stream({ response_id: id, starting_after: 3 });
    const final = await s.finalResponse();
    assert.equal(final.status, "completed");
    assert.equal(textOf(final), textOf(await viaA.responses.retrieve(id)));
  });

  test("a resume while the job still runs replays what is logged, then follows it live to the end", async () => {
    const r = await viaA.responses.create({ model: SLOW, input: "Long", background: true, max_output_tokens: 150 });
    const events = await collect(await viaB.responses.retrieve(r.id, { stream: true, starting_after: 1 }));
    assert.equal(events[0]?.sequence_number, 2);
    const last = events[events.length - 1];
    assert.equal(last?.type, "response.incomplete");
    assert.equal((await viaA.responses.retrieve(r.id)).incomplete_details?.reason, "max_output_tokens");
  });

  test("cancel from another replica: cancelled, idempotent, and the worker's only slot is free again", async () => {
    const r = await viaA.responses.create({ model: SLOW, input: "Never ends", background: true });
    await waitFor(async () => (await viaB.responses.retrieve(r.id)).output.length > 0, "output before the cancel");
    const c = await viaB.responses.cancel(r.id);
    assert.equal(c.status, "cancelled");
    const again = await viaA.responses.cancel(r.id);
    assert.equal(again.status, "cancelled");
    assert.equal((await viaA.responses.retrieve(r.id)).status, "cancelled");
    // The slot the cancelled job held takes the next job (5,000 tokens × 20 ms would hold it for 100 s).
    const next = await viaA.responses.create({ model: SLOW, input: "Next", background: true, max_output_tokens: 3 });
    assert.equal((await ended(viaB, next.id)).status, "incomplete");
  });

  test("the gateway that queued it closes: the job still runs and another replica answers for it", async () => {
    const c = await h.gateway(cfg);
    await waitForModel(c.url, SLOW);
    const viaC = new OpenAI({ baseURL: `${c.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const r = await viaC.responses.create({ model: SLOW, input: "Orphan", background: true, max_output_tokens: 60 });
    await c.close();
    const done = await ended(viaB, r.id);
    assert.equal(done.status, "incomplete");
    assert.equal(done.usage?.output_tokens, 60);
  });

  test("a background response queued with no worker survives a nats-server restart, then runs to its end", async () => {
    const solo = h.config({ workers: [{ name: "late", slots: 1, models: [{ id: "sim-bg-late", engine: "sim", options: { outputTokens: 7 } }] }], gateway: { models: [{ id: "sim-bg-late", queueWithoutWorkers: true }] } });
    const g = await h.gateway(solo);
    const via = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const r = await via.responses.create({ model: "sim-bg-late", input: "Wait for me", background: true });
    assert.equal(r.status, "queued");
    const serverBefore = h.nats.pid;
    await h.nats.restart();
    assert.notEqual(h.nats.pid, serverBefore, "a new nats-server process, on the same store");
    // Only now a worker: the job, its log and the stored response all came through the restart on disk.
    h.worker(solo, "late");
    const done = await waitFor(async () => {
      const now = await via.responses.retrieve(r.id).catch(() => undefined);
      return now && now.status !== "queued" && now.status !== "in_progress" ? now : undefined;
    }, "the response to end after the restart", 30_000);
    assert.equal(done.status, "completed");
    assert.equal(done.usage?.output_tokens, 7);
  });

  test("wrong uses: cancel or stream of a foreground response, a bad starting_after, an unknown id", async () => {
    const fg = await viaA.responses.create({ model: FAST, input: "Now" });
    await assert.rejects(viaA.responses.cancel(fg.id), (e: unknown) => e instanceof BadRequestError && /background/.test(e.message));
    await assert.rejects(async () => collect(await viaA.responses.retrieve(fg.id, { stream: true })), (e: unknown) => e instanceof BadRequestError);
    const bg = await viaA.responses.create({ model: FAST, input: "Bg", background: true });
    const bad = await fetch(`${a.url}/v1/responses/${bg.id}?stream=true&starting_after=-3`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { param: string } }).error.param, "starting_after");
    await assert.rejects(viaB.responses.cancel("resp_nothing"), (e: unknown) => e instanceof NotFoundError);
  });
});
