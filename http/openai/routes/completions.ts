import type { FastifyInstance } from "fastify";
import { CompletionAggregator, CompletionStream } from "../completion-format.js";
import { parseCompletionRequest } from "../completion-request.js";
import { collect, contextOf, idsOf, stream, type RouteDeps } from "../respond.js";

/** The legacy text completions endpoint, for clients and tools that still use it. */
export function registerCompletionRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/completions", async (req, reply) => {
    const call = parseCompletionRequest(req.body, deps.limits);
    const a = await deps.service.complete(call, contextOf(deps, req, reply));
    const ids = idsOf(a, reply, "cmpl-");
    if (!call.stream) return collect(a, ids, new CompletionAggregator(), reply);
    return stream(a, req, reply, new CompletionStream({ ...ids, model: a.target.publicId, includeUsage: call.completion.includeUsage === true }));
  });
}
