// Anthropic's failures, turned into the one BrokerError shape. Anthropic
// answers errors as {"type":"error","error":{"type","message"},"request_id"},
// over HTTP or as an `error` event inside a 200 stream; the error type decides
// the mapping (a stream error has no status), the HTTP status is the fallback.
// https://docs.anthropic.com/en/api/errors
import type { IncomingHttpHeaders } from "node:http";
import { BrokerError } from "../../../contract/mod.js";
import { credentialsRefused, jsonOrUndefined, nonEmpty, obj, redact, retryAfterSeconds, type Caller } from "../relay/index.js";

/** What an Anthropic error says, from either place it can arrive. */
export interface AnthropicFailure {
  /** The HTTP status; undefined for an `error` event in a stream. */
  status?: number;
  /** Anthropic's `error.type`: overloaded_error, rate_limit_error, invalid_request_error... */
  type?: string;
  message?: string;
  retryAfterS?: number;
}

/** Reads `{type:"error", error:{type, message}}`; undefined when the body is not Anthropic's error shape. */
export function readAnthropicError(body: unknown): { type?: string; message?: string } | undefined {
  const e = obj(obj(body)?.error);
  if (!e) return undefined;
  return { type: nonEmpty(e.type), message: nonEmpty(e.message) };
}

/** A non-2xx answer. */
export function httpError(status: number, headers: IncomingHttpHeaders, bodyText: string, caller: Caller): BrokerError {
  const e = readAnthropicError(jsonOrUndefined(bodyText));
  return toBrokerError({ status, ...e, retryAfterS: retryAfterSeconds(headers) }, caller);
}

/** An `event: error` inside a stream, after the 200. */
export function streamError(payload: unknown, caller: Caller): BrokerError {
  return toBrokerError({ ...(readAnthropicError(payload) ?? { message: "unknown error" }) }, caller);
}

/**
 * The mapping (the README's error table should carry it):
 * overloaded_error / 529 / 503 → 503 model_unavailable;
 * rate_limit_error / 429 → 429 upstream_rate_limited (Retry-After kept);
 * invalid_request_error / 400 → 400 invalid_request with Anthropic's message;
 * request_too_large / 413 → 413; not_found_error / 404 → 404 model_not_found
 * (a 404 that is not Anthropic's error shape is a wrong baseUrl: 502);
 * timeout_error / 504 → 504 timeout;
 * authentication_error, permission_error, billing_error (401/402/403),
 * api_error / 5xx → 502 upstream_error. Credentials errors drop Anthropic's text.
 */
export function toBrokerError(f: AnthropicFailure, caller: Caller): BrokerError {
  const at = `the upstream at ${caller.host}`;
  const message = f.message !== undefined ? redact(f.message, caller.key) : undefined;
  const suffix = message ? `: ${message}` : "";
  const retryAfterS = f.retryAfterS ?? 0;
  const { status } = f;
  const how = status === undefined ? "mid-stream" : `(HTTP ${status})`;
  switch (kind(f)) {
    case "overloaded":
      return new BrokerError("model_unavailable", `${at} is overloaded ${how}${suffix}`, { retryAfterS });
    case "rate_limit":
      return new BrokerError("upstream_rate_limited", message ?? `${at} is rate-limiting requests`, { retryAfterS });
    case "credentials":
      return credentialsRefused(caller, how);
    case "billing":
      return new BrokerError("upstream_error", `${at} refused the request for billing reasons ${how}${suffix}`);
    case "not_found":
      if (message === undefined) return new BrokerError("upstream_error", `${at} answered 404 for /v1/messages: check baseUrl`);
      return new BrokerError("model_not_found", `${at} does not know this model${suffix}`, { upstreamType: "not_found_error" });
    case "too_large":
      return new BrokerError("request_too_large", message ?? `${at} refused the request as too large`);
    case "invalid":
      return new BrokerError("invalid_request", message ?? `${at} rejected the request ${how}`);
    case "timeout":
      return new BrokerError("timeout", `${at} timed out ${how}${suffix}`);
    case "server":
      return new BrokerError("upstream_error", `${at} failed ${how}${suffix}`);
  }
}

type Kind = "overloaded" | "rate_limit" | "credentials" | "billing" | "not_found" | "too_large" | "invalid" | "timeout" | "server";

const BY_TYPE: Readonly<Record<string, Kind>> = {
  overloaded_error: "overloaded",
  rate_limit_error: "rate_limit",
  authentication_error: "credentials",
  permission_error: "credentials",
  billing_error: "billing",
  not_found_error: "not_found",
  request_too_large: "too_large",
  invalid_request_error: "invalid",
  timeout_error: "timeout",
  api_error: "server",
};

function kind({ status, type }: AnthropicFailure): Kind {
  // The status wins where it is unambiguous: a proxy in front may answer with its own body.
  switch (status) {
    case 529:
    case 503:
      return "overloaded";
    case 429:
      return "rate_limit";
    case 401:
    case 403:
      return "credentials";
    case 402:
      return "billing";
    case 404:
      return "not_found";
    case 413:
      return "too_large";
    case 408:
    case 504:
      return "timeout";
  }
  const known = type === undefined ? undefined : BY_TYPE[type];
  if (known) return known;
  if (status !== undefined && status >= 400 && status < 500) return "invalid";
  return "server";
}
