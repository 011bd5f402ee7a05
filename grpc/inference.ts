// The Inference service: the core's InferenceService with the job's output
// written as it comes (deltas, then one final). As for SSE, nothing is sent
// before the first output exists, so a failure before the first token is a
// plain gRPC status. What is gRPC here: metadata, deadline, cancellation,
// backpressure, trailers.
import { Metadata, type Deadline, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";
import { bearerOf, UPSTREAM_MODEL_HEADER, type Answer, type CallContext, type RateLimitView } from "../core/mod.js";
import type { Final } from "../contract/mod.js";
import { asBrokerError, laneOf, requestIdOf, timeoutOf, type CallDeps } from "./call.js";
import type { ChatCompletionRequest, EmbedRequest, EmbedResponseInit, ListModelsResponseInit, OutputChunkInit, TextCompletionRequest } from "./definitions.js";
import { chatJob, completionJob, embeddingJob } from "./requests.js";
import { toServiceError } from "./status.js";
import { rateLimitHeaders } from "../core/mod.js";

/** Counts calls that hold a job, so shutdown can wait for them and not for health watchers. */
export interface CallTracker {
  active: number;
}

/** The server side of a call, unary or streaming, as far as opening a job needs it. */
interface CallLike {
  readonly metadata: Metadata;
  readonly cancelled: boolean;
  getDeadline(): Deadline;
  sendMetadata(md: Metadata): void;
  once(event: "cancelled", fn: () => void): unknown;
}

/**
 * The call as the core's context. A cancelled call (client cancel, deadline
 * passed, connection lost) cancels the job wherever it is, queued or running.
 */
function contextOf(deps: CallDeps, call: CallLike, requestId: string, admitted: { view?: RateLimitView }): CallContext {
  const ac = new AbortController();
  if (call.cancelled) ac.abort();
  else call.once("cancelled", () => ac.abort());
  const deadline = call.getDeadline();
  const upstream = call.metadata.get(deps.guard.upstreamKeyHeader)[0];
  return {
    requestId,
    lane: laneOf(call.metadata, deps.priorityHeader),
    timeoutMs: () => timeoutOf(deadline, deps.maxTimeoutMs),
    bearer: bearerOf(call.metadata.get("authorization")[0]),
    upstreamKey: typeof upstream === "string" ? (bearerOf(upstream) ?? upstream) : undefined,
    onLimits: (view) => (admitted.view = view),
    signal: ac.signal,
  };
}

/**
 * Headers go out once the job has its first output: the request id, the
 * route taken when there was a choice, and the key's rate-limit figures.
 */
function sendHeaders(call: CallLike, a: Answer, requestId: string, view: RateLimitView | undefined): void {
  const md = new Metadata();
  md.set("x-request-id", requestId);
  if (a.routeTaken) md.set("x-broker-route", a.routeTaken);
  if (view) for (const [k, v] of rateLimitHeaders(view)) md.set(k, v);
  call.sendMetadata(md);
}

/** The call's error status, with the request id and, for a key's 429, its rate-limit figures in the trailers. */
function failure(e: unknown, deps: CallDeps, requestId: string, view?: RateLimitView): ReturnType<typeof toServiceError> {
  const be = asBrokerError(e, deps.log, requestId);
  deps.onFailure?.(be.code);
  const err = toServiceError(be);
  err.metadata?.set("x-request-id", requestId);
  if (view) for (const [k, v] of rateLimitHeaders(view)) err.metadata?.set(k, v);
  return err;
}

/** The final as the client sees it: its deltas came before it, and it names the route target that served, as HTTP does. */
function finalFor(f: Final, a: Answer): Final {
  return { usage: f.usage ?? null, model: a.target.publicId, systemFingerprint: f.systemFingerprint ?? "", embeddings: f.embeddings ?? [] };
}

/** Trailers that carry the upstream's own model name, when it differs from the public id. */
function trailersFor(f: Final, a: Answer): Metadata {
  const md = new Metadata();
  const name = a.upstreamModel(f);
  if (name) md.set(UPSTREAM_MODEL_HEADER, name);
  return md;
}

/** Resolves true once the stream can take more, false when the call ended first. */
function drained<Q, R>(call: ServerWritableStream<Q, R>): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = (): void => finish(true);
    const onCancel = (): void => finish(false);
    const finish = (ok: boolean): void => {
      call.off("drain", onDrain);
      call.off("cancelled", onCancel);
      resolve(ok);
    };
    call.once("drain", onDrain);
    call.once("cancelled", onCancel);
  });
}

