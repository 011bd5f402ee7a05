// POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API
// as a front over the same core as the OpenAI chat route (InferenceService
// chat and countTokens, so routes, lanes, keys, limits and engines apply
// alike). Its own Fastify scope, so every error on these paths, a bad JSON
// body included, leaves in Anthropic's shape.
import type { FastifyInstance } from "fastify";
import type { BrokerError } from "../../contract/mod.js";
import { estimatePromptTokens } from "../../core/mod.js";
import { errorHandler } from "../openai/errors.js";
import { collect, contextOf, idsOf, routeHeader, setRateLimitHeaders, stream, upstreamHeader, type RouteDeps } from "../openai/respond.js";
import { parseCountTokensRequest } from "./count-tokens-request.js";
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

    // Counted by a worker of the model: exact where its engine has a tokenizer or its upstream counts (README).
    scope.post("/v1/messages/count_tokens", async (req, reply) => {
      const call = parseCountTokensRequest(req.body, deps.limits);
      const a = await deps.service.countTokens(call, { ...contextOf(deps, req, reply), bearer: keyOf(req.headers) });
      routeHeader(a, reply);
      const final = await a.final();
      upstreamHeader(reply, a, final);
      return { input_tokens: final.usage?.promptTokens ?? 0 };
    });
  });
}
