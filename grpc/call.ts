// What every gRPC call shares: its metadata (request id, priority lane), its
// deadline as the job's deadline, and the one way an unexpected error leaves
// the process (logged, generic INTERNAL).
import type { Deadline, Metadata } from "@grpc/grpc-js";
import { BrokerError, type Lane } from "../contract/mod.js";
import type { Logger } from "../ops/mod.js";
import { type Guard, type InferenceService, type InputLimits, laneFrom, requestIdFrom } from "../core/mod.js";

export interface CallDeps {
  /** The core's service, with the gateway's guard (keys, limits). */
  service: InferenceService;
  guard: Guard;
  log: Logger;
  /** Metadata key that picks a priority lane (high, normal, low); "" ignores it. */
  priorityHeader: string;
  /** Upper bound on a job's deadline; a call without a deadline gets it (undefined: the JobClient's default). */
  maxTimeoutMs: number | undefined;
  /** The bounds every request is checked against (config gateway.inputLimits). */
  limits: InputLimits;
  /** Told the code of every failed call (the gateway counts them in broker_rejections_total). */
  onFailure?: (code: string) => void;
}

/** The caller's own `x-request-id` when it is safe to log, else a fresh one. */
export function requestIdOf(md: Metadata): string {
  return requestIdFrom(md.get("x-request-id")[0]);
}

/** @throws BrokerError 400 naming the metadata key when the lane is not one of high, normal, low. */
export function laneOf(md: Metadata, key: string): Lane {
  return laneFrom(key ? md.get(key)[0] : undefined, key, "metadata");
}

/**
 * Milliseconds the job may live: the call's deadline, within the configured
 * bound. A call without a deadline gets the bound.
 * @throws BrokerError 504 when the deadline has already passed.
 */
export function timeoutOf(deadline: Deadline, maxMs: number | undefined, now = Date.now()): number | undefined {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return maxMs;
  const left = Math.floor(at - now);
  if (left <= 0) throw new BrokerError("timeout", "The call's deadline passed before the job was queued.");
  return maxMs ? Math.min(left, maxMs) : left;
}

/** Anything that is not a BrokerError is a bug: logged here, a generic 500 for the client. */
export function asBrokerError(e: unknown, log: Logger, requestId: string): BrokerError {
  if (e instanceof BrokerError) return e;
  log.error({ err: e, requestId }, "grpc: unhandled error");
  return new BrokerError("internal_error", `The server had an error while processing your request (request id ${requestId}).`);
}
