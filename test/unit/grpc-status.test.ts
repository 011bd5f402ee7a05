import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, credentials, Metadata, status as Code, type MethodDefinition, type ServiceError } from "@grpc/grpc-js";
import type { JetStreamManager } from "@nats-io/jetstream";
import { parseConfig } from "../../config/config.js";
import { BrokerError, ErrorCodes } from "../../contract/errors.js";
import { laneOf, timeoutOf } from "../../grpc/call.js";
import { createInferenceClient, type InferenceClient } from "../../grpc/client.js";
import { startGrpcFront, type GrpcFront } from "../../grpc/server.js";
import { ErrorMetadata, fromServiceError, grpcCode, statusDetails, toServiceError } from "../../grpc/status.js";
import { createLogger } from "../../ops/log.js";
import { service as healthService } from "grpc-health-check";
import { pb } from "../../contract/proto.js";

describe("gRPC status mapping", () => {
  test("every broker error code has a deliberate gRPC code", () => {
    const expected: Record<number, Code> = {
      400: Code.INVALID_ARGUMENT,
      401: Code.UNAUTHENTICATED,
      403: Code.PERMISSION_DENIED,
      404: Code.NOT_FOUND,
      413: Code.INVALID_ARGUMENT,
      429: Code.RESOURCE_EXHAUSTED,
      499: Code.CANCELLED,
      500: Code.INTERNAL,
      502: Code.UNAVAILABLE,
      503: Code.UNAVAILABLE,
      504: Code.DEADLINE_EXCEEDED,
    };
    for (const [code, { status }] of Object.entries(ErrorCodes)) {
      assert.equal(grpcCode(status), expected[status], `${code} (${status})`);
    }
    assert.equal(grpcCode(401), Code.UNAUTHENTICATED);
    assert.equal(grpcCode(403), Code.PERMISSION_DENIED);
    assert.equal(grpcCode(418), Code.INVALID_ARGUMENT);
    assert.equal(grpcCode(507), Code.INTERNAL);
  });

  test("the OpenAI error rides in the message, the metadata and the status details", () => {
    const e = new BrokerError("queue_full", "The queue is full.", { retryAfterS: 7, param: "model" });
    const se = toServiceError(e);
    assert.equal(se.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(se.details, "rate_limit_error/queue_full: The queue is full.");
    const md = se.metadata as Metadata;
    assert.equal(md.get(ErrorMetadata.type)[0], "rate_limit_error");
    assert.equal(md.get(ErrorMetadata.code)[0], "queue_full");
    assert.equal(md.get(ErrorMetadata.param)[0], "model");
    assert.equal(md.get(ErrorMetadata.httpStatus)[0], "429");
    assert.equal(md.get(ErrorMetadata.retryAfter)[0], "7");
    const bin = md.get(ErrorMetadata.details)[0];
    assert.ok(bin instanceof Buffer);
    const details = statusDetails(bin);
    assert.deepEqual(details.map((d) => d.typeUrl), [
      "type.googleapis.com/google.rpc.ErrorInfo",
      "type.googleapis.com/google.rpc.RetryInfo",
      "type.googleapis.com/inference.v1.Error",
    ]);
    const own = pb.Error.decode(details[2]?.value ?? new Uint8Array());
    assert.equal(own.code, "queue_full");
    assert.equal(own.retryAfterS, 7);
    // ErrorInfo.reason is the code in UPPER_SNAKE, as AIP-193 asks.
    assert.ok(Buffer.from(details[0]?.value ?? []).toString().includes("QUEUE_FULL"));
  });

  test("no retry: no retry-after and no RetryInfo", () => {
    const md = toServiceError(new BrokerError("model_not_found", "No such model.", { param: "model" })).metadata as Metadata;
    assert.deepEqual(md.get(ErrorMetadata.retryAfter), []);
    const bin = md.get(ErrorMetadata.details)[0] as Buffer;
    assert.ok(!statusDetails(bin).some((d) => d.typeUrl.endsWith("RetryInfo")));
  });

  test("a client rebuilds the BrokerError exactly, or one from the bare code", () => {
    const original = new BrokerError("upstream_rate_limited", "Slow down.", { retryAfterS: 17 });
    const se = toServiceError(original);
    const back = fromServiceError(Object.assign(new Error(se.details ?? ""), { code: se.code ?? 0, details: se.details ?? "", metadata: se.metadata as Metadata }) as ServiceError);
    assert.deepEqual(back.toJSON(), original.toJSON());
    assert.equal(back.status, 429);
    assert.equal(back.retryAfterS, 17);
    const bare = (code: Code): BrokerError => fromServiceError(Object.assign(new Error("x"), { code, details: "x", metadata: new Metadata() }) as ServiceError);
    assert.equal(bare(Code.DEADLINE_EXCEEDED).status, 504);
    assert.equal(bare(Code.UNAVAILABLE).status, 503);
    assert.equal(bare(Code.UNAUTHENTICATED).status, 401);
    assert.equal(bare(Code.INTERNAL).status, 500);
  });

  test("the call's deadline becomes the job's timeout, within the configured bound", () => {
    const now = 1_000_000;
    assert.equal(timeoutOf(Infinity, 600_000, now), 600_000);
    assert.equal(timeoutOf(Infinity, undefined, now), undefined);
    assert.equal(timeoutOf(now + 1500, 600_000, now), 1500);
    assert.equal(timeoutOf(new Date(now + 2000), 600_000, now), 2000);
    assert.equal(timeoutOf(now + 10_000_000, 600_000, now), 600_000);
    assert.throws(() => timeoutOf(now - 1, 600_000, now), (e: unknown) => e instanceof BrokerError && e.status === 504);
  });

  test("x-priority picks the lane; anything else is a 400 naming the key", () => {
    const md = new Metadata();
    assert.equal(laneOf(md, "x-priority"), "normal");
    md.set("x-priority", "HIGH");
    assert.equal(laneOf(md, "x-priority"), "high");
    assert.equal(laneOf(md, ""), "normal");
    md.set("x-priority", "urgent");
    assert.throws(() => laneOf(md, "x-priority"), (e: unknown) => e instanceof BrokerError && e.param === "x-priority");
  });
});

// The codes no live path produces yet (auth arrives later) and bugs, through a real server with stand-in deps.
describe("gRPC front with stand-in deps", () => {
  let front: GrpcFront;
  let client: InferenceClient;
  const jobs = { submit: () => Promise.reject(new Error("not reached")), connected: true };
  const failures: Record<string, unknown> = {
    "needs-key": new BrokerError("invalid_api_key", "Incorrect API key provided."),
    "not-yours": new BrokerError("permission_denied", "This key may not use this model."),
    "buggy": new TypeError("cannot read properties of undefined"),
  };

  before(async () => {
    const catalog = {
      plan: (model: string) => {
        if (model in failures) throw failures[model];
        return {
          route: model,
          targets: [{ publicId: model, model, upstreamModel: "", passthroughKey: false, queueWithoutWorkers: false, maxQueueWaitMs: 0, live: true }],
          fallback: { onNoWorker: true, onQueueWaitMs: 0, onError: true },
        };
      },
      list: () => [],
      servedModels: () => [],
    };
    front = await startGrpcFront(
      { jobs, catalog, registry: { list: () => [] }, jsm: {} as JetStreamManager, prefix: "x", log: createLogger("test", "silent"), limits: parseConfig({}).gateway.inputLimits },
      { host: "127.0.0.1", port: 0 },
    );
    client = createInferenceClient(`127.0.0.1:${front.port}`, "some-key");
  });
  after(async () => {
    client?.close();
    await front?.close();
  });

  const chat = (model: string): Promise<unknown> => (async () => {
    for await (const _ of client.chat(model, { messages: [{ role: "user", content: "x" }] })) void _;
  })();

  test("401 is UNAUTHENTICATED and 403 PERMISSION_DENIED, with their OpenAI types", async () => {
    await assert.rejects(chat("needs-key"), (e: unknown) => e instanceof BrokerError && e.status === 401 && e.type === "authentication_error" && e.code === "invalid_api_key");
    await assert.rejects(chat("not-yours"), (e: unknown) => e instanceof BrokerError && e.status === 403 && e.type === "permission_error");
  });

  test("an unexpected exception is a generic INTERNAL that leaks nothing", async () => {
    await assert.rejects(chat("buggy"), (e: unknown) =>
      e instanceof BrokerError && e.status === 500 && e.code === "internal_error" && !e.message.includes("undefined"));
  });

  test("health follows the NATS connection, and close() does not wait for health watchers", async () => {
    const health = new Client(`127.0.0.1:${front.port}`, credentials.createInsecure());
    const check = healthService.Check as MethodDefinition<{ service: string }, { status: string }>;
    const watch = healthService.Watch as MethodDefinition<{ service: string }, { status: string }>;
    const status = (): Promise<string> => new Promise((resolve, reject) =>
      health.makeUnaryRequest(check.path, check.requestSerialize, check.responseDeserialize, { service: "inference.v1.Inference" }, (err, res) => (err ? reject(err) : resolve(res?.status ?? ""))));
    try {
      assert.equal(await status(), "SERVING");
      jobs.connected = false;
      const until = Date.now() + 5000;
      while ((await status()) !== "NOT_SERVING") {
        assert.ok(Date.now() < until, "NOT_SERVING within 5 s of losing NATS");
        await new Promise((r) => setTimeout(r, 100));
      }
      jobs.connected = true;
      const watcher = health.makeServerStreamRequest(watch.path, watch.requestSerialize, watch.responseDeserialize, { service: "" });
      watcher.on("error", () => undefined);
      await new Promise((r) => watcher.once("data", r));
      const t0 = Date.now();
      await front.close();
      assert.ok(Date.now() - t0 < 1000, `closed in ${Date.now() - t0} ms with a watcher open`);
    } finally {
      health.close();
    }
  });
});
