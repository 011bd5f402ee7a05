import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { connectionInbox } from "../nats/mod.js";

/** A job message taken from a pull consumer, with JetStream's ack protocol. */
export interface JobMsg {
  readonly data: Uint8Array;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  ack(): void;
  /** Back to the queue, redelivered after `delayMs`. */
  nak(delayMs?: number): void;
  /** Extends the ack wait while a long job runs. */
  working(): void;
  term(): void;
}

interface Pending {
  want: number;
  got: number;
  onMsg: (m: JobMsg) => void;
  done: (got: number) => void;
  timer: NodeJS.Timeout;
}

/**
 * Raw `no_wait` pull requests for one model's consumers, one at a time, over
 * one inbox. The v3 client's fetch() waits at least a second for jobs;
 * `no_wait` answers at once, which lets a worker try lanes in priority order
 * without holding slots for a lane that may stay empty. The server ends a
 * request by filling the batch, or with a 404 (nothing there) or 408 (fewer
 * than asked) status message. Jobs arrive under their own subject, not the
 * inbox's, so requests cannot be told apart on one inbox: hence one at a time.
 */
export class Puller {
  private readonly inbox: string;
  private current: Pending | undefined;
  private readonly sub: Subscription;

  /** `jsApi`: `$JS.API`, or `$JS.<domain>.API` for a JetStream reached through a leaf node. */
  constructor(private readonly nc: NatsConnection, private readonly stream: string, private readonly timeoutMs = 5000, private readonly jsApi = "$JS.API") {
    // Under the connection's inbox prefix: a locked-down worker may subscribe there only.
    this.inbox = connectionInbox(nc);
    this.sub = nc.subscribe(this.inbox, {
      callback: (err, msg) => {
        if (!err) this.onMessage(msg);
      },
    });
  }

  /** Takes up to `batch` waiting jobs from `consumer`; resolves with how many came. */
  pull(consumer: string, batch: number, onMsg: (m: JobMsg) => void): Promise<number> {
    if (this.current) return Promise.reject(new Error("a pull is already in progress"));
    return new Promise((done) => {
      // A lost answer (NATS restarting) must not keep the reserved slots forever.
      const timer = setTimeout(() => this.end(), this.timeoutMs);
      this.current = { want: batch, got: 0, onMsg, done, timer };
      this.nc.publish(`${this.jsApi}.CONSUMER.MSG.NEXT.${this.stream}.${consumer}`, JSON.stringify({ batch, no_wait: true }), { reply: this.inbox });
    });
  }

  private onMessage(msg: Msg): void {
    if (!msg.reply || !msg.reply.startsWith("$JS.ACK.")) {
      // A status: 404 no messages, 408 batch not filled, 409 consumer gone or limits.
      this.end();
      return;
    }
    const p = this.current;
    if (!p || p.got >= p.want) {
      // Late for a request given up on: no slot is reserved for it, so put it straight back.
      msg.respond("-NAK");
      return;
    }
    p.got++;
    p.onMsg(new AckableMsg(msg));
    if (p.got >= p.want) this.end();
  }

  private end(): void {
    const p = this.current;
    if (!p) return;
    this.current = undefined;
    clearTimeout(p.timer);
    p.done(p.got);
  }

  close(): void {
    this.sub.unsubscribe();
    this.end();
  }
}

class AckableMsg implements JobMsg {
  readonly data: Uint8Array;
  readonly deliveryCount: number;
  private readonly reply: string;

  constructor(private readonly msg: Msg) {
    this.data = msg.data;
    this.reply = msg.reply as string;
    this.deliveryCount = deliveryCount(this.reply);
  }

  ack(): void {
    this.msg.respond("+ACK");
  }

  nak(delayMs?: number): void {
    this.msg.respond(delayMs ? `-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}` : "-NAK");
  }

  working(): void {
    this.msg.respond("+WPI");
  }

  term(): void {
    this.msg.respond("+TERM");
  }
}

/**
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or
 * the newer form with domain and account hash before the stream (12 tokens).
 */
export function deliveryCount(reply: string): number {
  const t = reply.split(".");
  const n = Number(t.length === 9 ? t[4] : t[6]);
  return Number.isFinite(n) && n > 0 ? n : 1;
}
