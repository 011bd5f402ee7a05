import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KeyRecord } from "../../access/keys.js";
import { type LimitScope, type Lookup, type RateLimitView, type UsageEvent } from "../../access/mod.js";
import { compile } from "../../access/principal.js";
import { estimatePromptTokens, Lane, type ChatRequest } from "../../contract/mod.js";
import { Guard, InferenceService, type InputLimits, type ModelDirectory, type RoutePlan } from "../../core/mod.js";
import { parseCountTokensRequest } from "../../http/anthropic/count-tokens-request.js";
import { JobStream } from "../../jobs/job-stream.js";
import type { JobRequest } from "../../jobs/mod.js";

const LIMITS: InputLimits = { maxMessages: 100, maxInputChars: 100_000, maxJsonDepth: 32, maxN: 8, maxTokens: 100_000, maxTools: 64 };
const body = (over: Record<string, unknown> = {}) => ({ model: "m", messages: [{ role: "user", content: "Hello there, how are you?" }], ...over });

const VIEW: RateLimitView = { limitTokens: 1000, remainingTokens: 1000 };
const plan = (model: string): RoutePlan => ({
  route: model,
  targets: [{ publicId: model, model, upstreamModel: "", passthroughKey: false, queueWithoutWorkers: false, maxQueueWaitMs: 0, live: true }],
  fallback: { onNoWorker: false, onQueueWaitMs: 0, onError: false },
});
const routes: ModelDirectory = { plan, list: () => [], servedModels: () => [] };

/** A service over a job owner whose worker counts 42 tokens, and a key with limits that may use model "m" only. */
function setup() {
  const submitted: JobRequest[] = [];
  const estimates: number[] = [];
  const settled: unknown[] = [];
  const usage: UsageEvent[] = [];
  const record = KeyRecord.parse({ id: "abcdef123456", name: "k", hash: "0".repeat(64), hint: "sk-brk-x…", models: ["m"], maxPriority: "normal", tpm: 1000, createdAt: new Date(0).toISOString() });
  const guard = new Guard({
    upstreamKeyHeader: "x-upstream-authorization",
    keys: { lookup: (secret: string): Lookup => (secret === "good" ? { state: "ok", principal: compile(record) } : { state: "unknown" }) },
    limits: {
      admit: (_s: LimitScope[], est: number) => (estimates.push(est), { view: VIEW, end: (u) => void settled.push(u) }),
      peek: () => VIEW,
    },
    usage: { record: (e: UsageEvent) => void usage.push(e) },
  });
  const jobs = {
    connected: true,
    submit: async (model: string, request: JobRequest): Promise<JobStream> => {
      submitted.push(request);
      const job = new JobStream(`job-${model}`, () => undefined);
      setImmediate(() => job.push({ kind: "final", final: { usage: { promptTokens: 42, completionTokens: 0 }, model } }));
      return job;
    },
  };
  return { service: new InferenceService(jobs, routes, guard), submitted, estimates, settled, usage };
}

const ctx = (bearer: string) => ({ requestId: "r", lane: Lane.normal, bearer, signal: new AbortController().signal });

describe("count_tokens", () => {
  test("the body: Anthropic's count fields only, mapped as the Messages request maps them", () => {
    const call = parseCountTokensRequest(body({ system: "Be brief." }), LIMITS);
    assert.equal(call.model, "m");
    assert.deepEqual(call.chat.messages?.map((m) => [m.role, m.content]), [["system", "Be brief."], ["user", "Hello there, how are you?"]]);
    const refused = (b: unknown, param: string | null, message: RegExp): void =>
      assert.throws(() => parseCountTokensRequest(b, LIMITS), (e: unknown) => e instanceof Error && "param" in e && e.param === param && message.test(e.message));
    refused(body({ max_tokens: 10 }), "max_tokens", /^max_tokens: Extra inputs are not permitted$/);
    refused(body({ stream: true }), "stream", /Extra inputs are not permitted/);
    refused({ messages: body().messages }, "model", /^model: Field required$/);
    refused(body({ messages: [] }), "messages", /non-empty/);
    refused([], null, /JSON object/);
  });

  test("the chat input limits apply to a count as to a call", () => {
    const long = body({ messages: [{ role: "user", content: "x".repeat(200) }] });
    assert.throws(() => parseCountTokensRequest(long, { ...LIMITS, maxInputChars: 100 }), /maxInputChars/);
  });

  test("the estimate of a count job is the chat estimate of its prompt", () => {
    const chat: ChatRequest = { messages: [{ role: "user", content: "x".repeat(40) }], toolsJson: "[]" };
    assert.equal(estimatePromptTokens({ countTokens: { chat } }), estimatePromptTokens({ chat }));
    assert.equal(estimatePromptTokens({ countTokens: { chat } }), 11);
  });

  test("a count is a countTokens job, admitted without a token estimate and settled with zero tokens", async () => {
    const s = setup();
    const call = parseCountTokensRequest(body(), LIMITS);
    const final = await (await s.service.countTokens(call, ctx("good"))).final();
    assert.equal(final.usage?.promptTokens, 42, "the front reads the worker's count");
    assert.deepEqual(s.submitted, [{ countTokens: { chat: call.chat } }]);
    assert.deepEqual(s.estimates, [0], "admission charges no prompt tokens");
    assert.deepEqual(s.settled, [{ promptTokens: 0, completionTokens: 0 }], "the limits are settled with zero tokens");
    assert.deepEqual(s.usage.map((u) => [u.model, u.promptTokens, u.completionTokens, u.errorCode]), [["m", 0, 0, undefined]]);
  });

  test("a count still needs a valid key, and one that may use the model", async () => {
    const s = setup();
    await assert.rejects(s.service.countTokens(parseCountTokensRequest(body(), LIMITS), ctx("bad")), { code: "invalid_api_key", status: 401 });
    await assert.rejects(s.service.countTokens(parseCountTokensRequest(body({ model: "other" }), LIMITS), ctx("good")), { code: "model_not_found", status: 404 });
    assert.deepEqual(s.submitted, []);
  });
});
