import type { FastifyInstance } from "fastify";
import { CompletionAggregator, CompletionStream } from "../completion-format.js";
import { parseCompletionRequest } from "../completion-request.js";
import { collect, newIds, stream, submitFor, type RouteDeps } from "../respond.js";

/** The legacy text completions endpoint, for clients and tools that still use it. */
export function registerCompletionRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/completions", async (req, reply) => {
    const { model, stream: streamed, completion } = parseCompletionRequest(req.body);
    const job = await submitFor(deps, req, reply, model, { completion });
    const ids = newIds("cmpl-", job);
    if (!streamed) return collect(job, ids, model, new CompletionAggregator());
    return stream(job, req, reply, new CompletionStream({ ...ids, model, includeUsage: completion.includeUsage === true }));
  });
}
