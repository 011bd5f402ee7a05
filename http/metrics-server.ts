// The metrics-only listener (gateway.metricsPort): GET /metrics and nothing
// else, without keys, for a scraper on a private network. A Fastify of its
// own, so none of the API's hooks (CORS, auth) reach it.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { BrokerError } from "../contract/mod.js";
import type { Logger } from "../ops/mod.js";
import { sendError } from "./openai/errors.js";
import { registerMetricsRoute, type MetricsDeps } from "./openai/routes/admin.js";

/** Builds the metrics-only server without listening. */
export function buildMetricsServer(deps: MetricsDeps, log: Logger): FastifyInstance {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the generic parameter differs only in name.
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  registerMetricsRoute(app, deps);
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new BrokerError("not_found", `Invalid URL (${req.method} ${req.url.split("?")[0]}); this listener serves only GET /metrics`)));
  return app;
}
