import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type OpenAI from "openai";
import protobuf from "protobufjs/minimal.js";
import type { Config } from "../../config/config.js";
import { BrokerError } from "../../contract/errors.js";
import { collect, createInferenceClient } from "../../grpc/client.js";
import { PROTO_DIR } from "../../grpc/definitions.js";
import { startGrpcFront } from "../../grpc/server.js";
import { statusDetails } from "../../grpc/status.js";
import { createLogger } from "../../ops/log.js";
import { subjects } from "../../contract/subjects.js";
import { spawnWorker, startTestGateway, testConfig, waitFor, type WorkerProcess } from "../helpers/broker.js";
import { postJson, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

// ---- a plain @grpc/grpc-js client that loads proto/ at run time, as any other service would ----

interface PlainDelta { index: number; content: string; role: string; finishReason: string }
interface PlainChunk { id: string; kind: string; deltas?: { items: PlainDelta[] }; final?: { model: string; deltas: PlainDelta[]; usage?: { promptTokens: number; completionTokens: number } } }
type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type Unary<Q, R> = (req: Q, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<R>) => grpc.ClientUnaryCall;
interface EmbedReply { model: string; data: { index: number; values: number[] }[]; usage: { promptTokens: number } }
interface ModelsReply { models: { id: string; ownedBy: string; createdUnixS: number }[] }
interface WorkersReply { workers: { id: string; slots: number; models: { model: string; engine: string; completed: number }[] }[] }
interface QueuesReply { queues: { model: string; lane: string; waiting: number; running: number }[] }
interface HealthReply { status: string }
interface PlainInference extends grpc.Client {
  ChatCompletion(req: object, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<PlainChunk>;
  Completion(req: object, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<PlainChunk>;
  Embed: Unary<object, EmbedReply>;
  ListModels: Unary<object, ModelsReply>;
}
interface PlainAdmin extends grpc.Client {
  ListWorkers: Unary<object, WorkersReply>;
  QueueStats: Unary<object, QueuesReply>;
}
interface PlainHealth extends grpc.Client {
  Check: Unary<{ service: string }, HealthReply>;
}
interface ReflectionResponse { listServicesResponse?: { service: { name: string }[] }; fileDescriptorResponse?: { fileDescriptorProto: Buffer[] }; errorResponse?: { errorCode: number } }
interface PlainReflection extends grpc.Client {
  ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionResponse>;
}
type Ctor<T> = new (address: string, creds: grpc.ChannelCredentials) => T;

/** The client class of a fully named service in a loaded package; `T` types its methods, as the .proto declares them. */
function serviceClient<T extends grpc.Client>(root: grpc.GrpcObject, name: string): Ctor<T> {
  let node: unknown = root;
  for (const key of name.split(".")) node = typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  assert.equal(typeof node, "function", `${name} is a service of the loaded protos`);
  return node as Ctor<T>;
}

const require = createRequire(import.meta.url);
const reflectionProto = join(dirname(require.resolve("@grpc/reflection")), "../proto/grpc/reflection/v1/reflection.proto");
const loaded = grpc.loadPackageDefinition(
  protoLoader.loadSync(["service.proto", join(dirname(require.resolve("grpc-health-check")), "../../proto/health/v1/health.proto")], {
    includeDirs: [PROTO_DIR], longs: Number, enums: String, defaults: true, oneofs: true,
  }),
);
const Inference = serviceClient<PlainInference>(loaded, "inference.v1.Inference");
const Admin = serviceClient<PlainAdmin>(loaded, "inference.v1.Admin");
const Health = serviceClient<PlainHealth>(loaded, "grpc.health.v1.Health");
const ServerReflection = serviceClient<PlainReflection>(
  grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { longs: Number, defaults: true, oneofs: true })),
  "grpc.reflection.v1.ServerReflection",
);

function call<R>(fn: (cb: Callback<R>) => unknown): Promise<R> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : res === undefined ? reject(new Error("empty")) : resolve(res))));
}

