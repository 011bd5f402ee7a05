// Upstream failures, turned into the one BrokerError shape. Upstream OpenAI
// error fields are kept where the client can act on them (4xx); the worker's
// key is never part of a message.
import type { IncomingHttpHeaders } from "node:http";
import { BrokerError, type ErrorCode } from "../../../contract/mod.js";
import { credentialsRefused, jsonOrUndefined, nonEmpty, obj, redact, retryAfterSeconds, type Caller } from "../relay/index.js";

interface UpstreamError {
  message?: string;
  type?: string;
  param?: string;
  code?: string | number;
}

/**
 * Reads the error out of the shapes OpenAI-compatible servers use: OpenAI's
 * `{error:{message,type,param,code}}`, vLLM's flat `{message,type,code}`,
 * TGI's `{error:"...",error_type}` and FastAPI's `{detail}`.
 */
export function readUpstreamError(body: unknown): UpstreamError | undefined {
  const b = obj(body);
  if (!b) return undefined;
  const e = obj(b.error) ?? b;
  const code = typeof e.code === "number" ? e.code : nonEmpty(e.code);
  const detail = b.detail === undefined ? undefined : (nonEmpty(b.detail) ?? JSON.stringify(b.detail).slice(0, 500));
  const message = nonEmpty(e.message) ?? nonEmpty(b.error) ?? detail;
  if (message === undefined) return undefined;
  return { message, type: nonEmpty(e.type) ?? nonEmpty(b.error_type), param: nonEmpty(e.param), code };
}

/** A non-2xx answer from the upstream. */
export function httpError(status: number, headers: IncomingHttpHeaders, bodyText: string, caller: Caller): BrokerError {
  return upstreamError(status, readUpstreamError(jsonOrUndefined(bodyText)), caller, retryAfterSeconds(headers));
}

/** An `{"error":…}` event inside a stream; its status, when given, is in `code` (vLLM) or `status`. */
export function streamError(payload: Record<string, unknown>, caller: Caller): BrokerError {
  const e = readUpstreamError(payload) ?? { message: "unknown error" };
  const given = typeof e.code === "number" ? e.code : Number(obj(payload.error)?.status);
  const status = given >= 400 && given < 600 ? given : 500;
  if (status >= 500 && status !== 503) {
    return new BrokerError("upstream_error", `the upstream at ${caller.host} failed mid-stream: ${redact(e.message ?? "", caller.key)}`);
  }
  return upstreamError(status, e, caller, 0);
}

function upstreamError(status: number, e: UpstreamError | undefined, caller: Caller, retryAfterS: number): BrokerError {
  const { host } = caller;
  const message = e?.message !== undefined ? redact(e.message, caller.key) : undefined;
  const suffix = message ? `: ${message}` : "";
  if (status === 401 || status === 403) return credentialsRefused(caller, `(HTTP ${status})`);
  if (status === 429) {
    return new BrokerError("upstream_rate_limited", message ?? `the upstream at ${host} is rate-limiting requests`, {
      upstreamType: e?.type, param: e?.param, retryAfterS,
    });
  }
  if (status === 503) return new BrokerError("model_unavailable", `the upstream at ${host} is unavailable (HTTP 503)${suffix}`, { retryAfterS });
  if (status === 408) return new BrokerError("timeout", `the upstream at ${host} timed out (HTTP 408)${suffix}`);
  if (status >= 500 || status < 400) {
    return new BrokerError("upstream_error", `the upstream at ${host} failed (HTTP ${status})${suffix}`);
  }
  // A 404 that is not an OpenAI error is a wrong URL, the operator's problem rather than the client's.
  if (status === 404 && message === undefined) {
    return new BrokerError("upstream_error", `the upstream at ${host} answered 404 for /chat/completions: check baseUrl`);
  }
  // The upstream's own code and type are what the client sees (OpenAI's context_length_exceeded).
  return new BrokerError(codeOf(status), message ?? `the upstream at ${host} rejected the request (HTTP ${status})`, {
    upstreamCode: typeof e?.code === "string" ? e.code : undefined, upstreamType: e?.type, param: e?.param,
  });
}

// Any other 4xx (402, 409, 415...) is a 400: the table fixes the status, the upstream's code and message say the rest.
function codeOf(status: number): ErrorCode {
  if (status === 404) return "model_not_found";
  if (status === 413) return "request_too_large";
  return "invalid_request";
}
