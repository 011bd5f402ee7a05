// The inference service: what a front asks of the gateway, with no transport
// in sight. It takes a validated canonical request and a call context, plans
// the route, and opens the job on the first target that produces output
// (route.ts: fallbacks happen before anything reaches the client).
import type { JobRequest } from "../jobs/mod.js";
import type { Lane } from "../contract/mod.js";
import { Answer } from "./answer.js";
import type { JobOwner } from "./jobs.js";
import { openRoute } from "./route.js";
import type { ModelDirectory } from "./routes.js";
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
  /** The client's own key, for passthrough routes. */
  bearer: string | undefined;
  /** Aborted when the client is gone: cancels whichever job is open, now or later. */
  signal: AbortSignal;
}

const noTimeout = (): undefined => undefined;

/** The core's one entry for inference; stateless over a job owner and a routing table. */
export class InferenceService {
  constructor(
    private readonly jobs: JobOwner,
    readonly routes: ModelDirectory,
  ) {}

  chat(call: Valid<ChatCall>, ctx: CallContext): Promise<Answer> {
    return this.open(call.model, { chat: call.chat }, ctx);
  }

  complete(call: Valid<CompletionCall>, ctx: CallContext): Promise<Answer> {
    return this.open(call.model, { completion: call.completion }, ctx);
  }

  embed(call: Valid<EmbeddingCall>, ctx: CallContext): Promise<Answer> {
    return this.open(call.model, { embedding: call.embedding }, ctx);
  }

  private async open(model: string, request: JobRequest, ctx: CallContext): Promise<Answer> {
    const plan = this.routes.plan(model);
    const opened = await openRoute(this.jobs, plan, request, { ...ctx, timeoutMs: ctx.timeoutMs ?? noTimeout });
    return new Answer(opened, plan);
  }
}
