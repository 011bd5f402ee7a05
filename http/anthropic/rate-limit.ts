// Anthropic's anthropic-ratelimit-* headers from a key's limits, beside
// OpenAI's x-ratelimit-* (the same figures; clients of either SDK read their
// own). Resets are RFC 3339 times, not durations: "2025-08-21T12:40:59Z".
// https://docs.anthropic.com/en/api/rate-limits#response-headers
import type { RateLimitView } from "../../core/mod.js";

/** When a window `ms` from `now` resets, to the second (rounded up, so a client never retries early). */
export function resetTime(ms: number, now: number): string {
  return new Date(Math.ceil((now + Math.max(0, ms)) / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** The headers for the figures the view has; none for limits the key does not set. */
export function anthropicRateLimitHeaders(v: RateLimitView, now = Date.now()): [string, string][] {
  const out: [string, string][] = [];
  const add = (what: "requests" | "tokens", limit: number, remaining: number | undefined, resetMs: number | undefined): void => {
    out.push(
      [`anthropic-ratelimit-${what}-limit`, String(limit)],
      [`anthropic-ratelimit-${what}-remaining`, String(Math.max(0, remaining ?? 0))],
      [`anthropic-ratelimit-${what}-reset`, resetTime(resetMs ?? 0, now)],
    );
  };
  if (v.limitRequests !== undefined) add("requests", v.limitRequests, v.remainingRequests, v.resetRequestsMs);
  // A key's token limit counts input and output together: Anthropic's combined tokens-* family.
  if (v.limitTokens !== undefined) add("tokens", v.limitTokens, v.remainingTokens, v.resetTokensMs);
  return out;
}
