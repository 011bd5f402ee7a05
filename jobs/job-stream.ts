import { BrokerError, type Delta, type Final } from "../contract/mod.js";

/**
 * What a submitted job yields: batches of deltas, then exactly one final.
 * `restart` means the worker died before anything reached the client and the
 * job runs again from scratch elsewhere: drop what was collected so far.
 * Failures are thrown as BrokerError.
 */
export type JobEvent = { kind: "deltas"; items: Delta[] } | { kind: "final"; final: Final } | { kind: "restart" };

/**
 * A job's output as an async iterable, fed by the gateway's one reply
 * subscription. Pushes never block: NATS delivers faster than a slow HTTP
 * client reads, and the bytes are bounded by the job's own output.
 */
export class JobStream implements AsyncIterable<JobEvent> {
  private readonly queue: JobEvent[] = [];
  private failure: BrokerError | undefined;
  private finished = false;
  private wake: (() => void) | undefined;
  private sent = false;

  constructor(
    readonly id: string,
    private readonly onCancel: (id: string, reason: string) => void,
  ) {}

  push(ev: JobEvent): void {
    if (this.finished) return;
    if (ev.kind === "final") this.finished = true;
    this.queue.push(ev);
    this.notify();
  }

  fail(err: BrokerError): void {
    if (this.finished) return;
    this.finished = true;
    this.failure = err;
    this.notify();
  }

  /** The worker was lost before output reached the client: forget its partial output. */
  restart(): void {
    if (this.finished) return;
    this.queue.length = 0;
    this.queue.push({ kind: "restart" });
    this.notify();
  }

  /**
   * Output reached the client: from then on a retry would duplicate text, so
   * a lost worker ends the stream with an error instead of a restart. Called
   * by the core's relay loop once a front has written an event.
   */
  markDelivered(): void {
    this.sent = true;
  }

  /** Whether anything reached the client (see markDelivered). */
  get delivered(): boolean {
    return this.sent;
  }

  get done(): boolean {
    return this.finished;
  }

  /** The client is gone or gave up: stop the job wherever it is. */
  cancel(reason = "client cancelled"): void {
    if (!this.finished) {
      this.finished = true;
      this.onCancel(this.id, reason);
    }
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    if (w) {
      this.wake = undefined;
      w();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JobEvent> {
    for (;;) {
      const ev = this.queue.shift();
      if (ev) {
        yield ev;
        if (ev.kind === "final") return;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.finished) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}
