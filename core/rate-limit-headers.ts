// OpenAI's x-ratelimit-* headers from a limiter's figures, for every front
// (HTTP headers, gRPC initial metadata). Resets are Go-style durations as
// OpenAI writes them: "20ms", "1.5s", "6m0s".
import type { RateLimitView } from "../access/mod.js";

/** A duration as OpenAI's reset headers write it. */
export function resetDuration(ms: number): string {
  const t = Math.max(0, Math.ceil(ms));
  if (t < 1000) return `${t}ms`;
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = Number(((t % 60_000) / 1000).toFixed(3));
  if (h > 0) return `${h}h${m}m${s}s`;
  return m > 0 ? `${m}m${s}s` : `${s}s`;
}

/** The headers for the figures the view has; none for limits the key does not set. */
export function rateLimitHeaders(v: RateLimitView): [string, string][] {
  const out: [string, string][] = [];
  if (v.limitRequests !== undefined) {
    out.push(["x-ratelimit-limit-requests", String(v.limitRequests)], ["x-ratelimit-remaining-requests", String(Math.max(0, v.remainingRequests ?? 0))]);
    out.push(["x-ratelimit-reset-requests", resetDuration(v.resetRequestsMs ?? 0)]);
  }
  if (v.limitTokens !== undefined) {
    out.push(["x-ratelimit-limit-tokens", String(v.limitTokens)], ["x-ratelimit-remaining-tokens", String(Math.max(0, v.remainingTokens ?? 0))]);
    out.push(["x-ratelimit-reset-tokens", resetDuration(v.resetTokensMs ?? 0)]);
  }
  return out;
}
