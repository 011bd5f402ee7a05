// Background jobs as the core offers them to fronts: admitted like any call
// (key, model access, limits), routed to one target, then handed to the
// detached owner, which keeps everything about the job in NATS. The call
// returns once the job is queued; the job runs with no client connected.
import { BrokerError, estimatePromptTokens } from "../contract/mod.js";
import { DetachedFold, type JobRequest } from "../jobs/mod.js";
import type { Guard, Ticket } from "./guard.js";
import type { DetachedOwner } from "./jobs.js";
import { unavailable } from "./route.js";
import { notFound, type ModelDirectory, type RouteTarget } from "./routes.js";
import type { CallContext } from "./service.js";

export class Background {
  /** Aborted on close: this process stops following the jobs it queued (they run on regardless). */
  private readonly closing = new AbortController();

  constructor(
    readonly owner: DetachedOwner,
    private readonly routes: ModelDirectory,
    private readonly guard: Guard,
  ) {}

  /**
   * Queues `request` as a detached job under `key` (the front's id for it,
   * e.g. a response id). Nothing has run yet, so a route's fallbacks are
   * limited to skipping targets that no worker serves now.
   * @throws BrokerError as a foreground call would, before anything is queued.
   */
  async start(key: string, model: string, request: JobRequest, ctx: Omit<CallContext, "signal" | "timeoutMs">): Promise<RouteTarget> {
    const caller = this.guard.caller(ctx.bearer);
    if (!this.guard.allows(caller, model)) this.guard.refused(caller, model, notFound(model));
    let target: RouteTarget;
    try {
      target = pick(this.routes.plan(model).targets);
    } catch (e) {
      this.guard.refused(caller, model, e);
    }
    if (target.passthroughKey) {
      // The client's own upstream key would have to be kept until a worker claims the job, maybe after
      // this process is gone: only NATS could keep it, and keys are never stored.
      throw new BrokerError("invalid_request", `The model '${target.publicId}' uses your own API key upstream, which a background job cannot keep; call it without background.`, { param: "background" });
    }
    const ticket = await this.guard.enter(caller, model, ctx.lane, () => estimatePromptTokens(request));
    if (ticket.view) ctx.onLimits?.(ticket.view);
    try {
      await this.owner.submit(key, target.model, request, { requestId: ctx.requestId, lane: ctx.lane, ...(target.upstreamModel ? { upstreamModel: target.upstreamModel } : {}) });
    } catch (e) {
      ticket.end(undefined, e);
      throw e;
    }
    void this.settle(key, ticket);
    return target;
  }

  /**
   * Follows the job to its end and settles the ticket with its usage, while
   * this process lives. If it stops first, the limits' leases expire on their
   * own and the job's usage goes unrecorded (documented).
   */
  private async settle(key: string, ticket: Ticket): Promise<void> {
    const fold = new DetachedFold();
    try {
      const events = this.owner.events(key, fold, { live: true, signal: this.closing.signal });
      while (!(await events.next()).done);
    } catch {
      // The log could not be read (NATS gone): nothing to settle with.
    }
    ticket.end(fold.final, fold.error);
  }

  close(): void {
    this.closing.abort();
  }
}

/** The first target a worker serves now, or one that may queue without workers. */
function pick(targets: readonly RouteTarget[]): RouteTarget {
  const t = targets.find((x) => x.live) ?? targets.find((x) => x.queueWithoutWorkers);
  if (!t) throw unavailable(targets[0]?.publicId ?? "");
  return t;
}
