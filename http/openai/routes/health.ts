import type { FastifyInstance } from "fastify";

export interface Readiness {
  /** Null when ready, else why not. */
  notReadyReason(): string | null;
  /** Live workers and the models they serve, for the readiness body. */
  capacity(): { workers: number; models: string[] };
}

export function registerHealthRoutes(app: FastifyInstance, readiness: Readiness): void {
  // Liveness: the process answers. Never depends on NATS, so an orchestrator does not restart a gateway for a NATS outage.
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    // Ready means "can accept jobs": with no live worker, jobs for queueing models still wait in JetStream.
    const reason = readiness.notReadyReason();
    if (reason) return reply.code(503).send({ status: "not_ready", reason, ...readiness.capacity() });
    return { status: "ready", ...readiness.capacity() };
  });
}
