// The Inference service: the same routing table and submit() path as the
// HTTP routes, with the job's output written as it comes (deltas, then one
// final). As for SSE, nothing is sent before the first output exists, so a
// failure before the first token is a plain gRPC status.
import { Metadata, type Deadline, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";
import { BrokerError } from "../errors.js";
import type { Final } from "../proto.js";
import type { JobRequest } from "../submit.js";
import { asBrokerError, laneOf, requestIdOf, timeoutOf, type CallDeps } from "./call.js";
import type {
  ChatCompletionRequest,
  EmbedRequest,
  EmbedResponseInit,
  ListModelsResponseInit,
  OutputChunkInit,
  TextCompletionRequest,
} from "./definitions.js";
import { chatJob, completionJob, embeddingJob } from "./requests.js";
import { bearerOf, eventsOf, openRoute, UPSTREAM_MODEL_HEADER, upstreamName, type Opened } from "../route.js";
import { toServiceError } from "./status.js";

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
 * Plans the route, opens a job on the first target that produces output,
 * and ties it to the call: a cancelled call (client cancel, deadline passed,
 * connection lost) cancels the job wherever it is, queued or running.
 */
async function openFor(deps: CallDeps, call: CallLike, model: string, request: JobRequest, requestId: string): Promise<Opened> {
  const ac = new AbortController();
  if (call.cancelled) ac.abort();
  else call.once("cancelled", () => ac.abort());
  const lane = laneOf(call.metadata, deps.priorityHeader);
  const deadline = call.getDeadline();
  const plan = deps.catalog.plan(model);
  const o = await openRoute(deps.jobs, plan, request, {
    requestId,
    lane,
    timeoutMs: () => timeoutOf(deadline, deps.maxTimeoutMs),
    bearer: bearerOf(call.metadata.get("authorization")[0]),
    signal: ac.signal,
  });
  const md = new Metadata();
  md.set("x-request-id", requestId);
  if (plan.targets.length > 1) md.set("x-broker-route", `${plan.route}>${o.target.publicId}`);
  call.sendMetadata(md);
  return o;
}

function failure(e: unknown, deps: CallDeps, requestId: string): ReturnType<typeof toServiceError> {
  const be = asBrokerError(e, deps.log, requestId);
  deps.onFailure?.(be.code);
  const err = toServiceError(be);
  err.metadata?.set("x-request-id", requestId);
  return err;
}

/** The final as the client sees it: its deltas came before it, and it names the route target that served, as HTTP does. */
function finalFor(f: Final, o: Opened): Final {
  return { usage: f.usage ?? null, model: o.target.publicId, systemFingerprint: f.systemFingerprint ?? "", embeddings: f.embeddings ?? [] };
}

/** Trailers that carry the upstream's own model name, when it differs from the public id. */
function trailersFor(f: Final, o: Opened): Metadata {
  const md = new Metadata();
  const name = upstreamName(o, f);
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
  toJob: (req: Q) => { model: string; request: JobRequest },
): Promise<void> {
  const requestId = requestIdOf(call.metadata);
  tracker.active++;
  try {
    const { model, request } = toJob(call.request);
    const o = await openFor(deps, call, model, request, requestId);
    const id = idPrefix + o.job.id;
    let trailers: Metadata | undefined;
    for await (const ev of eventsOf(o)) {
      if (call.cancelled) break;
      // A restart comes only before anything was written: there is nothing to undo.
      if (ev.kind === "restart") continue;
      const more = call.write(ev.kind === "deltas" ? { id, deltas: { items: ev.items } } : { id, final: finalFor(ev.final, o) });
      o.job.delivered = true;
      if (ev.kind === "final") {
        trailers = trailersFor(ev.final, o);
        break;
      }
      if (!more && !(await drained(call))) break;
    }
    if (!call.cancelled) call.end(trailers);
  } catch (e) {
    if (!call.cancelled) call.emit("error", failure(e, deps, requestId));
  } finally {
    tracker.active--;
  }
}

async function embed(deps: CallDeps, tracker: CallTracker, call: ServerUnaryCall<EmbedRequest, EmbedResponseInit>, done: sendUnaryData<EmbedResponseInit>): Promise<void> {
  const requestId = requestIdOf(call.metadata);
  tracker.active++;
  try {
    const { model, embedding } = embeddingJob(call.request);
    const o = await openFor(deps, call, model, { embedding }, requestId);
    for await (const ev of eventsOf(o)) {
      if (ev.kind !== "final") continue;
      done(null, { model: o.target.publicId, data: ev.final.embeddings ?? [], usage: ev.final.usage ?? {} }, trailersFor(ev.final, o));
      return;
    }
    throw new BrokerError("stream_interrupted", "The answer ended without its final chunk.");
  } catch (e) {
    if (!call.cancelled) done(failure(e, deps, requestId));
  } finally {
    tracker.active--;
  }
}

/** Handlers keyed by the method names of service.proto's Inference. */
export function inferenceHandlers(deps: CallDeps, tracker: CallTracker) {
  return {
    ChatCompletion: (call: ServerWritableStream<ChatCompletionRequest, OutputChunkInit>): void => {
      void streamJob(deps, tracker, call, "chatcmpl-", (req) => {
        const { model, chat } = chatJob(req);
        return { model, request: { chat } };
      });
    },
    Completion: (call: ServerWritableStream<TextCompletionRequest, OutputChunkInit>): void => {
      void streamJob(deps, tracker, call, "cmpl-", (req) => {
        const { model, completion } = completionJob(req);
        return { model, request: { completion } };
      });
    },
    Embed: (call: ServerUnaryCall<EmbedRequest, EmbedResponseInit>, done: sendUnaryData<EmbedResponseInit>): void => {
      void embed(deps, tracker, call, done);
    },
    ListModels: (_call: ServerUnaryCall<unknown, ListModelsResponseInit>, done: sendUnaryData<ListModelsResponseInit>): void => {
      done(null, { models: deps.catalog.list().map((m) => ({ id: m.id, ownedBy: m.owned_by, createdUnixS: m.created })) });
    },
  };
}
