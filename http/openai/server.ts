import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { UsageLedger } from "../../access/mod.js";
import type { Config } from "../../config/mod.js";
import { BrokerError } from "../../contract/mod.js";
import type { Logger, GatewayMetrics } from "../../ops/mod.js";
import { jsonTooDeep, requestIdFrom, tooDeep, type AdminViews, type InferenceService, type ModelCatalog } from "../../core/mod.js";
import type { WorkerRegistry } from "../../jobs/mod.js";
import { registerMessagesRoutes } from "../anthropic/messages.js";
import { registerResponsesRoutes } from "../responses/routes.js";
import type { ResponseStore } from "../responses/store.js";
import { registerCors } from "./cors.js";
import { errorHandler, sendError } from "./errors.js";
import { registerAdminRoutes } from "./routes/admin.js";
import { registerChatRoutes } from "./routes/chat-completions.js";
import { registerCompletionRoutes } from "./routes/completions.js";
import { registerEmbeddingRoutes } from "./routes/embeddings.js";
import { registerHealthRoutes, type Readiness } from "./routes/health.js";
import { registerModelRoutes } from "./routes/models.js";

export interface ServerDeps {
  service: InferenceService;
  /** The gateway's one routing table (also the service's). */
  catalog: ModelCatalog;
  admin: AdminViews;
  registry: WorkerRegistry;
  /** Jobs this gateway holds open (broker_in_flight_jobs). */
  inFlight: () => number;
  readiness: Readiness;
  log: Logger;
  metrics: GatewayMetrics;
  /** The usage ledger; without it there is no /admin/usage (404). */
  usage?: UsageLedger;
  /** Stored responses (/v1/responses), in NATS KV. */
  responses: ResponseStore;
}

/** Builds the HTTP facade without listening, so tests and the CLI share it. */
export function buildServer(cfg: Config, deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the generic parameter differs only in name.
    loggerInstance: deps.log as FastifyBaseLogger,
    // Per-request log lines cost more than the rest of a small request; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: cfg.gateway.bodyLimitBytes,
    // A caller's own x-request-id is kept when it is safe to echo and log.
    genReqId: (req) => requestIdFrom(req.headers["x-request-id"]),
    return503OnClosing: true,
  });

  // First, so its onRequest hook answers a preflight before any hook that wants a key runs.
  registerCors(app, cfg);

  // `curl -d` sends form encoding; OpenAI clients send JSON. Parse every body as JSON.
  app.removeAllContentTypeParsers();
  const { maxJsonDepth } = cfg.gateway.inputLimits;
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === "") return done(new BrokerError("invalid_json", "The request body is empty; send a JSON object."), undefined);
    // Checked on the text, before JSON.parse: parsing a deep body costs time and memory (about
    // 1 ms per 1,000 levels), and code that recurses over it later (JSON.stringify of the fields
    // engines get as extra_json) overflows the stack, a 500 instead of a 400.
    if (jsonTooDeep(text, maxJsonDepth)) return done(tooDeep(null, maxJsonDepth), undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new BrokerError("invalid_json", "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON."), undefined);
    }
  });

  app.addHook("onSend", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });
  const countRejection = (e: BrokerError): void => void deps.metrics.rejections.labels(e.code).inc();
  app.setErrorHandler(errorHandler(countRejection, sendError));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new BrokerError("not_found", `Invalid URL (${req.method} ${req.url.split("?")[0]})`)));

  registerHealthRoutes(app, deps.readiness);
  registerModelRoutes(app, deps.catalog, deps.service);
  registerAdminRoutes(app, {
    admin: deps.admin, registry: deps.registry, inFlight: deps.inFlight, metrics: deps.metrics, guard: deps.service.guard,
    ...(deps.usage ? { usage: deps.usage } : {}),
  });
  const routeDeps = { service: deps.service, priorityHeader: cfg.gateway.priorityHeader, limits: cfg.gateway.inputLimits };
  registerChatRoutes(app, routeDeps);
  registerCompletionRoutes(app, routeDeps);
  registerEmbeddingRoutes(app, routeDeps);
  // OpenAI's Responses API: the same chat call, with responses stored in NATS.
  registerResponsesRoutes(app, { ...routeDeps, store: deps.responses });
  // Anthropic's Messages API: a second dialect over the same core, with its own error shape.
  registerMessagesRoutes(app, { ...routeDeps, countRejection });
  return app;
}
