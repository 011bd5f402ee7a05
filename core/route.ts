// Runs a request through its route, for both fronts (HTTP and gRPC):
// each target of the plan in turn, moving on (when the route's fallback
// allows) past targets with no live worker, past a queue wait over the
// bound, and past errors before the first output. Nothing has reached the
// client while this runs, so a retry elsewhere duplicates nothing.
// Transport-free: the fronts hand it an AbortSignal and the bearer key.
import { BrokerError, type Lane } from "../contract/mod.js";
import { type JobEvent, type JobStream, type JobRequest } from "../jobs/mod.js";
import type { JobOwner } from "./jobs.js";
import type { RoutePlan, RouteTarget } from "./routes.js";

/** A job that has produced its first event, on the target that took it. */
export interface Opened {
  job: JobStream;
  target: RouteTarget;
  first: JobEvent;
  events: AsyncIterator<JobEvent>;
}

export interface OpenOptions {
  requestId: string;
  lane: Lane;
  /** Milliseconds left for the job, asked anew for each target; undefined: the job owner's default. */
  timeoutMs: () => number | undefined;
  /** The client's own upstream key, for passthrough routes. */
  bearer: string | undefined;
  /** Where the client sends that key, for the error when it is missing. */
  upstreamKeyWhere?: string;
  /** Aborted when the client is gone: cancels whichever job is open, now or later. */
  signal: AbortSignal;
}

export function unavailable(model: string): BrokerError {
  return new BrokerError("model_unavailable", `No worker is serving the model '${model}' right now. Retry later.`, { retryAfterS: 5 });
}

// Errors that say "this target cannot serve now", not "the request is wrong".
const worthFallback = (e: BrokerError): boolean => e.status >= 500 || e.status === 429;

function upstreamKey(t: RouteTarget, bearer: string | undefined, where = "'Authorization: Bearer <key>'"): string | undefined {
  if (!t.passthroughKey) return undefined;
  if (!bearer) {
    throw new BrokerError("invalid_api_key", `The model '${t.publicId}' uses your own API key upstream: send it as ${where}.`);
  }
  return bearer;
}

/** The key in an `authorization: Bearer <key>` value, if that is what it is. */
export function bearerOf(authorization: unknown): string | undefined {
  return typeof authorization === "string" ? /^Bearer\s+(\S+)$/i.exec(authorization)?.[1] : undefined;
}

export async function openRoute(jobs: Pick<JobOwner, "submit">, plan: RoutePlan, request: JobRequest, opts: OpenOptions): Promise<Opened> {
  const { targets, fallback } = plan;
  let current: JobStream | undefined;
  opts.signal.addEventListener("abort", () => current?.cancel("client cancelled"), { once: true });
  let lastError: BrokerError | undefined;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i] as RouteTarget;
    const last = i === targets.length - 1;
    if (!t.live) {
      lastError = unavailable(t.publicId);
      if (!last && (fallback.onNoWorker || !t.queueWithoutWorkers)) continue;
      if (!t.queueWithoutWorkers) throw lastError;
    }
    const queueWait = !last && fallback.onQueueWaitMs > 0 ? fallback.onQueueWaitMs : t.maxQueueWaitMs;
    try {
      const timeoutMs = opts.timeoutMs();
      current = await jobs.submit(t.model, request, {
        requestId: opts.requestId, maxQueueWaitMs: queueWait, lane: opts.lane, upstreamModel: t.upstreamModel, upstreamKey: upstreamKey(t, opts.bearer, opts.upstreamKeyWhere),
        ...(timeoutMs ? { timeoutMs } : {}),
      });
      if (opts.signal.aborted) current.cancel("client cancelled");
      const events = current[Symbol.asyncIterator]();
      let r = await events.next();
      while (!r.done && r.value.kind === "restart") r = await events.next();
      if (r.done) {
        if (opts.signal.aborted) throw new BrokerError("cancelled", "The client cancelled the call.");
        throw new BrokerError("stream_interrupted", "The answer ended without output.");
      }
      return { job: current, target: t, first: r.value, events };
    } catch (e) {
      if (!(e instanceof BrokerError) || last || !fallback.onError || !worthFallback(e) || opts.signal.aborted) throw e;
      lastError = e;
    }
  }
  throw lastError ?? new BrokerError("model_unavailable", `No target of '${plan.route}' could serve the request.`);
}

/** The header (HTTP) and trailer (gRPC) that carry the upstream's own model name. */
export const UPSTREAM_MODEL_HEADER = "x-broker-upstream-model";

/**
 * The name the upstream gave itself (the worker's final), when it differs
 * from the target's public id. Answers name the public id in `model`, stream
 * or not, so the upstream's name travels beside it, not in it.
 */
export function upstreamName(o: Pick<Opened, "target">, final: { model?: string | null }): string | undefined {
  return final.model && final.model !== o.target.publicId ? final.model : undefined;
}

/** Every event from the first on. */
export async function* eventsOf(o: Opened): AsyncGenerator<JobEvent> {
  yield o.first;
  for (let r = await o.events.next(); !r.done; r = await o.events.next()) yield r.value;
}
