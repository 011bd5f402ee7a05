// The limiter's refusals, worded like OpenAI's own 429s so clients and their
// retry logic read them as they read OpenAI's.
import { BrokerError } from "../../contract/mod.js";

/** Retry-After in whole seconds, at least 1 (0 would invite a busy loop). */
export function retryAfterS(ms: number): number {
  return Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : 60;
}

const UNITS = { requests: "requests per min (RPM)", tokens: "tokens per min (TPM)" } as const;

export function windowRefusal(label: string, unit: "requests" | "tokens", limit: number, used: number, requested: number, retryMs: number): BrokerError {
  const s = retryAfterS(retryMs);
  if (requested > limit) {
    return new BrokerError(
      "rate_limit_exceeded",
      `Request too large for ${label} on ${UNITS[unit]}: Limit ${limit}, Requested ${requested}. The input or output tokens must be reduced in order to run successfully.`,
      { retryAfterS: s, upstreamType: unit },
    );
  }
  return new BrokerError(
    "rate_limit_exceeded",
    `Rate limit reached for ${label} on ${UNITS[unit]}: Limit ${limit}, Used ${used}, Requested ${requested}. Please try again in ${s}s.`,
    { retryAfterS: s, upstreamType: unit },
  );
}

export function concurrencyRefusal(label: string, limit: number, used: number): BrokerError {
  // Nothing says when another request ends: 1 s is OpenAI's own floor.
  return new BrokerError(
    "rate_limit_exceeded",
    `Rate limit reached for ${label} on concurrent requests: Limit ${limit}, Used ${used}, Requested 1. Please try again in 1s.`,
    { retryAfterS: 1, upstreamType: "requests" },
  );
}

export function budgetRefusal(label: string, limit: number, period: string, used: number, requested: number, nextStartMs: number, nowMs: number): BrokerError {
  return new BrokerError(
    "insufficient_quota",
    `You exceeded the token budget for ${label}: Limit ${limit} tokens per ${period}, Used ${used}, Requested ${requested}. It renews at ${new Date(nextStartMs).toISOString()}.`,
    { retryAfterS: retryAfterS(nextStartMs - nowMs), upstreamType: "insufficient_quota" },
  );
}
