// Cross-origin access for browser clients (the openai SDK with
// dangerouslyAllowBrowser, a page's own fetch). Off unless the config lists
// origins: a gateway nobody opened to browsers sends no CORS headers at all.
import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";
import type { Config } from "../../config/mod.js";
import { UPSTREAM_MODEL_HEADER } from "../../core/mod.js";

/** Response headers a page may read: ours, Retry-After, and OpenAI's rate-limit set. */
export const EXPOSED_HEADERS = [
  "x-request-id",
  "x-broker-route",
  UPSTREAM_MODEL_HEADER,
  "retry-after",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
] as const;

/**
 * Registers @fastify/cors when gateway.cors.origins is set. Call it before
 * any auth hook: the preflight is answered in its onRequest hook, and a
 * browser's preflight never carries the Authorization header.
 */
export function registerCors(app: FastifyInstance, cfg: Config): void {
  const origins = cfg.gateway.cors.origins;
  if (origins !== "*" && origins.length === 0) return;
  void app.register(cors, {
    // "*" answers any origin; a list is matched exactly and the match echoed (with Vary: Origin).
    origin: origins === "*" ? "*" : [...origins],
    methods: ["GET", "POST", "DELETE", "OPTIONS"],
    // No allowedHeaders: the preflight's Access-Control-Request-Headers is
    // reflected. The openai SDK adds x-stainless-* headers release by release,
    // so a fixed list would break browsers on an SDK upgrade; and a header
    // allowlist protects nothing here: the origin list and the key gate a call.
    exposedHeaders: [...EXPOSED_HEADERS],
    // Bearer keys, never cookies: a browser must not send credentials on its own.
    credentials: false,
    // Chromium caps this at 2 hours; 10 minutes spares a preflight per call without pinning a change for long.
    maxAge: 600,
    // An OPTIONS without Origin is no browser's preflight: 204 rather than the
    // plugin's text/plain 400, which is outside our one error shape.
    strictPreflight: false,
  });
}
