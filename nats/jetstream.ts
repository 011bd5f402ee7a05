import {
  AckPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import { PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config/mod.js";
import type { Logger } from "../ops/mod.js";
import { ConfigError, subjects, type Lane } from "../contract/mod.js";

const ns = (ms: number) => ms * 1_000_000;

/**
 * JetStream API error codes the client's `JetStreamApiCodes` does not name,
 * as nats-server's server/errors.json names them.
 */
export const MoreJetStreamApiCodes = {
  /** JSConsumerNameExistErr: a consumer of that name exists already. */
  ConsumerNameExist: 10013,
  /** JSStreamNameExistErr: a stream of that name exists already. */
  StreamNameExist: 10058,
  /**
   * JSStreamStoreFailedF: storing the message failed; on the jobs stream
   * (discard-new-per-subject) it means the model's subject is at
   * max_msgs_per_subject, so the queue is full.
   */
  StreamStoreFailed: 10077,
  /** JSConsumerAlreadyExists: a create for a consumer that exists with a different config. */
  ConsumerAlreadyExists: 10148,
} as const;

/**
 * The jobs stream: a work queue on disk, so a job survives worker crashes
 * and NATS restarts. `max_msgs_per_subject` with discard-new-per-subject
 * bounds each model's subject (2.9.10 refuses the next publish with StreamStoreFailed);
 * on a work queue that bound counts queued plus delivered-but-unacked jobs.
 */
export function jobStreamConfig(cfg: Config): Partial<StreamConfig> & { name: string } {
  const s = subjects(cfg.nats.prefix);
  return {
    name: s.stream,
    subjects: [s.jobsAll],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    discard_new_per_subject: true,
    max_msgs_per_subject: cfg.queue.maxPerModel,
    max_age: ns(cfg.queue.maxAgeMs),
    duplicate_window: ns(cfg.queue.duplicateWindowMs),
    num_replicas: cfg.queue.replicas,
  };
}

/** Creates the jobs stream, or reports how the live one differs from the config; whichever process starts first wins. */
export async function ensureJobStream(nc: NatsConnection, cfg: Config, log: Logger): Promise<JetStreamManager> {
  const jsm = await openJetStream(nc, cfg);
  await ensureStream(jsm, jobStreamConfig(cfg), "jobs", log);
  return jsm;
}

/**
 * Creates a stream of the broker's (jobs, events), or reports how the live
 * one differs from `want`; whichever process starts first wins.
 */
export async function ensureStream(jsm: JetStreamManager, want: Partial<StreamConfig> & { name: string }, what: string, log: Logger): Promise<void> {
  await throughElections(`the ${what} stream`, log, () => provisionStream(jsm, want, what, log));
}

async function provisionStream(jsm: JetStreamManager, want: Partial<StreamConfig> & { name: string }, what: string, log: Logger): Promise<void> {
  const name = want.name;
  try {
    const info = await jsm.streams.info(name);
    const drift = diff(want, info.config);
    // Reported, never applied: a live stream is shared by every gateway and worker, and two
    // processes with different configs would otherwise rewrite it back and forth at each start.
    // An operator changes it on purpose (`nats stream edit`), once.
    if (drift.length > 0) log.warn({ stream: name, drift }, `${what} stream settings differ from this config; keeping the existing ones`);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== JetStreamApiCodes.StreamNotFound) throw e;
    try {
      await jsm.streams.add(want);
      log.info({ stream: name }, `created ${what} stream`);
    } catch (e2) {
      // A worker's NATS user (nats/roles.ts) may look the stream up but not create it.
      if (isPermissionViolation(e2)) throw new ConfigError(`the ${what} stream ${name} does not exist and this NATS user may not create it: start a gateway first`);
      // Another process created it between our look-up and our create.
      if (!(e2 instanceof JetStreamApiError) || e2.code !== MoreJetStreamApiCodes.StreamNameExist) throw e2;
    }
  }
}

export function jobConsumerConfig(cfg: Config, model: string, lane?: Lane): Partial<ConsumerConfig> {
  const s = subjects(cfg.nats.prefix);
  return {
    durable_name: s.consumer(model, lane),
    filter_subject: s.job(model, lane),
    ack_policy: AckPolicy.Explicit,
    ack_wait: ns(cfg.queue.ackWaitMs),
    max_deliver: cfg.queue.maxDeliver,
    max_ack_pending: -1,
    max_waiting: 512,
  };
}

/**
 * Looks the durable consumer up first and creates it only when missing: the
 * v3 client's create can silently update an existing consumer on 2.9.10.
 * Drift is reported, not overwritten, because other workers depend on it.
 */
export async function ensureJobConsumer(jsm: JetStreamManager, cfg: Config, model: string, log: Logger, lane?: Lane): Promise<string> {
  return throughElections(`the job consumer of ${model}`, log, () => provisionJobConsumer(jsm, cfg, model, log, lane));
}

async function provisionJobConsumer(jsm: JetStreamManager, cfg: Config, model: string, log: Logger, lane?: Lane): Promise<string> {
  const stream = subjects(cfg.nats.prefix).stream;
  const want = jobConsumerConfig(cfg, model, lane);
  const name = want.durable_name as string;
  try {
    const info = await jsm.consumers.info(stream, name);
    const drift = diff(want, info.config);
    if (drift.length > 0) log.warn({ consumer: name, drift }, "job consumer settings differ from this config; keeping the existing ones");
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== JetStreamApiCodes.ConsumerNotFound) throw e;
    try {
      await jsm.consumers.add(stream, want);
      log.info({ consumer: name, model }, "created job consumer");
    } catch (e2) {
      if (!(e2 instanceof JetStreamApiError) || e2.code !== MoreJetStreamApiCodes.ConsumerNameExist && e2.code !== MoreJetStreamApiCodes.ConsumerAlreadyExists) throw e2;
    }
  }
  return name;
}

