// Writing a response: gathered into one object, or streamed as SSE events;
// either way stored (when asked) before the client hears that it is done,
// so a retrieve right after response.completed finds it.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Delta } from "../../contract/mod.js";
import type { Answer, Collector } from "../../core/mod.js";
import { toBrokerError } from "../openai/errors.js";
import { upstreamHeader } from "../openai/respond.js";
import { startSse, writeSse } from "../openai/sse.js";
import { ResponseEvents } from "./events.js";
import type { ResponseObject, Skeleton } from "./response-object.js";
import { sseOf } from "./sse.js";

/** Stores a finished response (or does nothing, for store:false). */
export type Save = (response: ResponseObject) => Promise<void>;

// A job restarted on another worker starts its response over.
class EventCollector implements Collector {
  events: ResponseEvents;

  constructor(private readonly skeleton: Skeleton) {
    this.events = new ResponseEvents(skeleton);
  }

  add(items: Delta[]): void {
    this.events.deltas(items);
  }

  reset(): void {
    this.events = new ResponseEvents(this.skeleton);
  }
}

/** The whole response as one object, stored first. */
export async function collectResponse(a: Answer, skeleton: Skeleton, reply: FastifyReply, save: Save): Promise<ResponseObject> {
  const into = new EventCollector(skeleton);
  const final = await a.collect(into);
  upstreamHeader(reply, a, final);
  into.events.final(final);
  const response = into.events.snapshot();
  await save(response);
  return response;
}

/**
 * The response as Responses SSE events. Headers go out with the first batch
 * (the core waited for it), so a failure before the first token is an
 * ordinary HTTP error; after that, a failure is OpenAI's `error` event and
 * response.failed. The closing events wait until the response is stored. A
 * client that leaves cancels the job, and nothing is stored: nobody is left
 * to continue from it.
 */
export async function streamResponse(a: Answer, req: FastifyRequest, reply: FastifyReply, events: ResponseEvents, save: Save): Promise<void> {
  const res = reply.raw;
  // Read before the hijack: afterwards Fastify sends none of the reply's headers.
  const held = reply.getHeaders();
  reply.hijack();
  startSse(res, req.id, held);
  let end = "";
  try {
    await a.relay({
      closed: () => res.destroyed,
      deltas: (items) => {
        const w = writeSse(res, sseOf(events.deltas(items)));
        return w ? w.then(() => !res.destroyed) : undefined;
      },
      final: (f) => void (end = sseOf(events.final(f))),
    });
  } catch (e) {
    end = res.destroyed ? "" : sseOf(events.failed(toBrokerError(e, req)));
  }
  if (end) {
    try {
      await save(events.snapshot());
    } catch (e) {
      // The answer itself is whole: the client gets it, and a later retrieve a 404.
      req.log.error({ err: e, response: events.id }, "could not store the response");
    }
    if (!res.destroyed) {
      const w = writeSse(res, end);
      if (w) await w;
    }
  }
  res.end();
}