async function readAll(stream: grpc.ClientReadableStream<PlainChunk>): Promise<PlainChunk[]> {
  const out: PlainChunk[] = [];
  for await (const m of stream) out.push(m as PlainChunk);
  return out;
}

async function expectStatus(p: Promise<unknown>, code: grpc.status, errorCode?: string): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    assert.equal(err.code, code, `${grpc.status[code]} expected, got ${grpc.status[err.code]}: ${err.details}`);
    if (errorCode) {
      assert.equal(err.metadata.get("x-error-code")[0], errorCode);
      assert.ok(err.details.includes(`/${errorCode}: `), `type/code in the message: ${err.details}`);
    }
    return err;
  }
  assert.fail(`expected ${grpc.status[code]}`);
}

const user = (content: string) => ({ messages: [{ role: "user", content }] });

// ---- the broker side: one JobClient shared by the HTTP facade and the gRPC front, as in the gateway ----

interface Fronts {
  http: string;
  grpc: string;
  close(): Promise<void>;
}

/** The real gateway with its gRPC front on a random port. */
async function startFronts(cfg: Config): Promise<Fronts> {
  const gw = await startTestGateway({ ...cfg, gateway: { ...cfg.gateway, grpcPort: 0, drainTimeoutMs: 2000 } });
  return { http: gw.url, grpc: gw.grpcAddress as string, close: () => gw.close() };
}

