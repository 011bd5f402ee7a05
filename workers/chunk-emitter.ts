import type { NatsConnection } from "@nats-io/transport-node";
import { type BrokerError, encodeChunk, type ChunkInit, type Delta, type Final } from "../contract/mod.js";
import type { DeltaSink } from "./engine.js";

/**
 * Sends one job's output to its reply subject. Deltas emitted in the same
 * tick (or within `coalesceMs`) travel as one NATS message: throughput falls
 * with the number of messages per job, not with their size.
 */
export class ChunkEmitter implements DeltaSink {
  private seq = 0;
  private pending: Delta[] = [];
  private timer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private immediate = true;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly jobId: string,
    /** The run's delivery count, on every chunk: the gateway drops chunks of a run it gave up on. */
    private readonly delivery: number,
    private readonly coalesceMs: number,
    /** Asked before each send: false once the worker knows it was written off, and the output goes nowhere. */
    private readonly live: () => boolean = () => true,
  ) {}

  private send(chunk: Omit<ChunkInit, "jobId" | "delivery">): void {
    if (!this.live()) {
      this.discard();
      return;
    }
    this.nc.publish(this.subject, encodeChunk({ ...chunk, jobId: this.jobId, delivery: this.delivery }));
  }

  delta(d: Delta): void {
    if (this.closed) return;
    const last = this.pending[this.pending.length - 1];
    if (last && mergeable(last, d)) {
      if (d.reasoning) last.reasoning = (last.reasoning ?? "") + d.reasoning;
      else last.content = (last.content ?? "") + (d.content ?? "");
      if (d.finishReason) last.finishReason = d.finishReason;
    } else {
      this.pending.push({ ...d });
    }
    if (this.timer === undefined) {
      // The first output goes out at once (time to first token); later ones wait out the window.
      this.timer = this.coalesceMs > 0 && this.seq > 0 ? setTimeout(this.flush, this.coalesceMs) : setImmediate(this.flush);
      this.immediate = !(this.coalesceMs > 0 && this.seq > 0);
    }
  }

  private readonly flush = (): void => {
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.send({ seq: ++this.seq, deltas: { items } });
  };

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    if (this.immediate) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }

  final(f: Final): void {
    if (this.closed) return;
    this.cancelTimer();
    this.closed = true;
    // Unsent deltas ride along with the final: one message instead of two.
    if (this.pending.length > 0) f = { ...f, deltas: this.pending };
    this.pending = [];
    this.send({ seq: ++this.seq, final: f });
  }

  error(e: BrokerError): void {
    if (this.closed) return;
    this.cancelTimer();
    this.flush();
    this.closed = true;
    this.send({ seq: ++this.seq, error: e.toChunk() });
  }

  /** Drops unsent output (the client is gone). */
  discard(): void {
    this.cancelTimer();
    this.pending = [];
    this.closed = true;
  }
}

// Text joins text and thinking joins thinking; a signature or a redacted block ends a thinking block, so
// nothing merges across one (nor across tool calls, a refusal or the end).
function mergeable(a: Delta, b: Delta): boolean {
  return a.index === b.index && !a.finishReason && !a.toolCalls?.length && !a.refusal
    && !b.role && !b.toolCalls?.length && !b.refusal
    && !a.reasoningSignature && !a.redactedReasoning && !b.reasoningSignature && !b.redactedReasoning
    && !a.reasoning === !b.reasoning && !(a.reasoning && (a.content || b.content));
}
