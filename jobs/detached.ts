// Detached jobs: jobs owned by their event log, not by the gateway process
// that queued them (background responses). Each role a gateway plays for an
// attached job (jobs/submit.ts) moves somewhere that outlives it:
// - the claim: every gateway answers (a queue group), deciding from the log;
// - the events: the worker publishes its chunks into the log (JetStream);
// - cancel: any gateway writes the ending into the log and tells the worker;
// - a lost worker: a gateway that let the run start writes the ending when
//   its registry loses the worker; with no such gateway left, JetStream
//   redelivers after the ack wait and the next claim's answer writes it.
import { nuid, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Config } from "../config/mod.js";
import { BrokerError, decodeChunk, encodeJob, Lane, Lanes, pb, REASSIGNED, subjects, Verdict, type Chunk, type Subjects } from "../contract/mod.js";

type Claim = NonNullable<Chunk["claim"]>;
import type { Logger } from "../ops/mod.js";
import type { DetachedFold, DetachedRun } from "./detached-fold.js";
import { Conflict, type EventLog, type ReadOptions } from "./event-log.js";
import type { JobEvent } from "./job-stream.js";
import type { WorkerRegistry } from "./registry.js";
import type { JobClient, JobRequest } from "./submit.js";

export interface DetachedOptions {
  requestId?: string;
  lane?: Lane;
  upstreamModel?: string;
  tenant?: string;
  /** The job's whole life; default background.timeoutMs. */
  timeoutMs?: number;
}

/** Writes to one log that lost the race this many times in a row give up (the claim is asked again later). */
const MAX_CONFLICTS = 16;
const QUEUE_GROUP = "detached-claims";

const cancelled = (): BrokerError => new BrokerError("cancelled", "The response was cancelled.");
const workerLost = (): BrokerError => new BrokerError("worker_lost", "The worker generating this answer stopped responding; the answer is incomplete.");
const expired = (): BrokerError => new BrokerError("timeout", "The background job did not complete within its deadline.");

