// The Admin service: the core's admin views (the same the HTTP front serves
// at /admin/workers and /admin/queues), as protobuf messages.
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { bearerOf, type AdminViews, type Guard } from "../core/mod.js";
import type { Logger } from "../ops/mod.js";
import { asBrokerError, requestIdOf } from "./call.js";
import type { ListWorkersResponseInit, QueueStatsRequest, QueueStatsResponseInit } from "./definitions.js";
import { toServiceError } from "./status.js";

/** Handlers keyed by the method names of service.proto's Admin. */
export function adminHandlers(admin: AdminViews, guard: Guard, log: Logger) {
  // The admin key, as HTTP's /admin/* asks for it; a refusal is UNAUTHENTICATED.
  const refused = (call: ServerUnaryCall<unknown, unknown>): ReturnType<typeof toServiceError> | undefined => {
    try {
      guard.admin(bearerOf(call.metadata.get("authorization")[0]));
      return undefined;
    } catch (e) {
      return toServiceError(asBrokerError(e, log, requestIdOf(call.metadata)));
    }
  };
  return {
    ListWorkers: (call: ServerUnaryCall<unknown, ListWorkersResponseInit>, done: sendUnaryData<ListWorkersResponseInit>): void => {
      const no = refused(call);
      if (no) return done(no);
      done(null, { workers: admin.workers() });
    },
    QueueStats: (call: ServerUnaryCall<QueueStatsRequest, QueueStatsResponseInit>, done: sendUnaryData<QueueStatsResponseInit>): void => {
      const no = refused(call);
      if (no) return done(no);
      admin.queues(call.request.model || undefined)
        .then((queues) => done(null, { queues }))
        .catch((e: unknown) => done(toServiceError(asBrokerError(e, log, requestIdOf(call.metadata)))));
    },
  };
}
