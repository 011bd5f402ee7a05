import type { FastifyReply, FastifyRequest } from "fastify";
import { BrokerError } from "../broker/errors.js";
import type { Delta, Final } from "../broker/proto.js";
import { laneFrom } from "../broker/request-meta.js";
import { bearerOf, eventsOf, openRoute, UPSTREAM_MODEL_HEADER, upstreamName, type Opened as RouteOpened } from "../broker/route.js";
import type { Lane } from "../broker/subjects.js";
import type { JobClient, JobRequest } from "../broker/submit.js";
import { toBrokerError } from "./errors.js";
import type { ModelCatalog } from "./models.js";
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
export interface Opened extends RouteOpened {
  ids: Ids;
}

function laneOf(req: FastifyRequest, header: string): Lane {
  return laneFrom(header ? req.headers[header] : undefined, header, "header");
}

/**
 * Runs the request through its route (broker/route.ts: targets in turn, with
 * the route's fallbacks, before anything reaches the client). The client's
 * disconnect cancels whichever job is open, then or later.
 */
export async function open(deps: RouteDeps, req: FastifyRequest, reply: FastifyReply, model: string, request: JobRequest, idPrefix: string): Promise<Opened> {
  const lane = laneOf(req, deps.priorityHeader);
  const plan = deps.catalog.plan(model);
  const gone = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  const o = await openRoute(deps.jobs, plan, request, {
    requestId: req.id, lane, timeoutMs: () => undefined, bearer: bearerOf(req.headers.authorization), signal: gone.signal,
  });
  if (plan.targets.length > 1) reply.raw.setHeader("x-broker-route", `${plan.route}>${o.target.publicId}`);
  return { ...o, ids: { id: `${idPrefix}${o.job.id}`, created: Math.floor(Date.now() / 1000) } };
}

// The upstream's own name goes in a header; only a whole answer has it, since
// a stream's headers go out before the final exists.
function upstreamHeader(reply: FastifyReply, o: Opened, final: Final): void {
  const name = upstreamName(o, final);
  if (name) reply.header(UPSTREAM_MODEL_HEADER, name);
}

export async function collect(o: Opened, into: Collector, reply: FastifyReply): Promise<unknown> {
  for await (const ev of eventsOf(o)) {
    if (ev.kind === "deltas") into.add(ev.items);
    else if (ev.kind === "restart") into.reset();
    else {
      upstreamHeader(reply, o, ev.final);
      // The route target's public id, as a stream names it: the upstream's own name is in the header.
      return into.result({ ...o.ids, model: o.target.publicId, final: ev.final });
    }
  }
  throw new BrokerError("stream_interrupted", "The answer ended without its final chunk.");
}

/** The final chunk alone: for answers that are not streamed token by token (embeddings). */
export async function finalOf(o: Opened, reply: FastifyReply): Promise<Final> {
  for await (const ev of eventsOf(o)) {
    if (ev.kind !== "final") continue;
    upstreamHeader(reply, o, ev.final);
    return ev.final;
  }
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
    for await (const ev of eventsOf(o)) {
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
