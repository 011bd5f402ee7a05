import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BrokerError } from "../../broker/errors.js";
import type { JobEvent, JobStream } from "../../broker/job-stream.js";
import type { JobClient } from "../../broker/submit.js";
import { ChatAggregator, ChatStream } from "../chat-format.js";
import { parseChatRequest } from "../chat-request.js";
import { toBrokerError } from "../errors.js";
import type { ModelCatalog } from "../models.js";
import { startSse, writeSse } from "../sse.js";

export interface ChatDeps {
  jobs: JobClient;
  catalog: ModelCatalog;
}

export function registerChatRoutes(app: FastifyInstance, deps: ChatDeps): void {
  app.post("/v1/chat/completions", (req, reply) => chatCompletions(deps, req, reply));
}

async function chatCompletions(deps: ChatDeps, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { model, stream, chat } = parseChatRequest(req.body);
  deps.catalog.resolve(model);
  const job = await deps.jobs.submit(model, chat, { requestId: req.id });
  // A client that goes away cancels its job, queued or running.
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) job.cancel("client disconnected");
  });
  const id = `chatcmpl-${job.id}`;
  const created = Math.floor(Date.now() / 1000);
  return stream
    ? streamChat(job, req, reply, new ChatStream({ id, created, model, includeUsage: chat.includeUsage === true }))
    : collectChat(job, id, created, model);
}

async function collectChat(job: JobStream, id: string, created: number, model: string): Promise<unknown> {
  const agg = new ChatAggregator();
  for await (const ev of job) {
    if (ev.kind === "deltas") agg.add(ev.items);
    else return agg.result({ id, created, model: ev.final.model || model, final: ev.final });
  }
  throw new BrokerError("stream_interrupted", "The answer ended without its final chunk.");
}

/**
 * Headers wait for the first event, so a failure before the first token is an
 * ordinary HTTP error (status, Retry-After) rather than a 200 stream with an
 * error inside. After that, an error is one `data: {"error":…}` event.
 */
async function streamChat(job: JobStream, req: FastifyRequest, reply: FastifyReply, out: ChatStream): Promise<void> {
  const it = job[Symbol.asyncIterator]();
  const first = await it.next();
  const res = reply.raw;
  reply.hijack();
  startSse(res, req.id);
  try {
    let r: IteratorResult<JobEvent> = first;
    while (!r.done && !res.destroyed) {
      const ev = r.value;
      if (ev.kind === "deltas") {
        const w = writeSse(res, out.deltas(ev.items));
        if (w) await w;
      } else {
        const w = writeSse(res, out.final(ev.final));
        if (w) await w;
        break;
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
