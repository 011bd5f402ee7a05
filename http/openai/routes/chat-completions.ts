import type { FastifyInstance } from "fastify";
import { ChatAggregator, ChatStream } from "../chat-format.js";
import { parseChatRequest } from "../chat-request.js";
import { collect, contextOf, idsOf, stream, type RouteDeps } from "../respond.js";

export function registerChatRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/chat/completions", async (req, reply) => {
    const call = parseChatRequest(req.body, deps.limits);
    const a = await deps.service.chat(call, contextOf(deps, req, reply));
    const ids = idsOf(a, reply, "chatcmpl-");
    if (!call.stream) return collect(a, ids, new ChatAggregator(), reply);
    return stream(a, req, reply, new ChatStream({ ...ids, model: a.target.publicId, includeUsage: call.chat.includeUsage === true }));
  });
}
