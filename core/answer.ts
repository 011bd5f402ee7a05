// A job's answer as every front consumes it: stream it to a client (relay),
// or gather it into one response (collect, final). "Something reached the
// client" is recorded here, once, when a front has written an event: the
// job owner reads it to decide whether a lost worker's job may restart.
import { BrokerError, type Delta, type Final } from "../contract/mod.js";
import { eventsOf, upstreamName, type Opened } from "./route.js";
import type { RoutePlan, RouteTarget } from "./routes.js";
import type { Ticket } from "./guard.js";

/** Where a front writes a streamed answer (an SSE response, a gRPC server stream). */
export interface OutputSink {
  /** The client is gone: stop without writing. */
  closed(): boolean;
  /**
   * Writes one event. Returns nothing while the transport keeps up (no
   * promise per event on the hot path), else a promise that resolves true
   * once it can take more, or false when the client went away meanwhile.
   */
  deltas(items: Delta[]): Promise<boolean> | undefined;
  final(f: Final): void;
}

/** Gathers deltas into one answer (a chat completion, a text completion). */
export interface Collector {
  add(items: Delta[]): void;
  /** Forgets everything added: the job restarts from scratch on another worker. */
  reset(): void;
}

const interrupted = (): BrokerError => new BrokerError("stream_interrupted", "The answer ended without its final chunk.");

/** A job that has produced its first event, on the route target that took it. */
export class Answer {
  /** The job's id, unique across gateways: fronts prefix it for their response ids. */
  readonly jobId: string;
  readonly target: RouteTarget;
  /** `route>target` when the route had a choice of targets (the x-broker-route header), else undefined. */
  readonly routeTaken: string | undefined;

  /**
   * @param ticket ended once when the answer is consumed, with the final (its
   * usage settles the limits and the usage ledger) or the error.
   */
  constructor(private readonly opened: Opened, plan: RoutePlan, private readonly ticket?: Ticket) {
    this.jobId = opened.job.id;
    this.target = opened.target;
    this.routeTaken = plan.targets.length > 1 ? `${plan.route}>${opened.target.publicId}` : undefined;
  }

  /**
   * The upstream's own model name when it differs from the target's public
   * id. Answers name the public id in `model`, so this travels beside it
   * (the x-broker-upstream-model header or trailer).
   */
  upstreamModel(final: Final): string | undefined {
    return upstreamName(this.opened, final);
  }

  /**
   * Streams the answer into `sink` and returns the final, or undefined when
   * the client went away first. A restart can only come before anything was
   * written, so it is skipped. Errors are thrown as BrokerError.
   */
  async relay(sink: OutputSink): Promise<Final | undefined> {
    return this.settle(this.relayInto(sink));
  }

  private async relayInto(sink: OutputSink): Promise<Final | undefined> {
    const job = this.opened.job;
    for await (const ev of eventsOf(this.opened)) {
      if (sink.closed()) return undefined;
      if (ev.kind === "restart") continue;
      if (ev.kind === "final") {
        sink.final(ev.final);
        job.markDelivered();
        return ev.final;
      }
      const more = sink.deltas(ev.items);
      // Marked before waiting for drain: the bytes are in the socket's buffer already.
      job.markDelivered();
      if (more && !(await more)) return undefined;
    }
    return undefined;
  }

  /** Gathers every delta into `into` and returns the final. @throws BrokerError when the answer ends without one. */
  collect(into: Collector): Promise<Final> {
    return this.settle(this.collectInto(into));
  }

  private async collectInto(into: Collector): Promise<Final> {
    for await (const ev of eventsOf(this.opened)) {
      if (ev.kind === "deltas") into.add(ev.items);
      else if (ev.kind === "restart") into.reset();
      else return ev.final;
    }
    throw interrupted();
  }

  /** The final alone, for answers that are not streamed token by token (embeddings). */
  final(): Promise<Final> {
    return this.settle(this.finalOnly());
  }

  private async finalOnly(): Promise<Final> {
    for await (const ev of eventsOf(this.opened)) if (ev.kind === "final") return ev.final;
    throw interrupted();
  }

  /** Ends the ticket with however the answer ended: its final, its error, or nothing (the client left). */
  private async settle<T extends Final | undefined>(p: Promise<T>): Promise<T> {
    if (!this.ticket) return p;
    try {
      const f = await p;
      this.ticket.end(f);
      return f;
    } catch (e) {
      this.ticket.end(undefined, e);
      throw e;
    }
  }
}
