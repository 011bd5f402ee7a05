import type { FastifyInstance } from "fastify";

export interface Readiness {
  /** Null when ready, else why not. */
  notReadyReason(): string | null;
}

export function registerHealthRoutes(app: FastifyInstance, readiness: Readiness): void {
  // Liveness: the process answers. Never depends on NATS, so an orchestrator does not restart a gateway for a NATS outage.
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    const reason = readiness.notReadyReason();
    if (reason) return reply.code(503).send({ status: "not_ready", reason });
    return { status: "ready" };
  });
}
