// Detached jobs' event logs: one JetStream stream, one subject per job. The
// running worker publishes its chunks there; gateways add the bookkeeping
// records (opened, a run's claim, an ending) with an expected last sequence
// per subject, so two gateways deciding about one job at once cannot both
// win: the loser reads the log again and decides anew.
import { DiscardPolicy, jetstream, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config/mod.js";
import { decodeChunk, encodeChunk, subjects, type Chunk, type ChunkInit, type Subjects } from "../contract/mod.js";
import { ensureStream, isCasConflict } from "../nats/mod.js";
import type { Logger } from "../ops/mod.js";
import { DetachedFold } from "./detached-fold.js";
import type { JobEvent } from "./job-stream.js";

const ns = (ms: number): number => ms * 1_000_000;

/** The events stream: limits retention, on disk, each log kept for background.eventRetentionMs. */
export function eventStreamConfig(cfg: Config): Partial<StreamConfig> & { name: string } {
  const s = subjects(cfg.nats.prefix);
  return {
    name: s.eventsStream,
    subjects: [s.eventsAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: ns(cfg.background.eventRetentionMs),
    // Only gateways' writes carry a Nats-Msg-Id; two minutes covers their retries.
    duplicate_window: ns(Math.min(120_000, cfg.background.eventRetentionMs)),
    num_replicas: cfg.queue.replicas,
  };
}

/** How long past its deadline a live read waits for a job's ending (the worker's own timeout error). */
export const DEADLINE_GRACE_MS = 5000;

/** A record written by a gateway lost the race to another write; read again and decide anew. */
export class Conflict extends Error {}

export interface ReadOptions {
  /** Keep following live records until the job ends (else stop at the log's current end). */
  live: boolean;
  /** Stops a live read (the client left, or the gateway shuts down). */
  signal?: AbortSignal;
}

export class EventLog {
  private readonly js: JetStreamClient;
  private readonly subj: Subjects;

  private constructor(nc: NatsConnection, private readonly jsm: JetStreamManager, cfg: Config) {
    this.js = jetstream(nc, cfg.nats.jsDomain ? { domain: cfg.nats.jsDomain } : {});
    this.subj = subjects(cfg.nats.prefix);
  }

  /** Opens the events stream, creating it when missing (drift is reported, never applied, as for the jobs stream). */
  static async open(nc: NatsConnection, jsm: JetStreamManager, cfg: Config, log: Logger): Promise<EventLog> {
    await ensureStream(jsm, eventStreamConfig(cfg), "events", log);
    return new EventLog(nc, jsm, cfg);
  }

  /**
   * Appends a gateway's record, stored only if the log's last record is
   * still `expectSeq` (0: the log must be empty). @throws Conflict otherwise.
   */
  async append(key: string, chunk: ChunkInit, expectSeq: number): Promise<number> {
    try {
      const ack = await this.js.publish(this.subj.events(key), encodeChunk(chunk), { expect: { lastSubjectSequence: expectSeq } });
      return ack.seq;
    } catch (e) {
      if (isCasConflict(e) || (e instanceof Error && isCasConflict(e.cause))) throw new Conflict();
      throw e;
    }
  }

  /** The log's last record and its sequence; undefined when there is no such log (never made, or aged out). */
  async last(key: string): Promise<{ seq: number; chunk: Chunk } | undefined> {
    const m = await this.jsm.streams.getMessage(this.subj.eventsStream, { last_by_subj: this.subj.events(key) });
    return m ? { seq: m.seq, chunk: decodeChunk(m.data) } : undefined;
  }

  /** The whole log folded (up to its current end); undefined when there is none. */
  async fold(key: string): Promise<DetachedFold | undefined> {
    const fold = new DetachedFold();
    const events = this.read(key, fold, { live: false });
    while (!(await events.next()).done);
    return fold.lastSeq > 0 ? fold : undefined;
  }

  /**
   * Folds the log into `fold` from its start and yields each answer event
   * (deltas, the final) as it is folded: up to the log's current end, or,
   * when live, until the job ends, the signal fires, or its deadline is
   * DEADLINE_GRACE_MS past (a job nobody runs any more writes nothing). The
   * fold's error, if any, is left for the caller to raise.
   */
  async *read(key: string, fold: DetachedFold, opts: ReadOptions): AsyncGenerator<JobEvent> {
    const end = opts.live ? Infinity : ((await this.last(key))?.seq ?? 0);
    if (end === 0) return;
    const consumer = await this.js.consumers.get(this.subj.eventsStream, { filter_subjects: this.subj.events(key) });
    const messages = await consumer.consume({ max_messages: 256 });
    const stop = (): void => void messages.stop();
    opts.signal?.addEventListener("abort", stop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      if (opts.signal?.aborted) return;
      for await (const m of messages) {
        for (const ev of fold.push(m.seq, decodeChunk(m.data))) yield ev;
        if (fold.over || m.seq >= end) return;
        if (opts.live && timer === undefined && fold.deadline > 0) timer = setTimeout(stop, Math.max(0, fold.deadline + DEADLINE_GRACE_MS - Date.now()));
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", stop);
      stop();
    }
  }
}
