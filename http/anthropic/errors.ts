// Broker errors in Anthropic's shape: {"type":"error","error":{"type","message"},"request_id"}.
// https://docs.anthropic.com/en/api/errors
import type { FastifyReply } from "fastify";
import type { BrokerError, ErrorCode } from "../../contract/mod.js";

/** Anthropic's error types, with the HTTP status each goes with on Anthropic's API. */
const Kind = {
  invalid: { type: "invalid_request_error" },
  auth: { type: "authentication_error" },
  permission: { type: "permission_error" },
  notFound: { type: "not_found_error" },
  tooLarge: { type: "request_too_large" },
  rateLimit: { type: "rate_limit_error" },
  api: { type: "api_error" },
  // 529: capacity is short for everyone, not this key's limit; the SDKs retry it.
  overloaded: { type: "overloaded_error", status: 529 },
} as const;
type Kind = { readonly type: string; readonly status?: number };

/**
 * Every broker code as Anthropic names it. The broker's status is kept except
 * where Anthropic has its own for the same meaning: a model with no worker to
 * run it, now or within its queue wait, is Anthropic's 529 overloaded_error.
 * A full queue stays 429 rate_limit_error (the broker's promise: a clear 429
 * when a bound is hit), and gateway-side outages (NATS down, shutting down)
 * stay 503 api_error. Typed over ErrorCode, so a new code must be placed here.
 */
const KINDS: Readonly<Record<ErrorCode, Kind>> = {
  invalid_request: Kind.invalid,
  invalid_json: Kind.invalid,
  context_length_exceeded: Kind.invalid,
  invalid_api_key: Kind.auth,
  unauthenticated: Kind.auth,
  permission_denied: Kind.permission,
  priority_not_allowed: Kind.permission,
  model_not_found: Kind.notFound,
  not_found: Kind.notFound,
  response_not_found: Kind.notFound,
  request_too_large: Kind.tooLarge,
  queue_full: Kind.rateLimit,
  rate_limit_exceeded: Kind.rateLimit,
  insufficient_quota: Kind.rateLimit,
  upstream_rate_limited: Kind.rateLimit,
  resource_exhausted: Kind.rateLimit,
  // Anthropic uses invalid_request_error for 4xx statuses it does not list.
  cancelled: Kind.invalid,
  queue_timeout: Kind.overloaded,
  model_unavailable: Kind.overloaded,
  upstream_error: Kind.api,
  stream_interrupted: Kind.api,
  worker_lost: Kind.api,
  nats_unavailable: Kind.api,
  shutting_down: Kind.api,
  unavailable: Kind.api,
  timeout: Kind.api,
  internal_error: Kind.api,
};

/** Anthropic's error body for a broker error. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
  request_id: string;
}

export function anthropicStatus(e: BrokerError): number {
  return KINDS[e.code].status ?? e.status;
}

export function anthropicError(e: BrokerError, requestId: string): AnthropicErrorBody {
  return { type: "error", error: { type: KINDS[e.code].type, message: e.message }, request_id: requestId };
}

/** Sends a broker error as Anthropic's JSON, with its Retry-After. */
export function sendAnthropicError(reply: FastifyReply, e: BrokerError): FastifyReply {
  if (e.retryAfterS > 0) reply.header("retry-after", String(e.retryAfterS));
  return reply.code(anthropicStatus(e)).type("application/json").send(anthropicError(e, reply.request.id));
}
