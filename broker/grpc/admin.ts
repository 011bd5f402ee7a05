// The Admin service: the same views as the facade's /admin/workers and
// /admin/queues. Queue depth comes from JetStream, so every gateway answers alike.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { BrokerError } from "../errors.js";
import type { Logger } from "../log.js";
import { queueStats } from "../queue-stats.js";
import type { WorkerRegistry } from "../registry.js";
import { asBrokerError, requestIdOf } from "./call.js";
import type { ListWorkersResponseInit, QueueStatsRequest, QueueStatsResponseInit } from "./definitions.js";
import type { ModelDirectory } from "../route.js";
import { toServiceError } from "./status.js";

export interface AdminDeps {
  registry: Pick<WorkerRegistry, "list">;
  catalog: ModelDirectory;
  jsm: JetStreamManager;
  prefix: string;
  connected: () => boolean;
  log: Logger;
}

/** Handlers keyed by the method names of service.proto's Admin. */
export function adminHandlers(deps: AdminDeps) {
  return {
    ListWorkers: (_call: ServerUnaryCall<unknown, ListWorkersResponseInit>, done: sendUnaryData<ListWorkersResponseInit>): void => {
      done(null, {
        workers: deps.registry.list().map((w) => ({
          id: w.id,
          hostname: w.hostname,
          models: w.models.map((m) => ({ model: m.model, engine: m.engine, completed: m.completed, jobsPerS: Number(m.ratePerS.toFixed(3)) })),
          slots: w.slots,
          inFlight: w.inFlight,
          draining: w.draining,
          lastHeartbeatUnixMs: w.lastSeenMs,
        })),
      });
    },
    QueueStats: (call: ServerUnaryCall<QueueStatsRequest, QueueStatsResponseInit>, done: sendUnaryData<QueueStatsResponseInit>): void => {
      const models = call.request.model ? [call.request.model] : deps.catalog.servedModels();
      queueStats(deps.jsm, deps.prefix, models)
        .then((qs) => done(null, {
          queues: qs.map((q) => ({ model: q.model, lane: q.lane, waiting: q.waiting, running: q.running, oldestWaitingMs: q.oldestWaitingMs })),
        }))
        .catch((e: unknown) => {
          const err = deps.connected()
            ? asBrokerError(e, deps.log, requestIdOf(call.metadata))
            : new BrokerError("nats_unavailable", "The broker has lost its connection to NATS; retry shortly.", { retryAfterS: 1 });
          done(toServiceError(err));
        });
    },
  };
}
