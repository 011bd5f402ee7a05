// Relays chat jobs to Anthropic's Messages API (POST {baseUrl}/v1/messages),
// translating OpenAI chat completions both ways. This folder declares
// Anthropic's wire format; the HTTP relay itself is ../relay/.
import { BrokerError, type InferenceJob } from "../../../contract/mod.js";
import type { DeltaSink, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";
import { loadRelayOptions, Relay, type Dialect, type Generation } from "../relay/index.js";
import { httpError } from "./errors.js";
import { fanOut } from "./fan-out.js";
import { optionsSchema, type AnthropicOptions } from "./options.js";
import { buildBody } from "./request.js";
import { messageToDeltas } from "./response.js";
import { StreamMapper } from "./stream.js";

export type { AnthropicOptions } from "./options.js";

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
    const model = job.upstreamModel || this.opts.upstreamModel || this.model;
    const g: Generation = {
      path: "v1/messages",
      body: buildBody(chat, model, this.opts.maxTokensDefault),
      stream: chat.stream === true,
      streamMapping: (s, caller) => new StreamMapper(s, caller),
      whole: messageToDeltas,
    };
    if (n === 1) return this.relay.generate(g, job, sink, ctx);
    return fanOut(n, job, sink, ctx, (s, c) => this.relay.generate(g, job, s, c));
  }

  async close(): Promise<void> {
    this.relay.close();
  }
}
