// The raw JetStream floor: what the queue itself costs with the same client
// library, the same stream and consumer settings, and no HTTP, protobuf or
// engine. A job is published with an awaited ack (msgID set, as the gateway
// does), a worker pulls it, acks it and sends one core NATS reply.
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, nuid, type NatsConnection } from "@nats-io/transport-node";
import { parseConfig, type Config } from "../config/config.js";
import { ensureJobConsumer, ensureJobStream } from "../nats/jetstream.js";
import { createLogger } from "../ops/log.js";
import { subjects } from "../contract/subjects.js";

export const FLOOR_MODEL = "sim";

/** The broker's own config schema under a separate prefix: identical stream and consumer settings. */
export function floorConfig(natsUrl: string): Config {
  return parseConfig({ nats: { url: natsUrl, prefix: "benchfloor" } });
}

/** Connects as the gateway and worker do: async stack traces off (see nats/connect.ts). */
export function floorConnect(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url, name, noAsyncTraces: true, timeout: 5000 });
}

/** Creates the floor's stream and durable consumer the way the broker does. */
export async function ensureFloor(nc: NatsConnection, cfg: Config): Promise<string> {
  const log = createLogger("bench-floor", "warn");
  const jsm = await ensureJobStream(nc, cfg, log);
  return ensureJobConsumer(jsm, cfg, FLOOR_MODEL, log);
}

/**
 * The client side, used by the load generator: `submit()` publishes a job
 * (reply subject first, then padding up to the size of a real encoded job)
 * and resolves when the worker's core reply arrives. One reply subscription
 * for the whole process, demultiplexed by job id, as the gateway does.
 */
export class FloorClient {
  private readonly js: JetStreamClient;
  private readonly pending = new Map<string, { resolve: () => void; reject: (e: Error) => void; at: number }>();
  private readonly id = nuid.next();
  private readonly subj = subjects(floorConfig("").nats.prefix);
  private readonly encoder = new TextEncoder();
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly nc: NatsConnection, private readonly jobBytes: number, private readonly timeoutMs: number) {
    this.js = jetstream(nc);
    nc.subscribe(this.subj.replyAll(this.id), {
      callback: (err, msg) => {
        if (err) return;
        const jobId = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
        const p = this.pending.get(jobId);
        if (!p) return;
        this.pending.delete(jobId);
        p.resolve();
      },
    });
    // One timer for all jobs rather than one per job: the floor should cost what NATS costs.
    this.sweep = setInterval(() => {
      const old = performance.now() - this.timeoutMs;
      for (const [k, p] of this.pending) {
        if (p.at < old) {
          this.pending.delete(k);
          p.reject(new Error("reply timeout"));
        }
      }
    }, 500);
  }

  async submit(): Promise<void> {
    const jobId = nuid.next();
    const data = new Uint8Array(this.jobBytes);
    this.encoder.encodeInto(`${this.subj.reply(this.id, jobId)}\n`, data);
    const replied = new Promise<void>((resolve, reject) => this.pending.set(jobId, { resolve, reject, at: performance.now() }));
    try {
      await this.js.publish(this.subj.job(FLOOR_MODEL), data, { msgID: jobId, timeout: 5000 });
    } catch (e) {
      this.pending.delete(jobId);
      throw e;
    }
    await replied;
  }

  private closed: Promise<void> | undefined;

  close(): Promise<void> {
    clearInterval(this.sweep);
    return (this.closed ??= this.nc.drain());
  }
}
