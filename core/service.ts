// The inference service: what a front asks of the gateway, with no transport
// in sight. It takes a validated canonical request and a call context, plans
// the route, and opens the job on the first target that produces output
// (route.ts: fallbacks happen before anything reaches the client).
import type { JobRequest } from "../jobs/mod.js";
import { BrokerError, estimatePromptTokens, type Lane, type Usage } from "../contract/mod.js";
import { Answer } from "./answer.js";
import type { RateLimitView } from "../access/mod.js";
import type { Caller, Guard, Ticket } from "./guard.js";
import { Background } from "./background.js";
import type { DetachedOwner, JobOwner } from "./jobs.js";
import { openRoute } from "./route.js";
import { notFound, type ModelDirectory } from "./routes.js";
import type { ChatCall } from "./validate/chat.js";
import type { CompletionCall } from "./validate/completion.js";
import type { EmbeddingCall } from "./validate/embedding.js";
import type { Valid } from "./validate/valid.js";

/** Who is calling and under what terms: what a front reads from its transport. */
export interface CallContext {
  requestId: string;
  lane: Lane;
  /** Milliseconds left for the job, asked anew for each target; undefined: the job owner's default. */
  timeoutMs?: () => number | undefined;
  /** The key in `Authorization: Bearer …`: the broker key while auth is on, else the upstream key of passthrough routes. */
  bearer: string | undefined;
  /** The client's upstream key from the separate header (gateway.auth.upstreamKeyHeader), for passthrough routes. */
  upstreamKey?: string | undefined;
  /** Told the key's rate-limit figures (OpenAI's x-ratelimit-* headers): on admission, and on a 429 from its limits. */
  onLimits?: (view: RateLimitView) => void;
  /** Aborted when the client is gone: cancels whichever job is open, now or later. */
  signal: AbortSignal;
}

const noTimeout = (): undefined => undefined;
const noTokens = (): number => 0;
const NO_USAGE: Usage = { promptTokens: 0, completionTokens: 0 };

/** A ticket whose final settles with zero usage: the limits and the usage ledger see a request that used no tokens. */
function settledFree(t: Ticket): Ticket {
  return { caller: t.caller, view: t.view, end: (final, error) => t.end(final && { ...final, usage: NO_USAGE }, error) };
}

/** The core's one entry for inference; stateless over a job owner and a routing table. */
export class InferenceService {
  /** Background (detached) jobs; undefined when this process has no detached owner. */
  readonly background: Background | undefined;

  constructor(
    private readonly jobs: JobOwner,
    readonly routes: ModelDirectory,
    readonly guard: Guard,
    detached?: DetachedOwner,
  ) {
    this.background = detached && new Background(detached, routes, guard);
  }

  /** The models this caller may use. @throws BrokerError 401 for a bad key. */
  models(apiKey: string | undefined): { id: string; owned_by: string; created: number }[] {
    const caller = this.guard.caller(apiKey);
    return this.routes.list().filter((m) => this.guard.allows(caller, m.id));
  }

  /** Whether this caller may use the model; false looks exactly like an unknown model to the client. @throws 401 for a bad key. */
  visible(apiKey: string | undefined, model: string): boolean {
    return this.guard.allows(this.guard.caller(apiKey), model);
  }

  chat(call: Valid<ChatCall>, ctx: CallContext): Promise<Answer> {
    return this.open(call.model, { chat: call.chat }, ctx);
  }

  complete(call: Valid<CompletionCall>, ctx: CallContext): Promise<Answer> {
    return this.open(call.model, { completion: call.completion }, ctx);
  }

  embed(call: Valid<EmbeddingCall>, ctx: CallContext): Promise<Answer> {
    return this.open(call.model, { embedding: call.embedding }, ctx);
  }

  /**
   * Counts the prompt tokens the chat call would give its model, on a worker
   * of that model: the final's usage.promptTokens. Free, as Anthropic's
   * count_tokens is: it needs a key that may use the model and counts as a
   * request (rpm, concurrency), but charges no tokens to any budget or tpm.
   */
  countTokens(call: Valid<ChatCall>, ctx: CallContext): Promise<Answer> {
    return this.open(call.model, { countTokens: { chat: call.chat } }, ctx, true);
  }

  /** `free`: admitted with no token estimate and settled with no tokens, whatever the final reports. */
  private async open(model: string, request: JobRequest, ctx: CallContext, free = false): Promise<Answer> {
    const caller = this.guard.caller(ctx.bearer);
    // A model the key may not use is refused exactly as an unknown one, so keys cannot probe for names.
    const plan = this.guard.allows(caller, model) ? this.planOrRefuse(caller, model) : this.guard.refused(caller, model, notFound(model));
    let ticket: Ticket;
    try {
      ticket = await this.guard.enter(caller, model, ctx.lane, free ? noTokens : () => estimatePromptTokens(request));
    } catch (e) {
      const view = e instanceof BrokerError && e.status === 429 ? this.guard.peek(caller, model) : undefined;
      if (view) ctx.onLimits?.(view);
      throw e;
    }
    if (ticket.view) ctx.onLimits?.(ticket.view);
    if (free) ticket = settledFree(ticket);
    try {
      const opened = await openRoute(this.jobs, plan, request, {
        ...ctx,
        bearer: this.guard.enabled ? ctx.upstreamKey : (ctx.upstreamKey ?? ctx.bearer),
        ...(this.guard.enabled ? { upstreamKeyWhere: `'${this.guard.upstreamKeyHeader}: Bearer <key>' (Authorization carries your broker key)` } : {}),
        timeoutMs: ctx.timeoutMs ?? noTimeout,
      });
      return new Answer(opened, plan, ticket);
    } catch (e) {
      ticket.end(undefined, e);
      throw e;
    }
  }

  private planOrRefuse(caller: Caller, model: string): ReturnType<ModelDirectory["plan"]> {
    try {
      return this.routes.plan(model);
    } catch (e) {
      return this.guard.refused(caller, model, e);
    }
  }
}
