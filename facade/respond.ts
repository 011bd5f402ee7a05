import type { FastifyReply, FastifyRequest } from "fastify";
import { BrokerError } from "../broker/errors.js";
import type { JobEvent, JobStream } from "../broker/job-stream.js";
import type { Delta, Final } from "../broker/proto.js";
import { Lane, Lanes } from "../broker/subjects.js";
import type { JobClient, JobRequest } from "../broker/submit.js";
import { toBrokerError } from "./errors.js";
import { unavailable, type ModelCatalog, type Plan, type Target } from "./models.js";
import { startSse, writeSse } from "./sse.js";

export interface RouteDeps {
  jobs: JobClient;
  catalog: ModelCatalog;
  /** The header that picks a lane; "" when priorities come from elsewhere. */
  priorityHeader: string;
}

/** Formats a job's output as SSE text (ChatStream, CompletionStream). */
export interface StreamFormat {
  deltas(items: Delta[]): string;
  final(f: Final): string;
  error(e: BrokerError): string;
}

/** Collects a job's output into one response object (ChatAggregator, CompletionAggregator). */
export interface Collector {
  add(items: Delta[]): void;
  /** Forgets everything added: the job restarts from scratch on another worker. */
  reset(): void;
  result(opts: { id: string; created: number; model: string; final: Final }): unknown;
}

export interface Ids {
  id: string;
  created: number;
}

/** A job that has produced its first output (or its final), on the target that took it. */
export interface Opened {
  job: JobStream;
  target: Target;
  events: AsyncIterator<JobEvent>;
  first: JobEvent;
  ids: Ids;
}

function laneOf(req: FastifyRequest, header: string): Lane {
  const v = header ? req.headers[header] : undefined;
  if (v === undefined) return Lane.normal;
  if (typeof v === "string" && (Lanes as readonly string[]).includes(v.toLowerCase())) return v.toLowerCase() as Lane;
  throw new BrokerError("invalid_request", `The '${header}' header must be one of ${Lanes.join(", ")}.`, { param: header });
}

function clientKey(req: FastifyRequest, t: Target): string | undefined {
  if (!t.passthroughKey) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  if (!m?.[1]) {
    throw new BrokerError("invalid_api_key", `The model '${t.publicId}' uses your own API key upstream: send it as 'Authorization: Bearer <key>'.`, { status: 401 });
  }
  return m[1];
}

// Errors that say "this target cannot serve now", not "the request is wrong".
function worthFallback(e: BrokerError): boolean {
  return e.status >= 500 || e.status === 429;
}

/**
 * Runs the request through its route: each target in turn, moving on (when
 * the route's fallback allows) past targets with no live worker, past a
 * queue wait over the bound, and past errors before the first token. Nothing
 * has reached the client while this runs, so a retry elsewhere duplicates
 * nothing. The client's disconnect cancels whichever job is open.
 */
export async function open(deps: RouteDeps, req: FastifyRequest, reply: FastifyReply, model: string, request: JobRequest, idPrefix: string): Promise<Opened> {
  const lane = laneOf(req, deps.priorityHeader);
  const plan: Plan = deps.catalog.plan(model);
  const { targets, fallback } = plan;
  let current: JobStream | undefined;
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) current?.cancel("client disconnected");
  });
  let lastError: BrokerError | undefined;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i] as Target;
    const last = i === targets.length - 1;
    if (!t.live) {
      lastError = unavailable(t.publicId);
      if (!last && (fallback.onNoWorker || !t.queueWithoutWorkers)) continue;
      if (!t.queueWithoutWorkers) throw lastError;
    }
    const queueWait = !last && fallback.onQueueWaitMs > 0 ? fallback.onQueueWaitMs : t.maxQueueWaitMs;
    try {
      current = await deps.jobs.submit(t.model, request, {
        requestId: req.id, maxQueueWaitMs: queueWait, lane, upstreamModel: t.upstreamModel, upstreamKey: clientKey(req, t),
      });
      if (reply.raw.destroyed) current.cancel("client disconnected");
      const events = current[Symbol.asyncIterator]();
      let r = await events.next();
      while (!r.done && r.value.kind === "restart") r = await events.next();
      if (r.done) throw new BrokerError("stream_interrupted", "The answer ended without output.");
      if (targets.length > 1) reply.raw.setHeader("x-broker-route", `${plan.route}>${t.publicId}`);
      return { job: current, target: t, events, first: r.value, ids: { id: `${idPrefix}${current.id}`, created: Math.floor(Date.now() / 1000) } };
    } catch (e) {
      const err = e instanceof BrokerError ? e : toBrokerError(e, req);
      if (last || !fallback.onError || !worthFallback(err) || reply.raw.destroyed) throw err;
      req.log.info({ route: plan.route, target: t.publicId, code: err.code }, "falling back to the next target");
      lastError = err;
    }
  }
  throw lastError ?? new BrokerError("model_unavailable", `No target of '${model}' could serve the request.`);
}

/** All events from the first on. */
async function* rest(o: Opened): AsyncGenerator<JobEvent> {
  yield o.first;
  for (let r = await o.events.next(); !r.done; r = await o.events.next()) yield r.value;
}

export async function collect(o: Opened, into: Collector): Promise<unknown> {
  for await (const ev of rest(o)) {
    if (ev.kind === "deltas") into.add(ev.items);
    else if (ev.kind === "restart") into.reset();
    else return into.result({ ...o.ids, model: ev.final.model || o.target.publicId, final: ev.final });
  }
  throw new BrokerError("stream_interrupted", "The answer ended without its final chunk.");
}

/** The final chunk alone: for answers that are not streamed token by token (embeddings). */
export async function finalOf(o: Opened): Promise<Final> {
  for await (const ev of rest(o)) if (ev.kind === "final") return ev.final;
  throw new BrokerError("stream_interrupted", "The answer ended without its final chunk.");
}

/**
 * Headers go out with the first event (open() waited for it), so a failure
 * before the first token is an ordinary HTTP error (status, Retry-After)
 * rather than a 200 stream with an error inside. After that, an error is one
 * `data: {"error":…}` event.
 */
export async function stream(o: Opened, req: FastifyRequest, reply: FastifyReply, out: StreamFormat): Promise<void> {
  const res = reply.raw;
  reply.hijack();
  startSse(res, req.id);
  try {
    for await (const ev of rest(o)) {
      if (res.destroyed) break;
      // A restart can only come before anything was written: there is nothing to undo.
      if (ev.kind === "restart") continue;
      const w = writeSse(res, ev.kind === "deltas" ? out.deltas(ev.items) : out.final(ev.final));
      o.job.delivered = true;
      if (w) await w;
      if (ev.kind === "final") break;
    }
  } catch (e) {
    if (!res.destroyed) {
      const w = writeSse(res, out.error(toBrokerError(e, req)));
      if (w) await w;
    }
  }
  res.end();
}
