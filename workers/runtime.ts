import type { Server } from "node:http";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { nuid, type NatsConnection } from "@nats-io/transport-node";
import type { Config, WorkerConfig } from "../config/mod.js";
import { BrokerError, ConfigError, decodeJob, estimatePromptTokens, encodeChunk, pb, REASSIGNED, Verdict, type Final, type InferenceJob, Lanes, subjects, type Lane, type Subjects } from "../contract/mod.js";
import { ensureJobConsumer, ensureJobStream, inboxPrefix, NoResponders, Requester, connectNats } from "../nats/mod.js";
import { type Logger, WorkerMetrics } from "../ops/mod.js";
import { lostAfterMs } from "../jobs/mod.js";
import { ChunkEmitter } from "./chunk-emitter.js";
import type { EngineAdapter, EngineFactory, RunContext } from "./engine.js";
import { LaneScheduler } from "./lanes.js";
import { serveWorkerMetrics } from "./metrics-server.js";
import { Puller, type JobMsg } from "./puller.js";

interface Served {
  model: string;
  engineName: string;
  engine: EngineAdapter;
  /** Durable consumer name per lane. */
  consumers: Record<Lane, string>;
  lanes: LaneScheduler;
  puller: Puller;
  pumping: boolean;
  /** A lane may hold jobs but every slot was taken or reserved when this model looked: retry once one frees. */
  starved: boolean;
  /** Jobs finished, for the gateways' drain-rate estimate. */
  completed: number;
}

interface Running {
  abort: AbortController;
  emitter: ChunkEmitter;
  /** Stopped on purpose (client gone, job given to another run): no error goes out. */
  stopped: "" | "cancelled" | "reassigned";
  /** When the last ack-wait extension went out: past the ack wait, JetStream may have handed the job to another worker. */
  lastWorking: number;
  /** When the engine started on it: a run given back was work done twice. */
  started: number;
}

/** One run of a job: a job redelivered to this same worker is a second run under the same id. */
const runKey = (jobId: string, delivery: number): string => `${jobId}#${delivery}`;

export interface WorkerHandle {
  readonly id: string;
  readonly inFlight: number;
  /** Stops pulling, lets running jobs finish (up to drainTimeoutMs), then disconnects. */
  drain(): Promise<void>;
}

/** Builds every engine first (a bad option stops the worker before it touches NATS), then starts pulling. */
export async function startWorker(cfg: Config, wcfg: WorkerConfig, factories: Readonly<Record<string, EngineFactory>>, log: Logger): Promise<WorkerHandle> {
  const built: { model: string; engineName: string; engine: EngineAdapter }[] = [];
  for (const m of wcfg.models) {
    const factory = factories[m.engine];
    if (!factory) throw new ConfigError(`worker ${wcfg.name}: model ${m.id}: unknown engine '${m.engine}' (known: ${Object.keys(factories).join(", ")})`);
    built.push({ model: m.id, engineName: m.engine, engine: await factory({ model: m.id, options: m.options, slots: wcfg.slots }) });
  }
  const id = `${wcfg.name}-${nuid.next().slice(-10).toLowerCase()}`;
  const nc = await connectNats(cfg.nats, `worker ${id}`, log, { inboxPrefix: inboxPrefix.worker(wcfg.name) });
  const jsm = await ensureJobStream(nc, cfg, log);
  const served: Served[] = [];
  for (const b of built) {
    const consumers = {} as Record<Lane, string>;
    for (const lane of Lanes) consumers[lane] = await ensureJobConsumer(jsm, cfg, b.model, log, lane);
    const puller = new Puller(nc, subjects(cfg.nats.prefix).stream, undefined, cfg.nats.jsDomain ? `$JS.${cfg.nats.jsDomain}.API` : undefined);
    served.push({ ...b, consumers, lanes: new LaneScheduler(wcfg.fairEvery), puller, pumping: false, starved: false, completed: 0 });
  }
  const metrics = new WorkerMetrics();
  const w = new Worker(id, nc, cfg, wcfg, served, log, metrics);
  if (wcfg.metricsPort > 0) w.metricsServer = await serveWorkerMetrics(metrics, wcfg.metricsHost, wcfg.metricsPort, () => w.refreshMetrics());
  w.start();
  log.info({ worker: id, models: built.map((b) => b.model), slots: wcfg.slots }, "worker started");
  return w;
}

