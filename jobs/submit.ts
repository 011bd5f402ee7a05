import type { JetStreamManager } from "@nats-io/jetstream";
import { nuid, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Config } from "../config/mod.js";
import { BrokerError, decodeChunk, encodeJob, pb, REASSIGNED, Verdict, type Chunk, type ChatRequest, type CompletionRequest, type EmbeddingRequest, type TokenCountRequest, Lane, Lanes, subjects, type Subjects } from "../contract/mod.js";
import { type Connected, MoreJetStreamApiCodes, trackConnected, NoResponders, Requester } from "../nats/mod.js";
import { JobStream } from "./job-stream.js";
import { Disconnected, publishJob, type JetStreamRefusal } from "./publish.js";
import type { Logger, GatewayMetrics, ModelMetrics } from "../ops/mod.js";
import type { WorkerRegistry } from "./registry.js";

/** What a job asks for: exactly one kind of request. */
export type JobRequest = { chat: ChatRequest } | { completion: CompletionRequest } | { embedding: EmbeddingRequest } | { countTokens: TokenCountRequest };

export interface SubmitOptions {
  requestId?: string;
  /** Overall deadline for the job, queue time included. */
  timeoutMs?: number;
  tenant?: string;
  /** Longest wait for a worker to claim the job; 0: only the deadline bounds it. */
  maxQueueWaitMs?: number;
  lane?: Lane;
  /** The name the engine sends upstream, set by a route. */
  upstreamModel?: string;
  /** A client's own key for a passthrough route: kept in memory, sent only in the claim answer. */
  upstreamKey?: string;
}

interface JobState {
  stream: JobStream;
  model: string;
  m: ModelMetrics;
  created: number;
  /** When the last output chunk arrived; 0 before the first. */
  lastOutput: number;
  deadline: number;
  upstreamKey: string;
  /** Until a first claim: after this the job ends with queue_timeout and is never run. */
  queueDeadline: number;
  claimedOnce: boolean;
  streamSeq: number;
  nextSeq: number;
  lastActivity: number;
  /** The run now going: its worker and its delivery count (from its claim). */
  worker?: Run;
}

interface Run {
  id: string;
  control: string;
  delivery: number;
}

/** A run the gateway gave up on, remembered so that its late chunks can be answered with a cancel. */
interface GivenUp extends Run {
  /** REASSIGNED when the job runs again (the worker naks it), else the job is over (it acks). */
  reason: string;
  until: number;
}

/**
 * The gateway's side of the job plane: publishes jobs, answers claims, and
 * demultiplexes every job's chunks from one reply subscription.
 */
