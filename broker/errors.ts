import type { ErrorChunk } from "./proto.js";

/** OpenAI error `type` values the broker uses. */
export const ErrorType = {
  invalidRequest: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  notFound: "not_found_error",
  rateLimit: "rate_limit_error",
  server: "server_error",
  unavailable: "service_unavailable_error",
  upstream: "upstream_error",
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/**
 * Every error code the broker emits, with the HTTP status it goes with and
 * what it means. The README's error table is checked against this list.
 */
export const ErrorCodes = {
  invalid_json: { status: 400, doc: "The request body is not valid JSON." },
  invalid_request: { status: 400, doc: "A field is missing or has the wrong type or value; `param` names it." },
  invalid_api_key: { status: 401, doc: "The route passes the client's own key upstream and none was sent." },
  model_not_found: { status: 404, doc: "No route or live worker knows this model id." },
  not_found: { status: 404, doc: "No such endpoint." },
  request_too_large: { status: 413, doc: "The body is over the gateway's limit, or the job would not fit in a NATS message." },
  queue_full: { status: 429, doc: "The model's queue is at its bound; retry after `Retry-After` seconds." },
  queue_timeout: { status: 503, doc: "No worker took the job within the model's `maxQueueWaitMs`; it will never run." },
  upstream_rate_limited: { status: 429, doc: "The upstream engine answered 429; its `Retry-After` is kept." },
  upstream_error: { status: 502, doc: "The upstream engine failed or answered something unusable." },
  stream_interrupted: { status: 502, doc: "Chunks of the answer were lost between worker and gateway." },
  worker_lost: { status: 502, doc: "The worker running the job stopped answering." },
  model_unavailable: { status: 503, doc: "No worker serves the model now and it is not configured to queue." },
  nats_unavailable: { status: 503, doc: "The gateway has no connection to NATS right now." },
  shutting_down: { status: 503, doc: "The gateway or worker is shutting down." },
  timeout: { status: 504, doc: "No answer within the job's deadline or the idle timeout between chunks." },
  internal_error: { status: 500, doc: "A bug: the details are in the gateway's log, not in the response." },
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

/** The one error type: knows its HTTP status and its OpenAI error body. */
export class BrokerError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  readonly retryAfterS: number;

  constructor(
    code: ErrorCode | string,
    message: string,
    opts: { status?: number; type?: string; param?: string | null; retryAfterS?: number } = {},
  ) {
    super(message);
    const known = (ErrorCodes as Record<string, { status: number }>)[code];
    this.status = opts.status ?? known?.status ?? 500;
    this.type = opts.type ?? defaultType(this.status);
    this.code = code === "" ? null : code;
    this.param = opts.param ?? null;
    this.retryAfterS = opts.retryAfterS ?? 0;
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  toChunk(): ErrorChunk {
    return {
      status: this.status,
      type: this.type,
      code: this.code ?? "",
      message: this.message,
      param: this.param ?? "",
      retryAfterS: this.retryAfterS,
    };
  }

  static fromChunk(e: ErrorChunk): BrokerError {
    return new BrokerError(e.code ?? "", e.message ?? "unknown error", {
      status: e.status || 500,
      type: e.type || undefined,
      param: e.param || null,
      retryAfterS: e.retryAfterS ?? 0,
    });
  }
}

/**
 * A mistake in the config or in an engine's options, found at startup: the
 * process stops before it listens, with this message and no stack.
 */
export class ConfigError extends Error {}

function defaultType(status: number): string {
  if (status === 401) return ErrorType.authentication;
  if (status === 403) return ErrorType.permission;
  if (status === 429) return ErrorType.rateLimit;
  if (status === 503) return ErrorType.unavailable;
  if (status >= 500) return ErrorType.server;
  return ErrorType.invalidRequest;
}