/** Hands the job to the engine method for its kind of request. */
async function serve(s: Served, job: InferenceJob, emitter: ChunkEmitter, ctx: RunContext): Promise<Final> {
  const e = s.engine;
  if (job.embedding) {
    if (!e.embed) throw unsupported(job.model, "embeddings");
    const r = await e.embed(job, ctx);
    return { usage: r.usage, model: r.model ?? job.model, embeddings: r.vectors.map((values, index) => ({ index, values: Array.from(values) })) };
  }
  if (job.countTokens) {
    const tokens = e.countTokens ? await e.countTokens(job, ctx) : estimatePromptTokens(job);
    return { usage: { promptTokens: tokens, completionTokens: 0 }, model: job.model };
  }
  let r;
  if (job.completion) {
    if (!e.complete) throw unsupported(job.model, "completions");
    r = await e.complete(job, emitter, ctx);
  } else {
    r = await e.run(job, emitter, ctx);
  }
  return { usage: r.usage, model: r.model ?? job.model, systemFingerprint: r.systemFingerprint ?? "", stopSequence: r.stopSequence ?? "", stopReason: r.stopReason ?? "" };
}

function unsupported(model: string, what: string): BrokerError {
  return new BrokerError("invalid_request", `The model '${model}' does not support ${what}.`, { param: "model" });
}

class Worker implements WorkerHandle {
  private readonly subj: Subjects;
  private readonly running = new Map<string, Running>();
  /**
   * When the last heartbeat that reached the server went out. A publish on a
   * cut link fails silently (the client buffers it until it notices, minutes
   * later), so a beat counts only once a ping after it is answered.
   */
  private lastBeat = Date.now();
  /** Silence after which gateways write this worker off (three heartbeat periods). */
  private readonly lostAfterMs: number;
  private reserved = 0;
  private busy = 0;
  private draining = false;
  private beat: NodeJS.Timeout | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private readonly control: string;
  private readonly requester: Requester;
  metricsServer: Server | undefined;

  constructor(
    readonly id: string,
    private readonly nc: NatsConnection,
    private readonly cfg: Config,
    private readonly wcfg: WorkerConfig,
    private readonly served: Served[],
    private readonly log: Logger,
    private readonly metrics: WorkerMetrics,
  ) {
    this.subj = subjects(cfg.nats.prefix);
    this.control = this.subj.control(id);
    this.requester = new Requester(nc);
    this.lostAfterMs = lostAfterMs(wcfg.heartbeatMs);
  }

  get inFlight(): number {
    return this.busy;
  }

  refreshMetrics(): void {
    this.metrics.slots.set(this.wcfg.slots);
    this.metrics.inFlight.set(this.busy);
  }

  start(): void {
    this.nc.subscribe(this.control, {
      callback: (err, msg) => {
        if (err) return;
        const c = pb.Cancel.decode(msg.data);
        const r = this.running.get(runKey(c.jobId, c.delivery));
        if (!r) return;
        r.stopped = c.reason === REASSIGNED ? "reassigned" : "cancelled";
        r.abort.abort(new BrokerError("cancelled", c.reason || "cancelled"));
      },
    });
    this.nc.subscribe(this.subj.heartbeatAsk, { callback: () => this.heartbeat() });
    for (const s of this.served) {
      this.nc.subscribe(this.subj.wakeAll(s.model), {
        callback: (err, msg) => {
          if (err) return;
          s.lanes.wake(msg.subject.slice(msg.subject.lastIndexOf(".") + 1) as Lane);
          this.pump(s);
        },
      });
    }
    this.beat = setInterval(() => {
      this.checkWrittenOff();
      this.heartbeat();
    }, this.wcfg.heartbeatMs);
    // Wake-ups are core NATS (at most once) and redeliveries come without one: look at every lane now and then.
    this.sweep = setInterval(() => {
      for (const s of this.served) s.lanes.wakeAll();
      this.pumpAll();
    }, this.wcfg.pullIntervalMs);
    this.heartbeat();
    this.pumpAll();
  }

  /**
   * Whether this worker was silent long enough for gateways to write it off
   * (paused, starved, cut off): then its runs were given up (ended or handed to
   * another worker) and go back to the queue (nak) before anything more is
   * sent. Checked on every heartbeat tick and before every chunk, since after a
   * pause a job's own timers may fire before the heartbeat's.
   */
  private checkWrittenOff(): boolean {
    const silentMs = Date.now() - this.lastBeat;
    if (silentMs <= this.lostAfterMs) return false;
    if (this.running.size > 0) {
      const now = Date.now();
      let heldMs = 0;
      for (const r of this.running.values()) if (!r.stopped) heldMs += now - r.started;
      // heldMs: engine time thrown away, the work another worker does again for jobs with no output yet.
      this.log.warn({ worker: this.id, silentMs, jobs: this.running.size, heldMs }, "silent past the gateways' bound (NATS unreachable or this process stalled); giving back the jobs held");
    }
    for (const r of this.running.values()) {
      if (r.stopped) continue;
      r.stopped = "reassigned";
      r.abort.abort(new BrokerError("worker_lost", "The worker was silent too long; the job was given back."));
    }
    return true;
  }