describe("gRPC front", () => {
  let nats: TestNats;
  let cfg: Config;
  let fronts: Fronts;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let inference: PlainInference;
  let admin: PlainAdmin;
  const workers: WorkerProcess[] = [];

  before(async () => {
    nats = await startNats();
    cfg = testConfig(nats.url, {
      gateway: {
        models: [
          { id: "queued", queueWithoutWorkers: true },
          { id: "waiter", queueWithoutWorkers: true, maxQueueWaitMs: 300 },
          { id: "unserved" },
          { id: "alias", model: "sim" },
          { id: "smart", chain: ["unserved", "sim"] },
          { prefix: "byok/", model: "byok", passthroughKey: true, queueWithoutWorkers: true },
        ],
      },
      workers: [
        { name: "sim", slots: 4, models: [{ id: "sim", engine: "sim", options: { outputTokens: 8, embeddingDims: 16 } }] },
        { name: "one", slots: 1, models: [{ id: "slow", engine: "sim", options: { itlMs: 20, outputTokens: 400 } }] },
        { name: "late", slots: 1, models: [{ id: "queued", engine: "sim", options: { outputTokens: 4 } }] },
      ],
    });
    workers.push(spawnWorker(cfg, "sim"), spawnWorker(cfg, "one"));
    fronts = await startFronts(cfg);
    inference = new Inference(fronts.grpc, grpc.credentials.createInsecure());
    admin = new Admin(fronts.grpc, grpc.credentials.createInsecure());
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await waitFor(async () => {
      const res = await call<ModelsReply>((cb) => inference.ListModels({}, new grpc.Metadata(), {}, cb));
      return res.models.some((m) => m.id === "sim") && res.models.some((m) => m.id === "slow");
    }, "sim and slow to be live", 15_000);
  });

  after(async () => {
    inference?.close();
    admin?.close();
    await fronts?.close();
    for (const w of workers) {
      w.child.kill("SIGTERM");
      await w.exited;
    }
    await nc?.close();
    await nats?.close();
  });

  test("streamed chat: deltas then one final with usage, the request id echoed", async () => {
    const md = new grpc.Metadata();
    md.set("x-request-id", "grpc-test-1");
    md.set("authorization", "Bearer not-checked-yet");
    const stream = inference.ChatCompletion({ model: "sim", request: { ...user("hello"), maxTokens: 5, n: 2 } }, md);
    const headers = new Promise<grpc.Metadata>((r) => stream.once("metadata", r));
    const chunks = await readAll(stream);
    assert.equal((await headers).get("x-request-id")[0], "grpc-test-1");
    const last = chunks.at(-1);
    assert.equal(last?.kind, "final");
    assert.equal(last?.final?.usage?.completionTokens, 10);
    assert.equal(last?.final?.model, "sim");
    assert.deepEqual(last?.final?.deltas, [], "the last deltas come before the final, never inside it again");
    assert.ok(chunks.slice(0, -1).every((c) => c.kind === "deltas"));
    assert.ok(chunks.every((c) => c.id === chunks[0]?.id && c.id.startsWith("chatcmpl-")));
    const deltas = chunks.flatMap((c) => c.deltas?.items ?? []);
    assert.deepEqual([...new Set(deltas.map((d) => d.index))].sort(), [0, 1]);
    assert.equal(deltas.filter((d) => d.finishReason === "length").length, 2);
  });

  test("collected chat with the typed client: the same text as HTTP for the same seed", async () => {
    const client = createInferenceClient(fronts.grpc, "unused-key");
    try {
      const got = await collect(client.chat("sim", { ...user("same"), seed: 7, maxTokens: 6 }, { priority: "high" }));
      const http = await readJson<OpenAI.ChatCompletion>(postJson(`${fronts.http}/v1/chat/completions`, { model: "sim", seed: 7, max_tokens: 6, ...user("same") }));
      assert.equal(got.choices.length, 1);
      assert.equal(got.choices[0]?.content, http.choices[0]?.message.content);
      assert.equal(got.choices[0]?.finishReason, http.choices[0]?.finish_reason);
      assert.equal(got.final.usage?.completionTokens, 6);
    } finally {
      client.close();
    }
  });

  test("legacy completion streams one choice per prompt", async () => {
    const chunks = await readAll(inference.Completion({ model: "sim", request: { prompts: ["alpha", "beta"], maxTokens: 3 } }));
    assert.ok(chunks[0]?.id.startsWith("cmpl-"));
    const deltas = chunks.flatMap((c) => c.deltas?.items ?? []);
    assert.deepEqual([...new Set(deltas.map((d) => d.index))].sort(), [0, 1]);
    assert.equal(chunks.at(-1)?.final?.usage?.completionTokens, 6);
  });

  test("embeddings: one vector per input", async () => {
    const res = await call<EmbedReply>((cb) =>
      inference.Embed({ model: "sim", request: { inputs: ["one", "two words", "three"] } }, new grpc.Metadata(), {}, cb));
    assert.equal(res.model, "sim");
    assert.deepEqual(res.data.map((d) => d.index), [0, 1, 2]);
    assert.ok(res.data.every((d) => d.values.length === 16));
    assert.ok(res.usage.promptTokens > 0);
    const typed = createInferenceClient(`grpc://${fronts.grpc}`);
    try {
      const r = await typed.embed("sim", { inputs: ["one"], dimensions: 4 });
      assert.equal(r.data[0]?.values?.length, 4);
    } finally {
      typed.close();
    }
  });

  test("models and admin views", async () => {
    const models = await call<ModelsReply>((cb) => inference.ListModels({}, new grpc.Metadata(), {}, cb));
    const ids = models.models.map((m) => m.id);
    for (const id of ["sim", "slow", "queued", "waiter"]) assert.ok(ids.includes(id), `${id} listed`);
    assert.ok(!ids.includes("unserved"), "a model nobody serves that may not queue is not listed");
    const workersRes = await call<WorkersReply>((cb) => admin.ListWorkers({}, new grpc.Metadata(), {}, cb));
    assert.ok(workersRes.workers.some((w) => w.slots === 4 && w.models.some((m) => m.model === "sim" && m.engine === "sim")));
    const queues = await call<QueuesReply>((cb) => admin.QueueStats({ model: "sim" }, new grpc.Metadata(), {}, cb));
    assert.deepEqual(queues.queues.map((q) => q.lane), ["high", "normal", "low"]);
    assert.ok(queues.queues.every((q) => q.model === "sim" && q.waiting === 0));
  });

  test("errors map to gRPC codes with the OpenAI error in message, metadata and details", async () => {
    const md = new grpc.Metadata();
    let err = await expectStatus(readAll(inference.ChatCompletion({ model: "sim", request: { messages: [] } })), grpc.status.INVALID_ARGUMENT, "invalid_request");
    assert.equal(err.metadata.get("x-error-param")[0], "request.messages");
    assert.equal(err.metadata.get("x-error-type")[0], "invalid_request_error");
    assert.equal(err.metadata.get("x-http-status")[0], "400");
    err = await expectStatus(readAll(inference.ChatCompletion({ model: "sim", request: { ...user("x"), temperature: 3 } })), grpc.status.INVALID_ARGUMENT);
    assert.equal(err.metadata.get("x-error-param")[0], "request.temperature");
    err = await expectStatus(readAll(inference.ChatCompletion({ model: "", request: user("x") })), grpc.status.INVALID_ARGUMENT);
    assert.equal(err.metadata.get("x-error-param")[0], "model");
    err = await expectStatus(readAll(inference.ChatCompletion({ model: "sim", request: { messages: [{ role: "robot", content: "x" }] } })), grpc.status.INVALID_ARGUMENT);
    assert.equal(err.metadata.get("x-error-param")[0], "request.messages[0].role");
    const urgent = new grpc.Metadata();
    urgent.set("x-priority", "urgent");
    err = await expectStatus(readAll(inference.ChatCompletion({ model: "sim", request: user("x") }, urgent)), grpc.status.INVALID_ARGUMENT);
    assert.equal(err.metadata.get("x-error-param")[0], "x-priority");
    await expectStatus(call((cb) => inference.Embed({ model: "sim", request: { inputs: [""] } }, md, {}, cb)), grpc.status.INVALID_ARGUMENT, "invalid_request");

    err = await expectStatus(readAll(inference.ChatCompletion({ model: "nope", request: user("x") })), grpc.status.NOT_FOUND, "model_not_found");
    assert.equal(err.metadata.get("x-error-type")[0], "invalid_request_error");
    const counted = await (await fetch(`${fronts.http}/metrics`)).text();
    assert.match(counted, /broker_rejections_total\{reason="model_not_found"\} [1-9]/, "gRPC failures count as rejections");
    err = await expectStatus(readAll(inference.ChatCompletion({ model: "unserved", request: user("x") })), grpc.status.UNAVAILABLE, "model_unavailable");
    assert.equal(err.metadata.get("retry-after")[0], "5");
    err = await expectStatus(readAll(inference.ChatCompletion({ model: "waiter", request: user("x") })), grpc.status.UNAVAILABLE, "queue_timeout");
    assert.ok(Number(err.metadata.get("retry-after")[0]) >= 1);

    // The typed client rebuilds the same BrokerError from the status details.
    const typed = createInferenceClient(fronts.grpc);
    try {
      await assert.rejects(typed.embed("nope", { inputs: ["x"] }), (e: unknown) =>
        e instanceof BrokerError && e.status === 404 && e.code === "model_not_found" && e.param === "model" && e.message.startsWith("The model 'nope'"));
    } finally {
      typed.close();
    }
  });

  test("the routing table: an alias, a fallback chain, and a passthrough route that needs the caller's key", async () => {
    const viaAlias = await readAll(inference.ChatCompletion({ model: "alias", request: { ...user("x"), maxTokens: 2 } }));
    assert.equal(viaAlias.at(-1)?.final?.usage?.completionTokens, 2);

    const chain = inference.ChatCompletion({ model: "smart", request: { ...user("x"), maxTokens: 2 } });
    const headers = new Promise<grpc.Metadata>((r) => chain.once("metadata", r));
    assert.equal((await readAll(chain)).at(-1)?.kind, "final");
    assert.equal((await headers).get("x-broker-route")[0], "smart>sim", "skipped the target nobody serves");

    const err = await expectStatus(readAll(inference.ChatCompletion({ model: "byok/gpt-x", request: user("x") })), grpc.status.UNAUTHENTICATED, "invalid_api_key");
    assert.equal(err.metadata.get("x-error-type")[0], "authentication_error");
    const withKey = new grpc.Metadata();
    withKey.set("authorization", "Bearer sk-own-key");
    // With a key it is accepted and queued (no byok worker runs here) until its deadline.
    await expectStatus(readAll(inference.ChatCompletion({ model: "byok/gpt-x", request: user("x") }, withKey, { deadline: Date.now() + 300 })), grpc.status.DEADLINE_EXCEEDED);
  });

  test("a full queue is RESOURCE_EXHAUSTED with retry-after metadata and google.rpc.RetryInfo", async () => {
    const small = testConfig(nats.url, { queue: { maxPerModel: 1 }, gateway: { models: [{ id: "held", queueWithoutWorkers: true }] } });
    const f = await startFronts(small);
    const client = new Inference(f.grpc, grpc.credentials.createInsecure());
    try {
      const first = client.ChatCompletion({ model: "held", request: user("first") });
      first.on("error", () => undefined);
      await waitFor(async () => (await jsm.streams.info(subjects(small.nats.prefix).stream)).state.messages === 1, "the first job to be queued");
      const err = await expectStatus(readAll(client.ChatCompletion({ model: "held", request: user("second") })), grpc.status.RESOURCE_EXHAUSTED, "queue_full");
      assert.equal(err.metadata.get("x-error-type")[0], "rate_limit_error");
      assert.equal(err.metadata.get("retry-after")[0], "10");
      const bin = err.metadata.get("grpc-status-details-bin")[0];
      assert.ok(bin instanceof Buffer);
      const details = statusDetails(bin);
      assert.deepEqual(details.map((d) => d.typeUrl.replace("type.googleapis.com/", "")), ["google.rpc.ErrorInfo", "google.rpc.RetryInfo", "inference.v1.Error"]);
      // RetryInfo { retry_delay: Duration { seconds: 10 } }
      const duration = protobuf.Reader.create(details[1]?.value ?? new Uint8Array());
      assert.equal(duration.uint32(), 10);
      const seconds = protobuf.Reader.create(duration.bytes());
      assert.equal(seconds.uint32(), 8);
      assert.equal(Number(seconds.int64()), 10);
      first.cancel();
      await waitFor(async () => (await jsm.streams.info(subjects(small.nats.prefix).stream)).state.messages === 0, "the cancelled job to leave the queue");
    } finally {
      client.close();
      await f.close();
    }
  });

  test("a deadline passed while queued: DEADLINE_EXCEEDED, the job leaves the queue and never runs", async () => {
    const s = subjects(cfg.nats.prefix);
    const lastSeq = (await jsm.streams.info(s.stream)).state.last_seq;
    const started = Date.now();
    await expectStatus(readAll(inference.ChatCompletion({ model: "queued", request: user("never") }, new grpc.Metadata(), { deadline: Date.now() + 400 })), grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 3000);
    assert.equal((await jsm.streams.info(s.stream)).state.last_seq, lastSeq + 1, "the job was queued before its deadline passed");
    const queued = async (): Promise<number> => (await jsm.streams.info(s.stream, { subjects_filter: ">" })).state.subjects?.[s.job("queued")] ?? 0;
    await waitFor(async () => (await queued()) === 0, "the queue to be empty");
    // A worker that comes up now finds nothing to run.
    const late = spawnWorker(cfg, "late");
    workers.push(late);
    await waitFor(async () => {
      const res = await call<WorkersReply>((cb) => admin.ListWorkers({}, new grpc.Metadata(), {}, cb));
      return res.workers.some((w) => w.models.some((m) => m.model === "queued"));
    }, "the late worker", 15_000);
    await new Promise((r) => setTimeout(r, 1500));
    const info = await jsm.consumers.info(s.stream, s.consumer("queued"));
    assert.equal(info.delivered.consumer_seq, 0, "the worker was never handed the job");
    // And it serves new work.
    const chunks = await readAll(inference.ChatCompletion({ model: "queued", request: user("now") }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }));
    assert.equal(chunks.at(-1)?.kind, "final");
  });

  test("a client cancel mid-stream stops the job and frees the worker's only slot", async () => {
    const stream = inference.ChatCompletion({ model: "slow", request: user("long") });
    stream.on("error", () => undefined);
    let seen = 0;
    for await (const m of stream) {
      if ((m as PlainChunk).kind === "deltas") seen++;
      if (seen === 3) break;
    }
    stream.cancel();
    const cancelledAt = Date.now();
    // 400 tokens at 20 ms would hold the slot for 8 s; the next job gets it at once.
    const next = await readAll(inference.ChatCompletion({ model: "slow", request: { ...user("next"), maxTokens: 2 } }, new grpc.Metadata(), { deadline: Date.now() + 5000 }));
    const freedMs = Date.now() - cancelledAt;
    console.log(`# gRPC cancel: the 1-slot worker served the next job ${freedMs} ms after the cancel`);
    assert.equal(next.at(-1)?.final?.usage?.completionTokens, 2);
    assert.ok(freedMs < 4000, `slot freed in ${freedMs} ms`);
  });

  test("health: grpc.health.v1 answers SERVING for the server and each service", async () => {
    const health = new Health(fronts.grpc, grpc.credentials.createInsecure());
    try {
      for (const service of ["", "inference.v1.Inference", "inference.v1.Admin"]) {
        const res = await call<HealthReply>((cb) => health.Check({ service }, new grpc.Metadata(), {}, cb));
        assert.equal(res.status, "SERVING", service);
      }
      await expectStatus(call((cb) => health.Check({ service: "no.such.Service" }, new grpc.Metadata(), {}, cb)), grpc.status.NOT_FOUND);
    } finally {
      health.close();
    }
  });

  test("reflection lists the services and describes them without the .proto", async () => {
    const client = new ServerReflection(fronts.grpc, grpc.credentials.createInsecure());
    try {
      const ask = (req: object): Promise<ReflectionResponse> => new Promise((resolve, reject) => {
        const s = client.ServerReflectionInfo();
        s.once("data", (r: ReflectionResponse) => {
          resolve(r);
          s.end();
        });
        s.once("error", reject);
        s.write(req);
      });
      const list = await ask({ listServices: "" });
      const names = (list.listServicesResponse?.service ?? []).map((s) => s.name).sort();
      for (const n of ["grpc.health.v1.Health", "inference.v1.Admin", "inference.v1.Inference"]) assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
      const file = await ask({ fileContainingSymbol: "inference.v1.Inference" });
      const protos = file.fileDescriptorResponse?.fileDescriptorProto ?? [];
      assert.ok(protos.length > 0);
      const text = Buffer.concat(protos).toString("latin1");
      for (const s of ["ChatCompletion", "OutputChunk", "ChatRequest", "Final"]) assert.ok(text.includes(s), `${s} described`);
    } finally {
      client.close();
    }
  });

  test("TLS: the front serves grpcs:// with a certificate and key", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "grpc-tls-"));
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
    } catch {
      t.skip("openssl is not installed");
      return;
    }
    const log = createLogger("gateway", "silent");
    const catalog = {
      plan: () => {
        throw new Error("not reached");
      },
      list: () => [{ id: "tls-model", owned_by: "me", created: 1 }],
      servedModels: () => [],
    };
    const front = await startGrpcFront(
      { jobs: { submit: () => Promise.reject(new Error("unused")), connected: true }, catalog, registry: { list: () => [] }, jsm: {} as JetStreamManager, prefix: "x", log, limits: cfg.gateway.inputLimits },
      { host: "127.0.0.1", port: 0, tls: { certFile: cert, keyFile: key } },
    );
    const client = createInferenceClient(`grpcs://localhost:${front.port}`, undefined, { rootCerts: readFileSync(cert) });
    try {
      assert.deepEqual((await client.listModels()).map((m) => m.id), ["tls-model"]);
    } finally {
      client.close();
      await front.close();
    }
  });
});
