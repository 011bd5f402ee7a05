import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../ops/mod.js";
import { pb, type WorkerHeartbeat, type Subjects } from "../contract/mod.js";
import { type Connected, trackConnected } from "../nats/mod.js";

export interface WorkerInfo {
  id: string;
  hostname: string;
  models: { model: string; engine: string; completed: number; ratePerS: number }[];
  slots: number;
  inFlight: number;
  draining: boolean;
  lastSeenMs: number;
  expiresMs: number;
}

export interface ModelLiveness {
  workers: number;
  slots: number;
  inFlight: number;
}

/** How many heartbeat periods of silence make a worker count as gone. */
const MISSED_BEATS = 3;

/**
 * How long a worker beating every `intervalMs` may be silent before gateways
 * write it off; a worker that notices its own silence was this long knows its
 * jobs were given up.
 */
export function lostAfterMs(intervalMs: number): number {
  return MISSED_BEATS * Math.max(intervalMs || 2000, 100);
}

/**
 * Which workers are alive and what they serve, from their heartbeats. On
 * start it asks every worker to beat at once, so a fresh gateway knows its
 * models within a round trip instead of a heartbeat period.
 */
export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerInfo>();
  private sub: Subscription | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private readonly lostListeners: ((workerId: string) => void)[] = [];
  /** This gateway's own connection: while it is down, silence means nothing. */
  private readonly connection: Connected;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subj: Subjects,
    private readonly log: Logger,
  ) {
    this.connection = trackConnected(nc);
  }

  async start(settleMs = 150): Promise<void> {
    this.sub = this.nc.subscribe(this.subj.heartbeatAll, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const hb = pb.WorkerHeartbeat.decode(msg.data);
          // A worker's NATS user may publish its own name's beats only: the id inside must match.
          if (msg.subject !== this.subj.heartbeat(hb.workerId)) {
            this.log.warn({ subject: msg.subject, worker: hb.workerId }, "heartbeat whose worker id does not match its subject; ignored");
            return;
          }
          this.observe(hb);
        } catch (e) {
          this.log.warn({ err: (e as Error).message, subject: msg.subject }, "undecodable heartbeat");
        }
      },
    });
    this.sweep = setInterval(() => this.expire(Date.now()), 250);
    this.sweep.unref();
    this.connection.onReconnect(() => this.back(Date.now()));
    this.nc.publish(this.subj.heartbeatAsk);
    await this.nc.flush();
    await new Promise((r) => setTimeout(r, settleMs));
  }

  onWorkerLost(fn: (workerId: string) => void): void {
    this.lostListeners.push(fn);
  }

  observe(hb: WorkerHeartbeat): void {
    const now = Date.now();
    const prev = this.workers.get(hb.workerId);
    const info: WorkerInfo = {
      id: hb.workerId,
      hostname: hb.hostname,
      models: hb.models.map((m) => {
        const model = m.model ?? "";
        const completed = m.completed ?? 0;
        const before = prev?.models.find((p) => p.model === model);
        let ratePerS = before?.ratePerS ?? 0;
        if (before && prev && now > prev.lastSeenMs) {
          // An EWMA over heartbeats: steady under bursts, follows a change within a few beats.
          const instant = ((completed - before.completed) * 1000) / (now - prev.lastSeenMs);
          ratePerS = 0.5 * ratePerS + 0.5 * Math.max(0, instant);
        }
        return { model, engine: m.engine ?? "", completed, ratePerS };
      }),
      slots: hb.slots,
      inFlight: hb.inFlight,
      draining: hb.draining,
      lastSeenMs: now,
      expiresMs: now + lostAfterMs(hb.intervalMs),
    };
    if (!this.workers.has(info.id)) this.log.info({ worker: info.id, models: info.models.map((m) => m.model) }, "worker joined");
    this.workers.set(info.id, info);
  }

  /**
   * While this gateway has no connection it hears no heartbeats, and that says
   * nothing about the workers: none is written off meanwhile, and once it is
   * back each gets a whole bound again (and is asked to beat at once). Else a
   * gateway that moves to another server of the cluster would end the streams
   * of every worker whose beats fell into its own gap.
   */
  private back(now: number): void {
    for (const w of this.workers.values()) w.expiresMs = Math.max(w.expiresMs, now + (w.expiresMs - w.lastSeenMs));
    this.nc.publish(this.subj.heartbeatAsk);
  }

  private expire(now: number): void {
    if (!this.connection.up) return;
    for (const [id, w] of this.workers) {
      if (w.expiresMs > now) continue;
      this.workers.delete(id);
      this.log.warn({ worker: id }, "worker lost: no heartbeat");
      for (const fn of this.lostListeners) fn(id);
    }
  }

  has(workerId: string): boolean {
    return this.workers.has(workerId);
  }

  list(): WorkerInfo[] {
    return [...this.workers.values()];
  }

  /** Models served by at least one live, non-draining worker. */
  liveModels(): Map<string, ModelLiveness> {
    const out = new Map<string, ModelLiveness>();
    for (const w of this.workers.values()) {
      if (w.draining) continue;
      for (const m of w.models) {
        const cur = out.get(m.model) ?? { workers: 0, slots: 0, inFlight: 0 };
        cur.workers += 1;
        cur.slots += w.slots;
        cur.inFlight += w.inFlight;
        out.set(m.model, cur);
      }
    }
    return out;
  }

  /** Jobs per second that live workers finish for this model. */
  drainRate(model: string): number {
    let rate = 0;
    for (const w of this.workers.values()) for (const m of w.models) if (m.model === model) rate += m.ratePerS;
    return rate;
  }

  isLive(model: string): boolean {
    for (const w of this.workers.values()) {
      if (!w.draining && w.models.some((m) => m.model === model)) return true;
    }
    return false;
  }

  stop(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.sub?.unsubscribe();
  }
}