async function streamJob<Q>(
  deps: CallDeps,
  tracker: CallTracker,
  call: ServerWritableStream<Q, OutputChunkInit>,
  idPrefix: string,
  open: (req: Q, ctx: CallContext) => Promise<Answer>,
): Promise<void> {
  const requestId = requestIdOf(call.metadata);
  const admitted: { view?: RateLimitView } = {};
  tracker.active++;
  try {
    const a = await open(call.request, contextOf(deps, call, requestId, admitted));
    sendHeaders(call, a, requestId, admitted.view);
    const id = idPrefix + a.jobId;
    const final = await a.relay({
      closed: () => call.cancelled,
      deltas: (items) => (call.write({ id, deltas: { items } }) ? undefined : drained(call)),
      final: (f) => void call.write({ id, final: finalFor(f, a) }),
    });
    if (!call.cancelled) call.end(final ? trailersFor(final, a) : undefined);
  } catch (e) {
    if (!call.cancelled) call.emit("error", failure(e, deps, requestId, admitted.view));
  } finally {
    tracker.active--;
  }
}

async function embed(deps: CallDeps, tracker: CallTracker, call: ServerUnaryCall<EmbedRequest, EmbedResponseInit>, done: sendUnaryData<EmbedResponseInit>): Promise<void> {
  const requestId = requestIdOf(call.metadata);
  const admitted: { view?: RateLimitView } = {};
  tracker.active++;
  try {
    const a = await deps.service.embed(embeddingJob(call.request, deps.limits), contextOf(deps, call, requestId, admitted));
    sendHeaders(call, a, requestId, admitted.view);
    const final = await a.final();
    done(null, { model: a.target.publicId, data: final.embeddings ?? [], usage: final.usage ?? {} }, trailersFor(final, a));
  } catch (e) {
    if (!call.cancelled) done(failure(e, deps, requestId, admitted.view));
  } finally {
    tracker.active--;
  }
}

/** Handlers keyed by the method names of service.proto's Inference. */
export function inferenceHandlers(deps: CallDeps, tracker: CallTracker) {
  const service = deps.service;
  const chat = (req: ChatCompletionRequest, ctx: CallContext): Promise<Answer> => service.chat(chatJob(req, deps.limits), ctx);
  const complete = (req: TextCompletionRequest, ctx: CallContext): Promise<Answer> => service.complete(completionJob(req, deps.limits), ctx);
  return {
    ChatCompletion: (call: ServerWritableStream<ChatCompletionRequest, OutputChunkInit>): void => {
      void streamJob(deps, tracker, call, "chatcmpl-", chat);
    },
    Completion: (call: ServerWritableStream<TextCompletionRequest, OutputChunkInit>): void => {
      void streamJob(deps, tracker, call, "cmpl-", complete);
    },
    Embed: (call: ServerUnaryCall<EmbedRequest, EmbedResponseInit>, done: sendUnaryData<EmbedResponseInit>): void => {
      void embed(deps, tracker, call, done);
    },
    ListModels: (call: ServerUnaryCall<unknown, ListModelsResponseInit>, done: sendUnaryData<ListModelsResponseInit>): void => {
      try {
        const models = service.models(bearerOf(call.metadata.get("authorization")[0]));
        done(null, { models: models.map((m) => ({ id: m.id, ownedBy: m.owned_by, createdUnixS: m.created })) });
      } catch (e) {
        done(failure(e, deps, requestIdOf(call.metadata)));
      }
    },
  };
}
