import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError } from "../../contract/errors.js";
import { bearerOf, openRoute } from "../../core/route.js";
import type { RoutePlan, RouteTarget } from "../../core/routes.js";
import { JobStream } from "../../jobs/job-stream.js";
import type { JobRequest, SubmitOptions } from "../../jobs/submit.js";

const target = (publicId: string, over: Partial<RouteTarget> = {}): RouteTarget => ({
  publicId, model: publicId, upstreamModel: "", passthroughKey: false, queueWithoutWorkers: false, maxQueueWaitMs: 0, live: true, ...over,
});
const plan = (targets: RouteTarget[], fallback: Partial<RoutePlan["fallback"]> = {}): RoutePlan => ({
  route: "r", targets, fallback: { onNoWorker: true, onQueueWaitMs: 0, onError: true, ...fallback },
});
const request: JobRequest = { chat: { messages: [{ role: "user", content: "x" }] } };

/** A stand-in JobClient: each model's job fails with the given error or answers with one delta. */
function fakeJobs(fails: Record<string, BrokerError> = {}) {
  const submitted: { model: string; opts: SubmitOptions }[] = [];
  const cancelled: string[] = [];
  return {
    submitted,
    cancelled,
    submit: async (model: string, _req: JobRequest, opts: SubmitOptions = {}): Promise<JobStream> => {
      submitted.push({ model, opts });
      const job = new JobStream(`job-${model}`, (id) => cancelled.push(id));
      const err = fails[model];
      setImmediate(() => (err ? job.fail(err) : job.push({ kind: "deltas", items: [{ index: 0, content: model }] })));
      return job;
    },
  };
}

const opts = (over: Partial<Parameters<typeof openRoute>[3]> = {}): Parameters<typeof openRoute>[3] => ({
  requestId: "req", lane: "normal", timeoutMs: () => 5000, bearer: undefined, signal: new AbortController().signal, ...over,
});

describe("gRPC routing (openRoute)", () => {
  test("an error before the first output moves on to the next target, with the route's settings", async () => {
    const jobs = fakeJobs({ a: new BrokerError("upstream_error", "boom") });
    const o = await openRoute(jobs, plan([target("a"), target("b", { upstreamModel: "up-b" })]), request, opts());
    assert.equal(o.target.publicId, "b");
    assert.deepEqual(o.first, { kind: "deltas", items: [{ index: 0, content: "b" }] });
    assert.equal(jobs.submitted[1]?.opts.upstreamModel, "up-b");
    assert.equal(jobs.submitted[1]?.opts.timeoutMs, 5000);
    assert.equal(jobs.submitted[1]?.opts.requestId, "req");
  });

  test("no fallback on a client error, nor when the route forbids it", async () => {
    await assert.rejects(openRoute(fakeJobs({ a: new BrokerError("invalid_request", "bad") }), plan([target("a"), target("b")]), request, opts()), { code: "invalid_request" });
    await assert.rejects(openRoute(fakeJobs({ a: new BrokerError("upstream_error", "boom") }), plan([target("a"), target("b")], { onError: false }), request, opts()), { code: "upstream_error" });
  });

  test("targets nobody serves are skipped; the last one is a 503 unless it may queue", async () => {
    const jobs = fakeJobs();
    const o = await openRoute(jobs, plan([target("down", { live: false }), target("up")]), request, opts());
    assert.equal(o.target.publicId, "up");
    await assert.rejects(openRoute(jobs, plan([target("down", { live: false })]), request, opts()), { code: "model_unavailable", status: 503 });
    const queued = await openRoute(jobs, plan([target("later", { live: false, queueWithoutWorkers: true, maxQueueWaitMs: 900 })]), request, opts());
    assert.equal(queued.target.publicId, "later");
    assert.equal(jobs.submitted.at(-1)?.opts.maxQueueWaitMs, 900);
  });

  test("a passthrough route needs the caller's bearer key and sends it only with the job", async () => {
    const jobs = fakeJobs();
    const byok = plan([target("byok/x", { passthroughKey: true })]);
    await assert.rejects(openRoute(jobs, byok, request, opts()), { code: "invalid_api_key", status: 401 });
    await openRoute(jobs, byok, request, opts({ bearer: bearerOf("Bearer sk-123") }));
    assert.equal(jobs.submitted.at(-1)?.opts.upstreamKey, "sk-123");
    assert.equal(bearerOf("Basic abc"), undefined);
    assert.equal(bearerOf(Buffer.from("x")), undefined);
  });

  test("an abort cancels the open job, before or after its first output", async () => {
    const jobs = fakeJobs();
    const ac = new AbortController();
    const o = await openRoute(jobs, plan([target("a")]), request, opts({ signal: ac.signal }));
    ac.abort();
    assert.deepEqual(jobs.cancelled, [o.job.id]);
    const early = new AbortController();
    early.abort();
    await assert.rejects(openRoute(fakeJobs(), plan([target("a")]), request, opts({ signal: early.signal })));
  });
});
