import type { FastifyInstance } from "fastify";
import { CompletionAggregator, CompletionStream } from "../completion-format.js";
import { parseCompletionRequest } from "../completion-request.js";
import { collect, open, stream, type RouteDeps } from "../respond.js";

/** The legacy text completions endpoint, for clients and tools that still use it. */
export function registerCompletionRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/completions", async (req, reply) => {
    const { model, stream: streamed, completion } = parseCompletionRequest(req.body);
    const o = await open(deps, req, reply, model, { completion }, "cmpl-");
    if (!streamed) return collect(o, new CompletionAggregator(), reply);
    return stream(o, req, reply, new CompletionStream({ ...o.ids, model: o.target.publicId, includeUsage: completion.includeUsage === true }));
  });
}
