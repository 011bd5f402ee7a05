// Relays chat jobs to Anthropic's Messages API (POST {baseUrl}/v1/messages),
// translating OpenAI chat completions both ways, and token counts to its
// POST {baseUrl}/v1/messages/count_tokens. This folder declares
// Anthropic's wire format; the HTTP relay itself is ../relay/.
import { BrokerError, type InferenceJob } from "../../../contract/mod.js";
import type { DeltaSink, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";
import { loadRelayOptions, num, obj, Relay, type Dialect, type Generation, type Json } from "../relay/index.js";
import { httpError } from "./errors.js";
import { fanOut } from "./fan-out.js";
import { optionsSchema, type AnthropicOptions } from "./options.js";
import { buildBody } from "./request.js";
import { messageToDeltas } from "./response.js";
import { StreamMapper } from "./stream.js";

export type { AnthropicOptions } from "./options.js";

// The fields of a Messages body that POST /v1/messages/count_tokens accepts; it refuses max_tokens, stream and sampling.
// https://docs.anthropic.com/en/api/messages-count-tokens
const COUNTED = ["model", "system", "messages", "tools", "tool_choice", "thinking"] as const;

/** Builds the engine; throws a ConfigError naming the bad option. */
export const createAnthropicEngine: EngineFactory = async (spec) => {
  const { opts, key } = await loadRelayOptions("anthropic", optionsSchema, spec.options);
  return new AnthropicEngine(opts, spec.model, key);
};

class AnthropicEngine implements EngineAdapter {
  readonly name = "anthropic";
  private readonly relay: Relay;

  constructor(
    private readonly opts: AnthropicOptions,
    private readonly model: string,
    key: string,
  ) {
    const dialect: Dialect = {
      keyHeaders: (k) => ({ "x-api-key": k }),
      headers: { "anthropic-version": opts.anthropicVersion },
      httpError,
    };
    this.relay = new Relay(opts, key, dialect);
  }

  async run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    ctx.signal.throwIfAborted();
    const chat = job.chat ?? {};
    const n = chat.n || 1;
    if (n > 1 && !this.opts.fanOutN) {
      throw new BrokerError("invalid_request", `n=${n}: this model answers one choice per request (Anthropic's Messages API has no n)`, { param: "n" });
    }
    const g: Generation = {
      path: "v1/messages",
      body: buildBody(chat, this.upstream(job), this.opts.maxTokensDefault),
      stream: chat.stream === true,
      streamMapping: (s, caller) => new StreamMapper(s, caller),
      whole: messageToDeltas,
    };
    if (n === 1) return this.relay.generate(g, job, sink, ctx);
    return fanOut(n, job, sink, ctx, (s, c) => this.relay.generate(g, job, s, c));
  }

  /** Anthropic's own count of the body `run` would send, less the fields count_tokens refuses. */
  async countTokens(job: InferenceJob, ctx: RunContext): Promise<number> {
    const body = buildBody(job.countTokens?.chat ?? {}, this.upstream(job), this.opts.maxTokensDefault);
    const counted: Json = {};
    for (const field of COUNTED) if (body[field] !== undefined) counted[field] = body[field];
    return this.relay.request("v1/messages/count_tokens", counted, ctx, (payload, caller) => {
      const tokens = num(obj(payload)?.input_tokens);
      if (tokens === undefined) throw new BrokerError("upstream_error", `the upstream at ${caller.host} answered count_tokens without input_tokens`);
      return tokens;
    });
  }

  async close(): Promise<void> {
    this.relay.close();
  }

  /** A route's upstream name, else the configured one, else the served model id. */
  private upstream(job: InferenceJob): string {
    return job.upstreamModel || this.opts.upstreamModel || this.model;
  }
}
