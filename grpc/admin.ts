// The Admin service: the core's admin views (the same the HTTP front serves
// at /admin/workers and /admin/queues), as protobuf messages.
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { AdminViews } from "../core/mod.js";
import type { Logger } from "../ops/mod.js";
import { asBrokerError, requestIdOf } from "./call.js";
import type { ListWorkersResponseInit, QueueStatsRequest, QueueStatsResponseInit } from "./definitions.js";
import { toServiceError } from "./status.js";

/** Handlers keyed by the method names of service.proto's Admin. */
export function adminHandlers(admin: AdminViews, log: Logger) {
  return {
    ListWorkers: (_call: ServerUnaryCall<unknown, ListWorkersResponseInit>, done: sendUnaryData<ListWorkersResponseInit>): void => {
      done(null, { workers: admin.workers() });
    },
    QueueStats: (call: ServerUnaryCall<QueueStatsRequest, QueueStatsResponseInit>, done: sendUnaryData<QueueStatsResponseInit>): void => {
      admin.queues(call.request.model || undefined)
        .then((queues) => done(null, { queues }))
        .catch((e: unknown) => done(toServiceError(asBrokerError(e, log, requestIdOf(call.metadata)))));
    },
  };
}
