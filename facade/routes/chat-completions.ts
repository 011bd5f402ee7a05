import type { FastifyInstance } from "fastify";
import { ChatAggregator, ChatStream } from "../chat-format.js";
import { parseChatRequest } from "../chat-request.js";
import { collect, newIds, stream, submitFor, type RouteDeps } from "../respond.js";

export function registerChatRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/chat/completions", async (req, reply) => {
    const { model, stream: streamed, chat } = parseChatRequest(req.body);
    const job = await submitFor(deps, req, reply, model, { chat });
    const ids = newIds("chatcmpl-", job);
    if (!streamed) return collect(job, ids, model, new ChatAggregator());
    return stream(job, req, reply, new ChatStream({ ...ids, model, includeUsage: chat.includeUsage === true }));
  });
}