export class DetachedJobs {
  private readonly subj: Subjects;
  /** Runs this gateway let start, by log key: told to the registry's lost-worker check. */
  private readonly runs = new Map<string, DetachedRun & { until: number }>();
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    readonly log: EventLog,
    private readonly client: JobClient,
    registry: WorkerRegistry,
    private readonly cfg: Config,
    private readonly logger: Logger,
  ) {
    this.subj = subjects(cfg.nats.prefix);
    registry.onWorkerLost((id) => void this.workerLost(id));
  }

  start(): void {
    this.sub = this.nc.subscribe(this.subj.detachedClaimAll, {
      queue: QUEUE_GROUP,
      callback: (err, msg) => {
        if (!err) void this.onClaim(msg);
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  /**
   * Opens the job's log under `key` and queues the job; from then on it runs
   * whether or not this process lives. @throws BrokerError 429/503/413 as an
   * attached submit does; the log then says failed.
   */
  async submit(key: string, model: string, request: JobRequest, opts: DetachedOptions = {}): Promise<void> {
    const id = nuid.next();
    const now = Date.now();
    const deadline = now + (opts.timeoutMs ?? this.cfg.background.timeoutMs);
    const lane = opts.lane ?? Lane.normal;
    const data = encodeJob({
      id, model, ...request, deadlineUnixMs: deadline,
      replySubject: this.subj.detachedClaim(key), eventsSubject: this.subj.events(key),
      priority: Lanes.indexOf(lane), tenant: opts.tenant ?? "", attempt: 1, createdUnixMs: now,
      requestId: opts.requestId ?? "", upstreamModel: opts.upstreamModel ?? "",
    });
    this.client.checkSize(data);
    let openedAt: number;
    try {
      openedAt = await this.log.append(key, { jobId: id, seq: 0, opened: { model, deadlineUnixMs: deadline, createdUnixMs: now, jobId: id } }, 0);
    } catch (e) {
      if (e instanceof Conflict) throw new BrokerError("internal_error", `A background job with the key '${key}' exists already.`);
      throw e;
    }
    try {
      await this.client.enqueue(model, lane, id, data, Math.min(now + this.cfg.gateway.natsWaitMs, deadline));
    } catch (e) {
      const err = e instanceof BrokerError ? e : new BrokerError("nats_unavailable", "The job queue did not accept the request in time; retry shortly.");
      await this.log.append(key, { jobId: id, seq: 0, error: err.toChunk() }, openedAt).catch(() => undefined);
      throw err;
    }
  }

  /** The job's log folded up to now; undefined when there is none (unknown key, or aged out). */
  fold(key: string): Promise<DetachedFold | undefined> {
    return this.log.fold(key);
  }

  /**
   * The job's answer events from its start, folded into `fold`: to the log's
   * current end, or live to the job's end. A job past its deadline with no
   * ending is given one (timeout), so every reader then agrees it is over.
   */
  async *events(key: string, fold: DetachedFold, opts: ReadOptions): AsyncGenerator<JobEvent> {
    yield* this.log.read(key, fold, opts);
    if (!fold.over && fold.deadline > 0 && Date.now() > fold.deadline) await this.end(key, fold, expired());
  }

  /**
   * Cancels the job wherever it is: the ending goes into its log and the
   * running worker (if any) is told to stop. Idempotent: a job that is over
   * stays as it ended. Resolves with the fold; undefined for an unknown key.
   */
  async cancel(key: string): Promise<DetachedFold | undefined> {
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const fold = await this.log.fold(key);
      if (!fold || fold.over) return fold;
      if (await this.tryEnd(key, fold, cancelled())) {
        if (fold.run) this.tell(fold.run, fold.jobId, "cancelled");
        return fold;
      }
    }
    throw new BrokerError("nats_unavailable", "The response changed too often to cancel it; retry.", { retryAfterS: 1 });
  }

  /** Writes an ending unless one is there already; the fold then says how the job ended. */
  private async end(key: string, fold: DetachedFold, err: BrokerError): Promise<void> {
    for (let i = 0; i < MAX_CONFLICTS && !fold.over; i++) {
      if (await this.tryEnd(key, fold, err)) return;
      const now = await this.log.fold(key);
      if (!now) return;
      Object.assign(fold, now);
    }
  }

  /** One attempt at writing the ending after the fold's last record; false when another record came first. */
  private async tryEnd(key: string, fold: DetachedFold, err: BrokerError): Promise<boolean> {
    try {
      fold.lastSeq = await this.log.append(key, { jobId: fold.jobId, seq: 0, error: err.toChunk() }, fold.lastSeq);
      fold.error = err;
      return true;
    } catch (e) {
      if (e instanceof Conflict) return false;
      throw e;
    }
  }

  private async onClaim(msg: Msg): Promise<void> {
    try {
      const chunk = decodeChunk(msg.data);
      const key = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
      if (!chunk.claim) return;
      const verdict = await this.answerClaim(key, chunk.jobId, chunk.claim);
      msg.respond(pb.ClaimAnswer.encode({ verdict, upstreamKey: "" }).finish());
    } catch (e) {
      // No answer: the worker puts the job back and claims again later, never running it blind.
      this.logger.warn({ err: (e as Error).message, subject: msg.subject }, "could not answer a detached job's claim");
    }
  }

  /**
   * Decides from the log's last record: a job that ended, or whose claim a
   * later run superseded, is cancelled; one that output something under an
   * earlier run cannot start over (it ends worker_lost); otherwise the run is
   * logged and goes. The write expects the record read, so two gateways
   * answering two runs' claims at once cannot both say go.
   */
  private async answerClaim(key: string, jobId: string, claim: Claim): Promise<Verdict> {
    const delivery = claim.delivery || 1;
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const last = await this.log.last(key);
      if (!last) return Verdict.CANCELLED;
      const c = last.chunk;
      if (c.final || c.error) return Verdict.CANCELLED;
      if (c.claim && (c.claim.delivery ?? 0) >= delivery) return Verdict.CANCELLED;
      try {
        if (c.deltas) {
          await this.log.append(key, { jobId, seq: 0, error: workerLost().toChunk() }, last.seq);
          return Verdict.CANCELLED;
        }
        await this.log.append(key, { jobId, seq: 0, claim: { workerId: claim.workerId, controlSubject: claim.controlSubject, delivery } }, last.seq);
      } catch (e) {
        if (e instanceof Conflict) continue;
        throw e;
      }
      this.runs.set(key, { workerId: claim.workerId ?? "", control: claim.controlSubject ?? "", delivery, until: Date.now() + this.cfg.background.timeoutMs });
      return Verdict.GO;
    }
    throw new Error(`the log of ${key} kept changing`);
  }

  /**
   * A worker this gateway let run a detached job went silent: a run that
   * output something ends worker_lost; one that output nothing is given
   * back (REASSIGNED: the worker naks it if it is still alive) to run again.
   */
  private async workerLost(workerId: string): Promise<void> {
    const now = Date.now();
    for (const [key, run] of this.runs) {
      if (run.workerId !== workerId && now < run.until) continue;
      this.runs.delete(key);
      if (run.workerId !== workerId) continue;
      try {
        const fold = await this.log.fold(key);
        if (!fold || fold.over || fold.run?.delivery !== run.delivery) continue;
        if (fold.output) {
          await this.end(key, fold, workerLost());
          this.tell(run, fold.jobId, "worker_lost");
        } else {
          this.tell(run, fold.jobId, REASSIGNED);
        }
      } catch (e) {
        this.logger.warn({ err: (e as Error).message, key }, "could not end a detached job whose worker was lost");
      }
    }
  }

  private tell(run: DetachedRun, jobId: string, reason: string): void {
    this.nc.publish(run.control, pb.Cancel.encode({ jobId, reason, delivery: run.delivery }).finish());
  }
}

