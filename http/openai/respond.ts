// The OpenAI endpoints' one way to answer: ask the core for the job (route,
// fallbacks, validation done), then write it as SSE or as one JSON body.
// What is HTTP here: the call context from headers, the disconnect signal,
// the route and upstream-model headers, SSE framing and backpressure.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { BrokerError, Delta, Final } from "../../contract/mod.js";
import { laneFrom, bearerOf, rateLimitHeaders, UPSTREAM_MODEL_HEADER, type Answer, type CallContext, type InferenceService, type InputLimits, type RateLimitView } from "../../core/mod.js";
import { toBrokerError } from "./errors.js";
import { startSse, writeSse } from "./sse.js";

export interface RouteDeps {
  service: InferenceService;
  /** The header that picks a lane; "" when priorities come from elsewhere. */
  priorityHeader: string;
  /** The bounds every request is checked against (config gateway.inputLimits). */
  limits: InputLimits;
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
  reset(): void;
  result(opts: { id: string; created: number; model: string; final: Final }): unknown;
}

export interface Ids {
  id: string;
  created: number;
}

const writeDone = (): Promise<boolean> => Promise.resolve(true);

/**
 * The call context from the request: its id, lane, bearer key, and a signal
 * the client's disconnect aborts (cancelling whichever job is open, then or later).
 */
export function contextOf(deps: RouteDeps, req: FastifyRequest, reply: FastifyReply): CallContext {
  const lane = laneFrom(deps.priorityHeader ? req.headers[deps.priorityHeader] : undefined, deps.priorityHeader, "header");
  const gone = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  const upstream = req.headers[deps.service.guard.upstreamKeyHeader];
  return {
    requestId: req.id,
    lane,
    bearer: bearerOf(req.headers.authorization),
    upstreamKey: typeof upstream === "string" ? (bearerOf(upstream) ?? upstream) : undefined,
    // On the raw response, so both a JSON reply and a hijacked SSE stream carry them.
    onLimits: (view) => setRateLimitHeaders(reply, view),
    signal: gone.signal,
  };
}

export function setRateLimitHeaders(reply: FastifyReply, view: RateLimitView): void {
  for (const [k, v] of rateLimitHeaders(view)) reply.raw.setHeader(k, v);
}

/** The x-broker-route header, when the route had a choice of targets. */
export function routeHeader(a: Answer, reply: FastifyReply): void {
  if (a.routeTaken) reply.raw.setHeader("x-broker-route", a.routeTaken);
}

/** The response's id and creation time; also sets the route header. */
export function idsOf(a: Answer, reply: FastifyReply, idPrefix: string): Ids {
  routeHeader(a, reply);
  return { id: `${idPrefix}${a.jobId}`, created: Math.floor(Date.now() / 1000) };
}

// The upstream's own name goes in a header; only a whole answer has it, since
// a stream's headers go out before the final exists.
export function upstreamHeader(reply: FastifyReply, a: Answer, final: Final): void {
  const name = a.upstreamModel(final);
  if (name) reply.header(UPSTREAM_MODEL_HEADER, name);
}

export async function collect(a: Answer, ids: Ids, into: Collector, reply: FastifyReply): Promise<unknown> {
  const final = await a.collect(into);
  upstreamHeader(reply, a, final);
  // The route target's public id, as a stream names it: the upstream's own name is in the header.
  return into.result({ ...ids, model: a.target.publicId, final });
}

/**
 * Headers go out with the first event (the core waited for it), so a failure
 * before the first token is an ordinary HTTP error (status, Retry-After)
 * rather than a 200 stream with an error inside. After that, an error is one
 * `data: {"error":…}` event.
 */
export async function stream(a: Answer, req: FastifyRequest, reply: FastifyReply, out: StreamFormat): Promise<void> {
  const res = reply.raw;
  // Read before the hijack: afterwards Fastify sends none of the reply's headers.
  const held = reply.getHeaders();
  reply.hijack();
  startSse(res, req.id, held);
  try {
    await a.relay({
      closed: () => res.destroyed,
      deltas: (items) => {
        const w = writeSse(res, out.deltas(items));
        return w ? w.then(writeDone) : undefined;
      },
      final: (f) => void writeSse(res, out.final(f)),
    });
  } catch (e) {
    if (!res.destroyed) {
      const w = writeSse(res, out.error(toBrokerError(e, req)));
      if (w) await w;
    }
  }
  res.end();
}