  private heartbeat(): void {
    const sent = Date.now();
    this.nc.publish(this.subj.heartbeat(this.id), pb.WorkerHeartbeat.encode({
      workerId: this.id,
      models: this.served.map((s) => ({ model: s.model, engine: s.engineName, completed: s.completed })),
      slots: this.wcfg.slots,
      inFlight: this.busy,
      draining: this.draining,
      sentUnixMs: Date.now(),
      intervalMs: this.wcfg.heartbeatMs,
      controlSubject: this.control,
      hostname: hostname(),
    }).finish());
    // The server answers this ping after it has taken the beat: the beat got through.
    this.nc.flush().then(() => {
      if (sent > this.lastBeat) this.lastBeat = sent;
    }, () => {
      // Closed, or disconnected before the answer: the beat did not get through.
    });
  }

  private free(): number {
    return this.wcfg.slots - this.busy - this.reserved;
  }

  private pumpAll(): void {
    for (const s of this.served) this.pump(s);
  }

  /**
   * Pulls for free slots only, so jobs wait in JetStream and never in this
   * process, lane by lane in the scheduler's order. Each pull answers at once;
   * when every lane is empty the worker idles until a wake-up or the sweep.
   * A model is pumped again only by its own wake-up, the sweep, a freed slot,
   * or (when it found no free slot) the end of another model's pull: re-pumping
   * every model after every pull would hand the turn around without any I/O
   * forever once all lanes are known empty, a microtask loop that starves timers.
   */
  private pump(s: Served): void {
    if (s.pumping || this.draining) return;
    s.pumping = true;
    void this.pullLanes(s).finally(() => {
      s.pumping = false;
      // Slots this pull reserved and did not use are free again for models that found none.
      if (this.free() > 0) for (const o of this.served) if (o.starved) this.pump(o);
    });
  }

  private async pullLanes(s: Served): Promise<void> {
    for (;;) {
      const lane = s.lanes.next();
      if (!lane || this.draining) return;
      const free = this.free();
      if (free <= 0) {
        s.starved = true;
        return;
      }
      s.starved = false;
      this.reserved += free;
      let got = 0;
      try {
        got = await s.puller.pull(s.consumers[lane], free, (msg) => {
          this.reserved--;
          if (this.draining) return msg.nak(); // back to the queue at once for another worker
          this.busy++;
          void this.handle(s, msg);
        });
      } finally {
        this.reserved -= free - got;
      }
      s.lanes.took(lane, got, free);
    }
  }

  private async handle(s: Served, msg: JobMsg): Promise<void> {
    let job: InferenceJob | undefined;
    try {
      job = decodeJob(msg.data);
      const go = await this.claim(job, msg);
      if (go) await this.run(s, job, msg, go.upstreamKey);
    } catch (e) {
      this.log.error({ err: (e as Error).message, job: job?.id }, "job handling failed");
      msg.term();
    } finally {
      this.busy--;
      this.pumpAll();
    }
  }

  /**
   * Asks the job's gateway whether anyone still waits; acks and drops the job
   * when not. A "go" may carry the client's own upstream key (passthrough).
   */
  private async claim(job: InferenceJob, msg: JobMsg): Promise<{ upstreamKey: string } | undefined> {
    if (Date.now() > job.deadlineUnixMs) {
      this.metrics.jobs.labels(job.model, "dropped_at_claim").inc();
      msg.ack();
      return undefined;
    }
    const req = encodeChunk({ jobId: job.id, seq: 0, claim: { workerId: this.id, controlSubject: this.control, delivery: msg.deliveryCount } });
    try {
      const res = await this.requester.request(job.replySubject, req, this.wcfg.claimTimeoutMs);
      const ans = pb.ClaimAnswer.decode(res.data);
      if (ans.verdict === Verdict.GO) return { upstreamKey: ans.upstreamKey };
      this.metrics.jobs.labels(job.model, "dropped_at_claim").inc();
      this.log.debug({ job: job.id, verdict: ans.verdict }, "job dropped at claim");
    } catch (e) {
      // A detached job belongs to its log, not to one gateway: with none answering now, it waits for one.
      if (!(e instanceof NoResponders) || job.eventsSubject) {
        // No answer in time: never run blind; put it back for a later try.
        this.metrics.jobs.labels(job.model, "claim_timeout").inc();
        msg.nak(1000);
        return undefined;
      }
    }
    msg.ack();
    return undefined;
  }