export class JobClient {
  readonly gatewayId: string;
  private readonly subj: Subjects;
  private readonly requester: Requester;
  private readonly jobs = new Map<string, JobState>();
  /** Runs of written-off workers by job id: a worker that comes back is told to stop them. */
  private readonly givenUp = new Map<string, GivenUp>();
  private readonly nats: Connected;
  private sub: Subscription | undefined;
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly cfg: Config,
    private readonly registry: WorkerRegistry,
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
  ) {
    this.gatewayId = cfg.gateway.id || nuid.next();
    this.subj = subjects(cfg.nats.prefix);
    this.requester = new Requester(nc);
    this.nats = trackConnected(nc);
    registry.onWorkerLost((id) => this.workerLost(id));
  }

  start(): void {
    this.sub = this.nc.subscribe(this.subj.replyAll(this.gatewayId), { callback: (err, msg) => {
      if (!err) this.onMessage(msg);
    } });
    this.sweep = setInterval(() => this.sweepJobs(Date.now()), 250);
    this.sweep.unref();
  }

  get inFlight(): number {
    return this.jobs.size;
  }

  get connected(): boolean {
    return this.nats.up;
  }

  /** Publishes the job durably and returns its output stream. Rejects with 429/503/413 before anything is queued. */
  async submit(model: string, request: JobRequest, opts: SubmitOptions = {}): Promise<JobStream> {
    const id = nuid.next();
    const now = Date.now();
    const deadline = now + (opts.timeoutMs ?? this.cfg.gateway.requestTimeoutMs);
    const data = encodeJob({
      id,
      model,
      ...request,
      deadlineUnixMs: deadline,
      replySubject: this.subj.reply(this.gatewayId, id),
      priority: Lanes.indexOf(opts.lane ?? Lane.normal),
      tenant: opts.tenant ?? "",
      attempt: 1,
      createdUnixMs: now,
      requestId: opts.requestId ?? "",
      upstreamModel: opts.upstreamModel ?? "",
    });
    this.checkSize(data);
    const stream = new JobStream(id, (jobId, reason) => this.cancel(jobId, reason));
    const queueDeadline = opts.maxQueueWaitMs ? now + opts.maxQueueWaitMs : Infinity;
    const state: JobState = {
      stream, model, m: this.metrics.forModel(model), created: now, lastOutput: 0, upstreamKey: opts.upstreamKey ?? "",
      deadline, queueDeadline, claimedOnce: false, streamSeq: 0, nextSeq: 1, lastActivity: now,
    };
    // Registered before publishing: a fast worker may claim before the ack returns.
    this.jobs.set(id, state);
    try {
      state.streamSeq = await this.enqueue(model, opts.lane ?? Lane.normal, id, data, Math.min(now + this.cfg.gateway.natsWaitMs, deadline, queueDeadline));
    } catch (e) {
      this.jobs.delete(id);
      throw e;
    }
    return stream;
  }

  /** @throws BrokerError 413 when the encoded job is more than this NATS carries. */
  checkSize(data: Uint8Array): void {
    const max = this.nc.info?.max_payload ?? 1024 * 1024;
    if (data.length > max - 1024) {
      throw new BrokerError("request_too_large", `The request is ${data.length} bytes once encoded; this broker's NATS carries at most ${max - 1024}. Shorten the prompt or raise the server's max_payload.`);
    }
  }

  /**
   * Queues an encoded job on its model's lane (waiting for NATS until `until`)
   * and wakes idle workers. Resolves with its stream sequence.
   * @throws BrokerError 429 queue_full, 503 nats_unavailable.
   */
  async enqueue(model: string, lane: Lane, id: string, data: Uint8Array, until: number): Promise<number> {
    let seq: number;
    try {
      seq = await publishJob(this.nats, this.requester, this.subj.job(model, lane), id, data, until);
    } catch (e) {
      throw this.publishError(e, model);
    }
    this.requester.publish(this.subj.wake(model, lane));
    return seq;
  }

  /**
   * Seconds until a tenth of a full queue has drained at the rate workers
   * finish this model's jobs (from their heartbeats), within 1 to 60.
   */
  retryAfter(model: string): number {
    const rate = this.registry.drainRate(model);
    if (rate <= 0) return 10;
    return Math.min(60, Math.max(1, Math.ceil((0.1 * this.cfg.queue.maxPerModel) / rate)));
  }

  private publishError(e: unknown, model: string): BrokerError {
    if ((e as JetStreamRefusal)?.err_code === MoreJetStreamApiCodes.StreamStoreFailed) {
      const retry = this.retryAfter(model);
      return new BrokerError("queue_full", `The queue for model '${model}' is full (${this.cfg.queue.maxPerModel} jobs). Retry after ${retry} s.`, { retryAfterS: retry });
    }
    if (e instanceof Disconnected) return new BrokerError("nats_unavailable", "The broker has lost its connection to NATS; retry shortly.", { retryAfterS: 1 });
    const why = e instanceof NoResponders ? "no jobs stream answers (is JetStream enabled? is its stream electing a leader?)" : ((e as Error).message ?? (e as JetStreamRefusal)?.description);
    this.log.warn({ err: why, model }, "job publish failed");
    return new BrokerError("nats_unavailable", "The job queue did not accept the request in time; retry shortly.", { retryAfterS: 1 });
  }

  private onMessage(msg: Msg): void {
    let chunk;
    try {
      chunk = decodeChunk(msg.data);
    } catch {
      this.log.warn({ subject: msg.subject }, "undecodable chunk");
      return;
    }
    const state = this.jobs.get(chunk.jobId);
    if (chunk.claim) {
      msg.respond(this.onClaim(chunk.jobId, state, chunk.claim));
      return;
    }
    // Nothing counts before a claim, nor from a run given up on (its worker was written off and maybe came back).
    if (!state?.worker || (chunk.delivery && chunk.delivery !== state.worker.delivery)) {
      this.stopGivenUp(chunk);
      return;
    }
    if (chunk.seq !== state.nextSeq) {
      // Chunks lost in transit (a NATS server died with them): an answer the client has seen none
      // of runs again from scratch, like one whose worker was lost; one it has seen part of ends.
      if (!state.stream.delivered) {
        this.abandonRun(chunk.jobId, state, state.worker);
        return;
      }
      this.finish(chunk.jobId, new BrokerError("stream_interrupted", `Chunks of the answer were lost in transit (expected ${state.nextSeq}, got ${chunk.seq}); the job was stopped.`));
      this.sendCancel(state, "sequence gap");
      return;
    }
    state.nextSeq++;
    const now = Date.now();
    state.lastActivity = now;
    if (chunk.deltas) {
      if (state.lastOutput === 0) state.m.ttft.observe((now - state.created) / 1000);
      else state.m.itl.observe((now - state.lastOutput) / 1000);
      state.lastOutput = now;
      state.stream.push({ kind: "deltas", items: chunk.deltas.items ?? [] });
    } else if (chunk.final) {
      const tail = chunk.final.deltas;
      if (tail?.length) {
        if (state.lastOutput === 0) state.m.ttft.observe((now - state.created) / 1000);
        state.stream.push({ kind: "deltas", items: tail });
      }
      state.m.tokens.inc(chunk.final.usage?.completionTokens ?? 0);
      this.metrics.jobs.labels(state.model, "ok").inc();
      state.stream.push({ kind: "final", final: chunk.final });
      this.jobs.delete(chunk.jobId);
    } else if (chunk.error) {
      this.finish(chunk.jobId, BrokerError.fromChunk(chunk.error));
    }
  }

  /** Answers a worker's claim; the client's key travels in a "go", to the worker that runs the job, and is never stored. */
  private onClaim(jobId: string, state: JobState | undefined, claim: NonNullable<Chunk["claim"]>): Uint8Array {
    const delivery = claim.delivery || 1;
    const verdict = this.claimVerdict(jobId, state, delivery);
    if (verdict !== Verdict.GO || !state) {
      this.metrics.claimsAbandoned.labels(state?.model ?? "", verdict === Verdict.EXPIRED ? "expired" : "cancelled").inc();
      return pb.ClaimAnswer.encode({ verdict, upstreamKey: "" }).finish();
    }
    if (!state.claimedOnce) state.m.queueWait.observe((Date.now() - state.created) / 1000);
    state.claimedOnce = true;
    state.worker = { id: claim.workerId ?? "", control: claim.controlSubject ?? "", delivery };
    state.nextSeq = 1;
    state.lastActivity = Date.now();
    return pb.ClaimAnswer.encode({ verdict, upstreamKey: state.upstreamKey }).finish();
  }

  private claimVerdict(jobId: string, state: JobState | undefined, delivery: number): Verdict {
    if (!state || state.stream.done) return Verdict.CANCELLED;
    const now = Date.now();
    if (now > state.deadline || (!state.claimedOnce && now > state.queueDeadline)) return Verdict.EXPIRED;
    const run = state.worker;
    // A late claim of a run already superseded.
    if (run && delivery <= run.delivery) return Verdict.CANCELLED;
    // JetStream delivered the job again while a run was going: that run's worker gave it back or went
    // silent for the ack wait. That run is over.
    if (run && !this.abandonRun(jobId, state, run)) return Verdict.CANCELLED;
    // A redelivered job may restart only if its client has seen nothing yet.
    if (delivery > 1 && state.stream.delivered) return Verdict.CANCELLED;
    return Verdict.GO;
  }

  /**
   * Gives a run up: a stream that had output ends with worker_lost, an
   * untouched one restarts. The run is remembered and its worker told to stop
   * it (it gets the cancel when it comes back): acking a job that is over,
   * nakking one that runs again. Returns whether the job goes on.
   */
  private abandonRun(jobId: string, state: JobState, run: Run): boolean {
    const over = state.stream.delivered;
    const reason = over ? "worker_lost" : REASSIGNED;
    this.givenUp.set(jobId, { ...run, reason, until: Date.now() + Math.max(this.cfg.queue.ackWaitMs, 60_000) });
    this.publishCancel(run, jobId, reason);
    state.worker = undefined;
    if (over) {
      this.finish(jobId, new BrokerError("worker_lost", "The worker generating this answer stopped responding; the answer is incomplete."));
      return false;
    }
    state.stream.restart();
    return true;
  }

  /** A chunk from a run given up on: its worker is back (or was never gone); stop that run. */
  private stopGivenUp(chunk: Chunk): void {
    const g = this.givenUp.get(chunk.jobId);
    if (!g || (chunk.delivery && chunk.delivery !== g.delivery)) return;
    this.publishCancel(g, chunk.jobId, g.reason);
  }

  private finish(id: string, err: BrokerError): void {
    const state = this.jobs.get(id);
    if (!state) return;
    this.jobs.delete(id);
    this.metrics.jobs.labels(state.model, "error").inc();
    state.stream.fail(err);
  }

  /** Called by JobStream.cancel: tell the worker, or take the unclaimed job out of the queue. */
  private cancel(id: string, reason: string): void {
    const state = this.jobs.get(id);
    if (!state) return;
    this.jobs.delete(id);
    this.metrics.jobs.labels(state.model, "cancelled").inc();
    if (state.worker) {
      this.sendCancel(state, reason);
    } else if (state.streamSeq > 0 && this.nats.up) {
      // Frees its place under the queue bound now; a worker that already
      // holds it gets "cancelled" at the claim step anyway.
      this.jsm.streams.deleteMessage(this.subj.stream, state.streamSeq, false).catch(() => undefined);
    }
  }

  private sendCancel(state: JobState, reason: string): void {
    if (state.worker) this.publishCancel(state.worker, state.stream.id, reason);
  }

  private publishCancel(run: Run, jobId: string, reason: string): void {
    this.nc.publish(run.control, pb.Cancel.encode({ jobId, reason, delivery: run.delivery }).finish());
  }

  private sweepJobs(now: number): void {
    for (const [id, g] of this.givenUp) if (now > g.until) this.givenUp.delete(id);
    const idle = this.cfg.gateway.idleTimeoutMs;
    for (const [id, s] of this.jobs) {
      if (!s.claimedOnce && now > s.queueDeadline) {
        this.finish(id, new BrokerError("queue_timeout", `No worker took the request within the queue wait limit for model '${s.model}'. Retry later.`, { retryAfterS: this.retryAfter(s.model) }));
        this.cancelQuietly(s);
      } else if (now > s.deadline) {
        this.finish(id, new BrokerError("timeout", `The request did not complete within its deadline (${s.worker ? "while generating" : "while queued"}).`));
        this.cancelQuietly(s);
      } else if (s.worker && idle > 0 && now - s.lastActivity > idle) {
        this.finish(id, new BrokerError("timeout", `The worker sent nothing for ${Math.round(idle / 1000)} s; the job was stopped.`));
        this.cancelQuietly(s);
      }
    }
  }

  private cancelQuietly(s: JobState): void {
    if (s.worker) this.sendCancel(s, "timeout");
    else if (s.streamSeq > 0 && this.nats.up) this.jsm.streams.deleteMessage(this.subj.stream, s.streamSeq, false).catch(() => undefined);
  }

  /**
   * A worker went silent: each run it had is given up (abandonRun). A worker
   * that comes back (a paused process, a healed partition) is told; one that
   * never does releases its jobs by JetStream's ack wait.
   */
  private workerLost(workerId: string): void {
    for (const [id, s] of this.jobs) {
      const run = s.worker;
      if (run?.id === workerId) this.abandonRun(id, s, run);
    }
  }

  /** Waits until every open job has finished or the timeout passes. */
  async drain(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.jobs.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }

  stop(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.requester.close();
    this.sub?.unsubscribe();
    for (const id of [...this.jobs.keys()]) this.finish(id, new BrokerError("shutting_down", "The gateway is shutting down."));
  }
}
