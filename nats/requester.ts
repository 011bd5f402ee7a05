import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** The request got no answer in time. */
export class RequestTimeout extends Error {}
/** Nobody listens on the subject (the server's 503 status). */
export class NoResponders extends Error {}

interface Pending {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  deadline: number;
}

interface Outgoing {
  subject: string;
  data: Uint8Array;
  reply: string;
  headers: MsgHdrs | undefined;
}

/**
 * Request/reply over one inbox subscription, with publishes batched per
 * event-loop turn. The client library's request() sets up a timer, a mux
 * entry and an error object per call, and every call made from its own
 * macrotask is flushed by its own write(2) — 24% of the gateway's busy time in
 * the profile. Here requests made in one turn go out in one write, answers are
 * matched by token, and one coarse sweep expires them.
 */
export class Requester {
  private readonly inbox: string;
  private readonly pending = new Map<string, Pending>();
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  private queue: Outgoing[] = [];
  private scheduled = false;
  private seq = 0;

  constructor(private readonly nc: NatsConnection) {
    // Under the connection's inbox prefix: a locked-down user may subscribe there only.
    this.inbox = connectionInbox(nc);
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (!err) this.onReply(msg);
      },
    });
    this.sweep = setInterval(() => this.expire(Date.now()), 50);
    this.sweep.unref();
  }

  request(subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg> {
    const token = (++this.seq).toString(36);
    return new Promise((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      this.send({ subject, data, reply: `${this.inbox}.${token}`, headers });
    });
  }

  /** A plain publish, in the same batch as requests (wake-ups, cancels). */
  publish(subject: string, data: Uint8Array = EMPTY): void {
    this.send({ subject, data, reply: "", headers: undefined });
  }

  private send(o: Outgoing): void {
    this.queue.push(o);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const o of batch) {
      try {
        this.nc.publish(o.subject, o.data, o.reply ? (o.headers ? { reply: o.reply, headers: o.headers } : { reply: o.reply }) : undefined);
      } catch (e) {
        const token = o.reply.slice(this.inbox.length + 1);
        const p = this.pending.get(token);
        if (p) {
          this.pending.delete(token);
          p.reject(e as Error);
        }
      }
    }
  };

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) p.reject(new NoResponders("no responders"));
    else p.resolve(msg);
  }

  private expire(now: number): void {
    for (const [token, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(token);
      p.reject(new RequestTimeout("request timed out"));
    }
  }

  close(): void {
    clearInterval(this.sweep);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new RequestTimeout("closed"));
    this.pending.clear();
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A new inbox under the connection's `inboxPrefix` (`_INBOX` when none). The
 * `NatsConnection` interface does not expose the options its implementation
 * keeps, hence the checked look-up rather than a cast.
 */
export function connectionInbox(nc: NatsConnection): string {
  const options: unknown = Reflect.get(nc, "options");
  const prefix: unknown = typeof options === "object" && options !== null ? Reflect.get(options, "inboxPrefix") : undefined;
  return createInbox(typeof prefix === "string" && prefix !== "" ? prefix : undefined);
}
