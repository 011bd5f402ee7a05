// What both fronts read from a request's headers or metadata the same way:
// its id and its priority lane.
import { randomBytes } from "node:crypto";
import { BrokerError, Lane, Lanes } from "../contract/mod.js";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Unique across gateway replicas by the random prefix; a counter after it,
// since random bytes per request cost 3% of the gateway in the profile.
const ID_PREFIX = `req_${randomBytes(6).toString("hex")}_`;
let idSeq = 0;

/** The caller's own x-request-id when it is safe to echo and log, else a fresh one. */
export function requestIdFrom(given: unknown): string {
  return typeof given === "string" && SAFE_REQUEST_ID.test(given) ? given : `${ID_PREFIX}${(++idSeq).toString(36)}`;
}

/**
 * The lane a priority value names (case-insensitive); normal when absent.
 * @throws BrokerError 400 naming `param` (the header or metadata key) for any other value.
 */
export function laneFrom(value: unknown, param: string, where: "header" | "metadata"): Lane {
  if (value === undefined) return Lane.normal;
  const lane = typeof value === "string" ? value.toLowerCase() : "";
  if ((Lanes as readonly string[]).includes(lane)) return lane as Lane;
  throw new BrokerError("invalid_request", `The '${param}' ${where} must be one of ${Lanes.join(", ")}.`, { param });
}
