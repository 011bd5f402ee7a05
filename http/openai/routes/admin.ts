import type { FastifyInstance } from "fastify";
import type { UsageLedger } from "../../../access/mod.js";
import type { GatewayMetrics } from "../../../ops/mod.js";
import { registerUsageRoutes } from "./usage.js";
import type { WorkerRegistry } from "../../../jobs/mod.js";
import { bearerOf, type AdminViews, type Guard } from "../../../core/mod.js";

/** What /metrics reads; the metrics-only listener needs no more. */
export interface MetricsDeps {
  admin: AdminViews;
  registry: WorkerRegistry;
  inFlight: () => number;
  metrics: GatewayMetrics;
}

export interface AdminDeps extends MetricsDeps {
  guard: Guard;
  /** The usage ledger, for GET /admin/usage (absent: no such route). */
  usage?: UsageLedger;
}

/**
 * Operators' views: Prometheus `/metrics`, and the core's lists of workers
 * and queues as OpenAI-style JSON lists. `waiting` is the signal to scale
 * workers on (e.g. a KEDA prometheus trigger on broker_queue_waiting_jobs).
 */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  // One encapsulated plugin, so the admin-key hook covers these routes and no others.
  void app.register(async (admin) => {
    admin.addHook("onRequest", async (req) => deps.guard.admin(bearerOf(req.headers.authorization)));
    adminRoutes(admin, deps);
    if (deps.usage) registerUsageRoutes(admin, deps.usage);
  });
}

function adminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get("/admin/workers", async () => ({
    object: "list",
    data: deps.admin.workers().map((w) => ({
      id: w.id,
      hostname: w.hostname,
      models: w.models.map((m) => ({ model: m.model, engine: m.engine, completed: m.completed, jobs_per_s: m.jobsPerS })),
      slots: w.slots,
      in_flight: w.inFlight,
      draining: w.draining,
      last_heartbeat: new Date(w.lastHeartbeatUnixMs).toISOString(),
    })),
  }));

  app.get("/admin/queues", async () => ({
    object: "list",
    data: (await deps.admin.queues()).map((q) => ({ model: q.model, lane: q.lane, waiting: q.waiting, running: q.running, oldest_waiting_ms: q.oldestWaitingMs })),
  }));

  registerMetricsRoute(app, deps);
}

/**
 * GET /metrics: the gauges read at scrape time, then the registry's text. The
 * main listener and the metrics-only one (gateway.metricsPort) both serve it.
 */
export function registerMetricsRoute(app: FastifyInstance, deps: MetricsDeps): void {
  app.get("/metrics", async (_req, reply) => {
    const m = deps.metrics;
    m.inFlight.set(deps.inFlight());
    m.workerSlots.reset();
    m.workerInFlight.reset();
    m.workerFree.reset();
    for (const w of deps.registry.list()) {
      m.workerSlots.labels(w.id).set(w.slots);
      m.workerInFlight.labels(w.id).set(w.inFlight);
      m.workerFree.labels(w.id).set(Math.max(0, w.slots - w.inFlight));
    }
    for (const q of await deps.admin.queues()) {
      m.queueWaiting.labels(q.model, q.lane).set(q.waiting);
      m.queueRunning.labels(q.model, q.lane).set(q.running);
      m.queueOldest.labels(q.model, q.lane).set(q.oldestWaitingMs / 1000);
    }
    return reply.type(m.registry.contentType).send(await m.registry.metrics());
  });
}