  private async run(s: Served, job: InferenceJob, msg: JobMsg, upstreamKey: string): Promise<void> {
    const abort = new AbortController();
    const delivery = msg.deliveryCount;
    // A detached job's chunks go into its event log (JetStream), where any gateway reads them.
    const emitter = new ChunkEmitter(this.nc, job.eventsSubject || job.replySubject, job.id, delivery, this.wcfg.coalesceMs, () => !this.checkWrittenOff());
    const r: Running = { abort, emitter, stopped: "", lastWorking: Date.now(), started: Date.now() };
    const key = runKey(job.id, delivery);
    this.running.set(key, r);
    const keepAlive = setInterval(() => {
      // A worker written off must not keep a job it no longer runs from another worker.
      if (this.checkWrittenOff()) return;
      msg.working();
      r.lastWorking = Date.now();
    }, Math.max(500, Math.floor(this.cfg.queue.ackWaitMs / 3)));
    const deadline = setTimeout(() => abort.abort(new BrokerError("timeout", "The request did not complete within its deadline.")), Math.max(0, job.deadlineUnixMs - Date.now()));
    const started = performance.now();
    let outcome = "ok";
    try {
      const final = await serve(s, job, emitter, { signal: abort.signal, ...(upstreamKey ? { upstreamKey } : {}) });
      this.metrics.tokens.labels(job.model).inc(final.usage?.completionTokens ?? 0);
      emitter.final(final);
    } catch (e) {
      outcome = r.stopped || "error";
      if (r.stopped) emitter.discard();
      else emitter.error(this.toBrokerError(e, abort.signal, job));
    } finally {
      this.metrics.jobs.labels(job.model, outcome).inc();
      this.metrics.duration.labels(job.model).observe((performance.now() - started) / 1000);
      clearInterval(keepAlive);
      clearTimeout(deadline);
      this.running.delete(key);
      if (r.stopped === "reassigned") this.giveBack(msg, r);
      else {
        s.completed++;
        // Acked even after a failure: a retry could repeat text the client already has.
        msg.ack();
      }
    }
  }

  /**
   * A run given up by the gateway goes back to the queue at once (nak), but
   * only while JetStream still counts it as this worker's: past the ack wait
   * it may already run elsewhere, and nats-server applies a nak of an earlier
   * delivery to the current one, which would run the job a third time. Then
   * the worker leaves it alone: the ack wait has released it.
   */
  private giveBack(msg: JobMsg, r: Running): void {
    if (Date.now() - r.lastWorking < this.cfg.queue.ackWaitMs * 0.8) msg.nak();
  }

  private toBrokerError(e: unknown, signal: AbortSignal, job: InferenceJob): BrokerError {
    if (signal.aborted && signal.reason instanceof BrokerError) return signal.reason;
    if (e instanceof BrokerError) return e;
    this.log.error({ err: (e as Error)?.stack ?? String(e), job: job.id }, "engine failed");
    return new BrokerError("internal_error", "The engine failed while generating; see the worker's log.");
  }

  /**
   * Ends within drainTimeoutMs + ABORT_GRACE_MS + CLOSE_GRACE_MS whatever the
   * engines do: jobs still running at the timeout are aborted, and one that
   * ignores the abort is left unacked, so JetStream hands it to another worker.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.heartbeat();
    if (this.sweep) clearInterval(this.sweep);
    const until = Date.now() + this.wcfg.drainTimeoutMs;
    while (this.busy > 0 && Date.now() < until) await sleep(50);
    for (const r of this.running.values()) r.abort.abort(new BrokerError("shutting_down", "The worker shut down before the answer was complete."));
    const grace = Date.now() + ABORT_GRACE_MS;
    while (this.busy > 0 && Date.now() < grace) await sleep(20);
    if (this.busy > 0) this.log.warn({ worker: this.id, jobs: this.busy }, "jobs ignored the abort; leaving them unacked for another worker");
    if (this.beat) clearInterval(this.beat);
    for (const s of this.served) s.puller.close();
    this.requester.close();
    const closed = await within(CLOSE_GRACE_MS, Promise.all(this.served.map((s) => s.engine.close())).then(() => this.nc.drain()));
    if (!closed) await within(CLOSE_GRACE_MS, this.nc.close());
    this.metricsServer?.close();
    // An unclean end is an error for the supervisor (exit 1): the last chunks may not have reached NATS.
    if (!closed) throw new Error(`worker ${this.id}: engines or NATS did not close within ${CLOSE_GRACE_MS} ms; the connection was closed`);
    this.log.info({ worker: this.id }, "worker drained");
  }
}

/** After the drain timeout, how long aborted jobs get to stop. */
const ABORT_GRACE_MS = 2000;
/** How long engines and the NATS connection get to close. */
const CLOSE_GRACE_MS = 2000;

/** Whether `p` settled within `ms` (its failure counts as settled: there is nothing left to wait for). */
async function within(ms: number, p: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
