// Relays jobs to any OpenAI-compatible server: vLLM, llama-server, Ollama's
// /v1, TGI, LM Studio or OpenAI itself. This folder declares OpenAI's wire
// format; the HTTP relay itself is ../relay/.
import { z } from "zod";
import type { InferenceJob } from "../../../contract/mod.js";
import type { DeltaSink, EmbedResult, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";
import { loadRelayOptions, Relay, relayOptions, type Dialect, type Generation } from "../relay/index.js";
import { toEmbeddings } from "./embeddings.js";
import { httpError } from "./errors.js";
import { buildBody, buildCompletionBody, buildEmbeddingBody } from "./request.js";
import { completionToDeltas } from "./response.js";
import { StreamMapper } from "./stream.js";

// baseUrl is the API root, e.g. "http://127.0.0.1:8000/v1": requests go to `${baseUrl}/chat/completions`.
const optionsSchema = relayOptions.extend({
  /**
   * Azure OpenAI: baseUrl is the deployment URL (https://R.openai.azure.com/openai/deployments/D),
   * every request gets ?api-version=, and the key goes in the api-key header.
   */
  apiVersion: z.string().min(1).optional(),
  /** Where the key goes: "authorization" (Bearer, OpenAI and most servers) or "api-key" (Azure). */
  keyHeader: z.enum(["authorization", "api-key"]).default("authorization"),
  /** Ask for usage in streams (stream_options.include_usage); turn off for servers that reject it. */
  streamUsage: z.boolean().default(true),
});

/** The openai-http engine's options, after defaults. */
export type OpenAIHttpOptions = z.infer<typeof optionsSchema>;

/** Builds the engine; throws a ConfigError naming the bad option. */
export const createOpenAIHttpEngine: EngineFactory = async (spec) => {
  const { opts, key } = await loadRelayOptions("openai-http", optionsSchema, spec.options);
  return new OpenAIHttpEngine(opts, spec.model, key);
};

/** OpenAI's addressing and authorisation, with Azure's variant. */
function dialect(opts: OpenAIHttpOptions): Dialect {
  return {
    keyHeaders: (key) => (opts.keyHeader === "api-key" ? { "api-key": key } : { authorization: `Bearer ${key}` }),
    url(path, base) {
      const url = new URL(path, base);
      if (opts.apiVersion) url.searchParams.set("api-version", opts.apiVersion);
      return url;
    },
    httpError,
  };
}

/** Chat (`text` false) or legacy completions (`text` true): the same exchange, other fields. */
function generation(path: string, body: Record<string, unknown>, stream: boolean, text: boolean): Generation {
  return {
    path, body, stream,
    streamMapping: (sink, caller) => new StreamMapper(sink, caller, text),
    whole: (payload, sink, caller) => completionToDeltas(payload, sink, caller, text),
  };
}

class OpenAIHttpEngine implements EngineAdapter {
  readonly name = "openai-http";
  private readonly relay: Relay;

  constructor(
    private readonly opts: OpenAIHttpOptions,
    private readonly model: string,
    key: string,
  ) {
    this.relay = new Relay(opts, key, dialect(opts));
  }

  async run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const chat = job.chat ?? {};
    const body = buildBody(chat, this.upstream(job), this.opts.streamUsage);
    return this.relay.generate(generation("chat/completions", body, chat.stream === true, false), job, sink, ctx);
  }

  async complete(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const c = job.completion ?? {};
    const body = buildCompletionBody(c, this.upstream(job), this.opts.streamUsage);
    return this.relay.generate(generation("completions", body, c.stream === true, true), job, sink, ctx);
  }

  async embed(job: InferenceJob, ctx: RunContext): Promise<EmbedResult> {
    const body = buildEmbeddingBody(job.embedding ?? {}, this.upstream(job));
    return this.relay.request("embeddings", body, ctx, (payload, caller) => toEmbeddings(payload, job.model, caller));
  }

  async close(): Promise<void> {
    this.relay.close();
  }

  /** A route's upstream name (prefix routes), else the configured one, else the served model id. */
  private upstream(job: InferenceJob): string {
    return job.upstreamModel || this.opts.upstreamModel || this.model;
  }
}
