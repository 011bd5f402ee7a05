// POST /v1/messages: Anthropic's Messages API as a front over the same core
// as the OpenAI chat route (one InferenceService.chat call, so routes, lanes,
// keys, limits and engines apply alike). Its own Fastify scope, so every
// error on these paths, a bad JSON body included, leaves in Anthropic's shape.
import type { FastifyInstance } from "fastify";
import type { BrokerError } from "../../contract/mod.js";
import { estimatePromptTokens, invalid } from "../../core/mod.js";
import { errorHandler } from "../openai/errors.js";
import { collect, contextOf, idsOf, setRateLimitHeaders, stream, type RouteDeps } from "../openai/respond.js";
import { sendAnthropicError } from "./errors.js";
import { keyOf } from "./key.js";
import { MessageAggregator } from "./message-format.js";
import { parseMessagesRequest } from "./messages-request.js";
import { anthropicRateLimitHeaders } from "./rate-limit.js";
import { MessagesStream } from "./sse.js";

export interface MessagesDeps extends RouteDeps {
  /** Counts a refused request (broker_rejections_total), as the gateway's own handler does. */
  countRejection: (e: BrokerError) => void;
}

export function registerMessagesRoutes(app: FastifyInstance, deps: MessagesDeps): void {
  app.register(async (scope) => {
    scope.setErrorHandler(errorHandler(deps.countRejection, sendAnthropicError));
    // Anthropic's SDKs read the request id from `request-id`; set before any hijack so a stream carries it too.
    scope.addHook("onRequest", async (req, reply) => {
      reply.header("request-id", req.id);
    });

    // Any `anthropic-version` is accepted: the shapes served here are the same in every version.
    scope.post("/v1/messages", async (req, reply) => {
      const call = parseMessagesRequest(req.body, deps.limits);
      // Anthropic's SDKs read their own header names; OpenAI's go too, as on every route.
      const a = await deps.service.chat(call, {
        ...contextOf(deps, req, reply),
        bearer: keyOf(req.headers),
        onLimits: (view) => {
          setRateLimitHeaders(reply, view);
          for (const [k, v] of anthropicRateLimitHeaders(view)) reply.raw.setHeader(k, v);
        },
      });
      const ids = idsOf(a, reply, "msg_");
      if (!call.stream) return collect(a, ids, new MessageAggregator(), reply);
      const inputEstimate = estimatePromptTokens({ chat: call.chat });
      return stream(a, req, reply, new MessagesStream({ id: ids.id, model: a.target.publicId, inputEstimate }));
    });

    scope.post("/v1/messages/count_tokens", async () => {
      throw invalid(null, "Token counting (/v1/messages/count_tokens) is not supported by this gateway yet.");
    });
  });
}
