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
 * what it means. The README's error table is checked against this list, and
 * a test checks that every code thrown anywhere in the source is in it.
 */
export const ErrorCodes = {
  invalid_request: { status: 400, doc: "A field is missing or has the wrong type or value; `param` names it." },
  invalid_json: { status: 400, doc: "The request body is not valid JSON." },
  context_length_exceeded: { status: 400, doc: "The prompt is longer than the model's context; the engine said so before generating." },
  invalid_api_key: { status: 401, doc: "No broker key, an unknown one, a revoked or expired one (the message says which); or a passthrough route got no upstream key." },
  unauthenticated: { status: 401, doc: "gRPC client: the call failed with UNAUTHENTICATED and no broker error (a proxy in front refused it)." },
  permission_denied: { status: 403, doc: "gRPC client: the call failed with PERMISSION_DENIED and no broker error." },
  priority_not_allowed: { status: 403, doc: "The priority header asks for a lane above the key's `maxPriority`." },
  model_not_found: { status: 404, doc: "No route or live worker knows this model id." },
  not_found: { status: 404, doc: "No such endpoint." },
  response_not_found: { status: 404, doc: "No stored response with this id for this key: unknown, deleted, expired, created with `store: false`, or another key's." },
  request_too_large: { status: 413, doc: "The body is over the gateway's limit, or the job would not fit in a NATS message." },
  queue_full: { status: 429, doc: "The model's queue is at its bound; retry after `Retry-After` seconds." },
  queue_timeout: { status: 503, doc: "No worker took the job within the model's `maxQueueWaitMs`; it will never run." },
  rate_limit_exceeded: { status: 429, doc: "The key is over its requests, tokens or concurrent-requests limit; retry after `Retry-After` seconds." },
  insufficient_quota: { status: 429, doc: "The key has spent its token budget for the period; `Retry-After` says when the next period starts." },
  upstream_rate_limited: { status: 429, doc: "The upstream engine answered 429; its `Retry-After` is kept." },
  resource_exhausted: { status: 429, doc: "gRPC client: the call failed with RESOURCE_EXHAUSTED and no broker error (e.g. a message over the channel's size limit)." },
  cancelled: { status: 499, doc: "The client cancelled the request (a gRPC call's cancel); its job is cancelled too." },
  upstream_error: { status: 502, doc: "The upstream engine failed or answered something unusable." },
  stream_interrupted: { status: 502, doc: "Chunks of the answer were lost between worker and gateway." },
  worker_lost: { status: 502, doc: "The worker running the job stopped answering." },
  model_unavailable: { status: 503, doc: "No worker serves the model now and it is not configured to queue." },
  nats_unavailable: { status: 503, doc: "The gateway has no connection to NATS right now." },
  shutting_down: { status: 503, doc: "The gateway or worker is shutting down." },
  unavailable: { status: 503, doc: "gRPC client: the call failed with UNAVAILABLE and no broker error (the gateway could not be reached)." },
  timeout: { status: 504, doc: "No answer within the job's deadline or the idle timeout between chunks." },
  internal_error: { status: 500, doc: "A bug: the details are in the gateway's log, not in the response." },
} as const satisfies Record<string, { status: number; doc: string }>;
export type ErrorCode = keyof typeof ErrorCodes;

/** Whether `code` is one of the table's. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ErrorCodes, code);
}

export interface BrokerErrorOptions {
  /** The request field at fault, named the way the front that checked it names it. */
  param?: string | null;
  /** Seconds for `Retry-After`; 0 for none. */
  retryAfterS?: number;
  /**
   * An upstream's own error code (OpenAI's `context_length_exceeded`): the
   * client sees it as `code` in place of the broker's.
   */
  upstreamCode?: string;
  /** An upstream's own error type (OpenAI's `requests` on a 429): the client sees it as `type`. */
  upstreamType?: string;
}

/**
 * The one error type: a code from the table, which fixes the HTTP status, and
 * the OpenAI error body the client sees.
 */
export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The OpenAI error `type` the client sees: the upstream's own, else the status's. */
  readonly type: string;
  readonly param: string | null;
  readonly retryAfterS: number;
  /** The upstream's own code, when it gave one; see `wireCode`. */
  readonly upstreamCode: string | null;

  constructor(code: ErrorCode, message: string, opts: BrokerErrorOptions = {}) {
    super(message);
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.type = opts.upstreamType || defaultType(this.status);
    this.param = opts.param ?? null;
    this.retryAfterS = opts.retryAfterS ?? 0;
    this.upstreamCode = opts.upstreamCode || null;
  }

  /** The `code` the client sees: the upstream's own when it gave one, else the broker's. */
  get wireCode(): string {
    return this.upstreamCode ?? this.code;
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.wireCode } };
  }

  toChunk(): ErrorChunk {
    return {
      status: this.status,
      type: this.type,
      code: this.code,
      message: this.message,
      param: this.param ?? "",
      retryAfterS: this.retryAfterS,
      upstreamCode: this.upstreamCode ?? "",
    };
  }

  static fromChunk(e: ErrorChunk): BrokerError {
    const sent = e.code ?? "";
    const status = e.status || 500;
    // A worker from before the closed table may send an upstream's code as `code`.
    const code: ErrorCode = isErrorCode(sent) ? sent : codeFor(status);
    const upstreamCode = e.upstreamCode || (isErrorCode(sent) ? undefined : sent);
    const type = e.type ?? "";
    return new BrokerError(code, e.message ?? "unknown error", {
      param: e.param || null,
      retryAfterS: e.retryAfterS ?? 0,
      ...(upstreamCode ? { upstreamCode } : {}),
      ...(type && type !== defaultType(ErrorCodes[code].status) ? { upstreamType: type } : {}),
    });
  }
}

/** The first code in the table with this status (so 400 is invalid_request), for a chunk whose code is not in it. */
function codeFor(status: number): ErrorCode {
  const hit = Object.entries(ErrorCodes).find(([, v]) => v.status === status);
  return hit ? (hit[0] as ErrorCode) : "internal_error";
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