/** How long provisioning rides out a JetStream that does not answer (a cluster electing its leaders). */
const ELECTION_WAIT_MS = 30_000;

/**
 * Runs an idempotent provisioning step (look up, create when missing),
 * again while JetStream times out or has no responders: a cluster electing
 * stream and consumer leaders, often just after a gateway created streams,
 * answers nothing for a few seconds. A process that gave up then would
 * never serve; refusals and other errors still stop it at once.
 */
async function throughElections<T>(what: string, log: Logger, step: () => Promise<T>): Promise<T> {
  const until = Date.now() + ELECTION_WAIT_MS;
  for (let pause = 250; ; pause = Math.min(2 * pause, 2000)) {
    try {
      return await step();
    } catch (e) {
      const busy = e instanceof Error && !isPermissionViolation(e) && /timeout|no responders/i.test(`${e.name} ${e.message}`);
      if (!busy || Date.now() + pause >= until) throw e;
      log.warn({ err: (e as Error).message, what }, "JetStream did not answer (electing leaders?); trying again");
      await sleep(pause);
    }
  }
}

/**
 * The JetStream API of the jobs' domain. No answer at start is one line for a person, not a stack:
 * nats-server drops a request its user may not publish (a permissions violation, which connectNats
 * logs just before) and answers nothing when JetStream is off.
 */
async function openJetStream(nc: NatsConnection, cfg: Config): Promise<JetStreamManager> {
  const api = cfg.nats.jsDomain ? `$JS.${cfg.nats.jsDomain}.API` : "$JS.API";
  try {
    return await jetstreamManager(nc, cfg.nats.jsDomain ? { domain: cfg.nats.jsDomain } : {});
  } catch (e) {
    if (!(e instanceof Error) || !/timeout|no responders/i.test(`${e.name} ${e.message}`) && !isPermissionViolation(e)) throw e;
    throw new ConfigError(`JetStream did not answer ${api}.INFO (${e.message}): is JetStream on (nats-server -js), is nats.jsDomain right, and may this NATS user use its API (nats-server logs a Permissions Violation otherwise)?`);
  }
}

/** nats.js fails a request the server refused with the violation itself or as its cause. */
function isPermissionViolation(e: unknown): boolean {
  return e instanceof PermissionViolationError || (e instanceof Error && e.cause instanceof PermissionViolationError);
}

function diff(want: object, have: object): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(want)) {
    const h: unknown = Reflect.get(have, k);
    if (JSON.stringify(h) !== JSON.stringify(v)) out.push(`${k}: ${JSON.stringify(h)} → ${JSON.stringify(v)}`);
  }
  return out;
}
