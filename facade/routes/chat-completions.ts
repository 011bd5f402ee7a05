import type { FastifyInstance } from "fastify";
import { ChatAggregator, ChatStream } from "../chat-format.js";
import { parseChatRequest } from "../chat-request.js";
import { collect, open, stream, type RouteDeps } from "../respond.js";

export function registerChatRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/chat/completions", async (req, reply) => {
    const { model, stream: streamed, chat } = parseChatRequest(req.body);
    const o = await open(deps, req, reply, model, { chat }, "chatcmpl-");
    if (!streamed) return collect(o, new ChatAggregator(), reply);
    return stream(o, req, reply, new ChatStream({ ...o.ids, model: o.target.publicId, includeUsage: chat.includeUsage === true }));
  });
}
