// Failures every relay engine maps the same way, whatever the provider: below
// HTTP, a stream cut short, refused credentials, Retry-After, and keeping the
// key out of messages. Each provider maps its own error bodies.
import type { IncomingHttpHeaders } from "node:http";
import { BrokerError } from "../../../contract/mod.js";

/** Who made a request: what error mapping needs to name the host and hide the key. */
export interface Caller {
  host: string;
  /** The key sent; never part of a message. */
  key: string;
  /** The key was the client's own (passthrough), not the worker's. */
  clientKey: boolean;
}

/** A failure below HTTP: no connection, a reset, a TLS problem. */
export function networkError(err: unknown, host: string): BrokerError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const at = `the upstream at ${host}`;
  switch (code) {
    case "ECONNREFUSED":
      return new BrokerError("upstream_error", `cannot connect to ${at}: connection refused`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new BrokerError("upstream_error", `cannot resolve the upstream host ${host}`);
    case "ETIMEDOUT":
      return new BrokerError("timeout", `connecting to ${at} timed out`);
    case "ECONNRESET":
    case "EPIPE":
      return new BrokerError("upstream_error", `${at} closed the connection before the answer was complete`);
  }
  const reason = code ?? (err instanceof Error ? err.message : String(err));
  return new BrokerError("upstream_error", `the request to ${at} failed: ${reason}`);
}

/** The stream ended without its end marker while an answer was still open. */
export function cutOff(host: string): BrokerError {
  return new BrokerError("upstream_error", `the upstream at ${host} ended the stream before the answer was complete`);
}

/**
 * 401/403: the upstream's own text is dropped, since OpenAI's echoes part of
 * the rejected key. `how`: "(HTTP 401)", or "mid-stream".
 */
export function credentialsRefused(c: Caller, how: string): BrokerError {
  const whose = c.clientKey ? "the client's API key" : "the worker's credentials";
  return new BrokerError("upstream_error", `the upstream at ${c.host} refused ${whose} ${how}`);
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

/** Removes the key from upstream text, in case a server echoes it back. */
export function redact(text: string, key: string): string {
  return key.length >= 4 ? text.split(key).join("[redacted]") : text;
}
