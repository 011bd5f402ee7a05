import type { FastifyReply, FastifyRequest } from "fastify";
import { BrokerError } from "../broker/errors.js";
import type { JobEvent, JobStream } from "../broker/job-stream.js";
import type { Delta, Final } from "../broker/proto.js";
import type { JobClient, JobRequest } from "../broker/submit.js";
import { Lane, Lanes } from "../broker/subjects.js";
import { toBrokerError } from "./errors.js";
import type { ModelCatalog } from "./models.js";
import { startSse, writeSse } from "./sse.js";

export interface RouteDeps {
  jobs: JobClient;
  catalog: ModelCatalog;
  /** The header that picks a lane; "" when priorities come from elsewhere. */
  priorityHeader: string;
}

function laneOf(req: FastifyRequest, header: string): Lane {
  const v = header ? req.headers[header] : undefined;
  if (v === undefined) return Lane.normal;
  if (typeof v === "string" && (Lanes as readonly string[]).includes(v.toLowerCase())) return v.toLowerCase() as Lane;
  throw new BrokerError("invalid_request", `The '${header}' header must be one of ${Lanes.join(", ")}.`, { param: header });
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

/** Resolves the model, submits the job and ties its life to the client's connection. */
export async function submitFor(deps: RouteDeps, req: FastifyRequest, reply: FastifyReply, model: string, request: JobRequest): Promise<JobStream> {
  const lane = laneOf(req, deps.priorityHeader);
  const { maxQueueWaitMs } = deps.catalog.resolve(model);
  const job = await deps.jobs.submit(model, request, { requestId: req.id, maxQueueWaitMs, lane });
  // A client that goes away cancels its job, queued or running.
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) job.cancel("client disconnected");
  });
  return job;
}

export async function collect(job: JobStream, ids: Ids, model: string, into: Collector): Promise<unknown> {
  for await (const ev of job) {
    if (ev.kind === "deltas") into.add(ev.items);
    else if (ev.kind === "restart") into.reset();
    else return into.result({ ...ids, model: ev.final.model || model, final: ev.final });
  }
  throw new BrokerError("stream_interrupted", "The answer ended without its final chunk.");
}

/** The final chunk alone: for answers that are not streamed token by token (embeddings). */
export async function finalOf(job: JobStream): Promise<Final> {
  for await (const ev of job) if (ev.kind === "final") return ev.final;
  throw new BrokerError("stream_interrupted", "The answer ended without its final chunk.");
}

/**
 * Headers wait for the first event, so a failure before the first token is an
 * ordinary HTTP error (status, Retry-After) rather than a 200 stream with an
 * error inside. After that, an error is one `data: {"error":…}` event.
 */
export async function stream(job: JobStream, req: FastifyRequest, reply: FastifyReply, out: StreamFormat): Promise<void> {
  const it = job[Symbol.asyncIterator]();
  const first = await it.next();
  const res = reply.raw;
  reply.hijack();
  startSse(res, req.id);
  try {
    let r: IteratorResult<JobEvent> = first;
    while (!r.done && !res.destroyed) {
      const ev = r.value;
      // A restart can only come before anything was written: there is nothing to undo.
      if (ev.kind !== "restart") {
        const w = writeSse(res, ev.kind === "deltas" ? out.deltas(ev.items) : out.final(ev.final));
        job.delivered = true;
        if (w) await w;
        if (ev.kind === "final") break;
      }
      r = await it.next();
    }
  } catch (e) {
    if (!res.destroyed) {
      const w = writeSse(res, out.error(toBrokerError(e, req)));
      if (w) await w;
    }
  }
  res.end();
}

export function newIds(prefix: string, job: JobStream): Ids {
  return { id: `${prefix}${job.id}`, created: Math.floor(Date.now() / 1000) };
}
