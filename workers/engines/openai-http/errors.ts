// Upstream failures, turned into the one BrokerError shape. Upstream OpenAI
// error fields are kept where the client can act on them (4xx); the worker's
// key is never part of a message.
import type { IncomingHttpHeaders } from "node:http";
import { BrokerError } from "../../../broker/errors.js";
import { jsonOrUndefined } from "../http-upstream.js";

interface UpstreamError {
  message?: string;
  type?: string;
  param?: string;
  code?: string | number;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * Reads the error out of the shapes OpenAI-compatible servers use: OpenAI's
 * `{error:{message,type,param,code}}`, vLLM's flat `{message,type,code}`,
 * TGI's `{error:"...",error_type}` and FastAPI's `{detail}`.
 */
export function readUpstreamError(body: unknown): UpstreamError | undefined {
  const b = obj(body);
  if (!b) return undefined;
  const e = obj(b.error) ?? b;
  const code = typeof e.code === "number" ? e.code : str(e.code);
  const detail = b.detail === undefined ? undefined : (str(b.detail) ?? JSON.stringify(b.detail).slice(0, 500));
  const message = str(e.message) ?? str(b.error) ?? detail;
  if (message === undefined) return undefined;
  return { message, type: str(e.type) ?? str(b.error_type), param: str(e.param), code };
}

/** Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); 0 when absent. */
export function retryAfterSeconds(headers: IncomingHttpHeaders, now = Date.now()): number {
  const ms = Number(headers["retry-after-ms"]);
  if (headers["retry-after-ms"] && Number.isFinite(ms) && ms >= 0) return Math.ceil(ms / 1000);
  const value = headers["retry-after"]?.trim();
  if (!value) return 0;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value));
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, Math.ceil((at - now) / 1000));
}

/** A non-2xx answer from the upstream; `clientKey`: the key was the client's own (passthrough). */
export function httpError(status: number, headers: IncomingHttpHeaders, bodyText: string, host: string, key: string, clientKey = false): BrokerError {
  const body = jsonOrUndefined(bodyText);
  return upstreamError(status, readUpstreamError(body), host, key, retryAfterSeconds(headers), clientKey);
}

/** An `{"error":…}` event inside a stream; its status, when given, is in `code` (vLLM) or `status`. */
export function streamError(payload: Record<string, unknown>, host: string, key: string): BrokerError {
  const e = readUpstreamError(payload) ?? { message: "unknown error" };
  const given = typeof e.code === "number" ? e.code : Number(obj(payload.error)?.status);
  const status = given >= 400 && given < 600 ? given : 500;
  if (status >= 500 && status !== 503) {
    return new BrokerError("upstream_error", `the upstream at ${host} failed mid-stream: ${redact(e.message ?? "", key)}`, { status: 502 });
  }
  return upstreamError(status, e, host, key, 0);
}

function upstreamError(status: number, e: UpstreamError | undefined, host: string, key: string, retryAfterS: number, clientKey = false): BrokerError {
  const message = e?.message !== undefined ? redact(e.message, key) : undefined;
  const suffix = message ? `: ${message}` : "";
  if (status === 401 || status === 403) {
    // The upstream's own text is dropped: OpenAI's echoes part of the rejected key.
    const whose = clientKey ? "the client's API key" : "the worker's credentials";
    return new BrokerError("upstream_error", `the upstream at ${host} refused ${whose} (HTTP ${status})`, { status: 502 });
  }
  if (status === 429) {
    return new BrokerError("upstream_rate_limited", message ?? `the upstream at ${host} is rate-limiting requests`, {
      type: e?.type, param: e?.param, retryAfterS,
    });
  }
  if (status === 503) return new BrokerError("model_unavailable", `the upstream at ${host} is unavailable (HTTP 503)${suffix}`, { retryAfterS });
  if (status === 408) return new BrokerError("timeout", `the upstream at ${host} timed out (HTTP 408)${suffix}`);
  if (status >= 500 || status < 400) {
    return new BrokerError("upstream_error", `the upstream at ${host} failed (HTTP ${status})${suffix}`, { status: 502 });
  }
  // A 404 that is not an OpenAI error is a wrong URL, the operator's problem rather than the client's.
  if (status === 404 && message === undefined) {
    return new BrokerError("upstream_error", `the upstream at ${host} answered 404 for /chat/completions: check baseUrl`, { status: 502 });
  }
  const code = typeof e?.code === "string" ? e.code : defaultCode(status);
  return new BrokerError(code, message ?? `the upstream at ${host} rejected the request (HTTP ${status})`, {
    status: status === 422 ? 400 : status, type: e?.type, param: e?.param,
  });
}

function defaultCode(status: number): string {
  if (status === 404) return "model_not_found";
  if (status === 413) return "request_too_large";
  return "invalid_request";
}

/** A failure below HTTP: no connection, a reset, a TLS problem. */
export function networkError(err: unknown, host: string): BrokerError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const at = `the upstream at ${host}`;
  switch (code) {
    case "ECONNREFUSED":
      return new BrokerError("upstream_error", `cannot connect to ${at}: connection refused`, { status: 502 });
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new BrokerError("upstream_error", `cannot resolve the upstream host ${host}`, { status: 502 });
    case "ETIMEDOUT":
      return new BrokerError("timeout", `connecting to ${at} timed out`);
    case "ECONNRESET":
    case "EPIPE":
      return new BrokerError("upstream_error", `${at} closed the connection before the answer was complete`, { status: 502 });
  }
  const reason = code ?? (err instanceof Error ? err.message : String(err));
  return new BrokerError("upstream_error", `the request to ${at} failed: ${reason}`, { status: 502 });
}

/** Removes the key from upstream text, in case a server echoes it back. */
export function redact(text: string, key: string): string {
  return key.length >= 4 ? text.split(key).join("[redacted]") : text;
}
