/**
 * Model ids (`org/model:tag`, `llama-3.1-8b`) become one token that is valid as
 * a NATS subject token, a consumer name and a file name: `[a-z0-9-]` pass,
 * everything else (upper case included, so the mapping stays reversible on
 * case-insensitive file systems) becomes `_` + two hex digits per UTF-8 byte.
 * Long ids keep a readable head and end with `_z` + a hash, so two ids never collide.
 */
import { createHash } from "node:crypto";

const MAX_TOKEN = 120;
const SAFE = /^[a-z0-9-]$/;

export function modelToken(model: string): string {
  let out = "";
  for (const byte of Buffer.from(model, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE.test(ch) ? ch : `_${byte.toString(16).padStart(2, "0")}`;
  }
  if (out.length <= MAX_TOKEN) return out;
  // Over the cap: a head for humans, a hash for uniqueness. Such tokens are not reversible.
  const hash = createHash("sha256").update(model).digest("hex").slice(0, 16);
  // `_z` never occurs in an encoded token (escapes are `_` + hex), so a
  // shortened token can never equal the token of another, shorter id.
  return `${out.slice(0, MAX_TOKEN - 18)}_z${hash}`;
}

/** The inverse of modelToken for tokens that were not shortened; null otherwise. */
export function modelFromToken(token: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const ch = token[i] as string;
    if (ch === "_") {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (SAFE.test(ch)) {
      bytes.push(ch.charCodeAt(0));
    } else {
      return null;
    }
  }
  const text = Buffer.from(bytes).toString("utf8");
  return modelToken(text) === token ? text : null;
}

/** Priority lanes: one subject and one durable consumer per model and lane. */
export const Lane = { high: "high", normal: "normal", low: "low" } as const;
export type Lane = (typeof Lane)[keyof typeof Lane];
/** Highest first. */
export const Lanes: readonly Lane[] = [Lane.high, Lane.normal, Lane.low];

/**
 * A worker id `<name>-<instance>` as two subject tokens `<name>.<instance>`:
 * config names are one token and instances have no `-`, so a NATS user can be
 * granted the subjects of one worker name and no other's.
 */
function workerTokens(workerId: string): string {
  const i = workerId.lastIndexOf("-");
  return i > 0 ? `${workerId.slice(0, i)}.${workerId.slice(i + 1)}` : `${workerId}._`;
}

/** Every subject and JetStream name the broker uses, derived from one prefix. */
export function subjects(prefix: string) {
  return {
    stream: `${prefix.toUpperCase().replace(/-/g, "_")}_JOBS`,
    jobsAll: `${prefix}.jobs.>`,
    job: (model: string, lane: Lane = Lane.normal) => `${prefix}.jobs.${modelToken(model)}.${lane}`,
    consumer: (model: string, lane: Lane = Lane.normal) => `w_${modelToken(model)}_${lane}`,
    replyAll: (gatewayId: string) => `${prefix}.out.${gatewayId}.*`,
    reply: (gatewayId: string, jobId: string) => `${prefix}.out.${gatewayId}.${jobId}`,
    /** Where a worker takes cancels: `<prefix>.ctl.<name>.<instance>`. */
    control: (workerId: string) => `${prefix}.ctl.${workerTokens(workerId)}`,
    /** Every control subject of the workers with this config name (one NATS user's grant). */
    controlOf: (workerName: string) => `${prefix}.ctl.${workerName}.*`,
    controlAll: `${prefix}.ctl.*.*`,
    heartbeat: (workerId: string) => `${prefix}.hb.w.${workerTokens(workerId)}`,
    heartbeatOf: (workerName: string) => `${prefix}.hb.w.${workerName}.*`,
    heartbeatAll: `${prefix}.hb.w.*.*`,
    heartbeatAsk: `${prefix}.hb.ask`,
    /** Core NATS nudge after a job is queued, so idle workers pull at once instead of polling. */
    wake: (model: string, lane: Lane) => `${prefix}.wake.${modelToken(model)}.${lane}`,
    wakeAll: (model: string) => `${prefix}.wake.${modelToken(model)}.*`,
    /** Detached jobs (background responses): their event logs' stream, kept apart from the work queue. */
    eventsStream: `${prefix.toUpperCase().replace(/-/g, "_")}_EVENTS`,
    /** A detached job's event log (one subject per job, keyed by the front's id, e.g. a response id). */
    events: (key: string) => `${prefix}.detached.events.${key}`,
    eventsAll: `${prefix}.detached.events.*`,
    /** Where a worker claims a detached job: any gateway answers (a queue group), not the one that queued it. */
    detachedClaim: (key: string) => `${prefix}.detached.claim.${key}`,
    detachedClaimAll: `${prefix}.detached.claim.*`,
  };
}
export type Subjects = ReturnType<typeof subjects>;
