// Relays jobs to any OpenAI-compatible server: vLLM, llama-server, Ollama's
// /v1, TGI, LM Studio or OpenAI itself. node:http rather than fetch, because
// the connect timeout needs the socket's own connect event.
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { z } from "zod";
import { BrokerError } from "../../../broker/errors.js";
import type { InferenceJob } from "../../../broker/proto.js";
import type { DeltaSink, EmbedResult, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";
import { httpError, networkError } from "./errors.js";
import { parseJsonBody, readBody, readKey as readUpstreamKey, UpstreamClient, Watchdog } from "../http-upstream.js";
import { toEmbeddings } from "./embeddings.js";
import { buildBody, buildCompletionBody, buildEmbeddingBody } from "./request.js";
import { completionToDeltas, StreamMapper } from "./response.js";
import { SseParser } from "./sse.js";

const ms = z.number().int().positive();
const optionsSchema = z.strictObject({
  /** The API root, e.g. "http://127.0.0.1:8000/v1"; requests go to `${baseUrl}/chat/completions`. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** The model name sent upstream; default: the model id the worker serves. */
  upstreamModel: z.string().min(1).optional(),
  /** The name of an environment variable holding the upstream key. */
  apiKeyEnv: z.string().min(1).optional(),
  /** A file holding the upstream key (surrounding whitespace is ignored). */
  apiKeyFile: z.string().min(1).optional(),
  /** Extra headers for every upstream request. */
  headers: z.record(z.string(), z.string()).optional(),
  /**
   * Azure OpenAI: baseUrl is the deployment URL (https://R.openai.azure.com/openai/deployments/D),
   * every request gets ?api-version=, and the key goes in the api-key header.
   */
  apiVersion: z.string().min(1).optional(),
  /** Where the key goes: "authorization" (Bearer, OpenAI and most servers) or "api-key" (Azure). */
  keyHeader: z.enum(["authorization", "api-key"]).default("authorization"),
  /** Ask for usage in streams (stream_options.include_usage); turn off for servers that reject it. */
  streamUsage: z.boolean().default(true),
  connectTimeoutMs: ms.default(10_000),
  /** Until the first stream event; for a non-stream request, until the answer's headers. */
  firstTokenTimeoutMs: ms.default(120_000),
  /** The longest silence between two pieces of the answer. */
  idleTimeoutMs: ms.default(60_000),
});

/** The openai-http engine's options, after defaults. */
export type OpenAIHttpOptions = z.infer<typeof optionsSchema>;

/** Builds the engine; throws BrokerError("invalid_request") naming the bad option. */
export const createOpenAIHttpEngine: EngineFactory = async (spec) => {
  const parsed = optionsSchema.safeParse(spec.options ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : issue?.path.join(".");
    throw optionError(path || "(root)", issue?.message ?? "invalid");
  }
  return new OpenAIHttpEngine(parsed.data, spec.model, await readKey(parsed.data));
};

function optionError(path: string, message: string): BrokerError {
  return new BrokerError("invalid_request", `openai-http engine: option ${path}: ${message}`);
}

function readKey(o: OpenAIHttpOptions): Promise<string> {
  return readUpstreamKey(o, optionError);
}

class OpenAIHttpEngine implements EngineAdapter {
  readonly name = "openai-http";
  private readonly http: UpstreamClient;
  private readonly host: string;

  constructor(
    private readonly opts: OpenAIHttpOptions,
    private readonly model: string,
    private readonly key: string,
  ) {
    this.http = new UpstreamClient(opts.baseUrl, opts.headers);
    this.host = this.http.host;
  }

  async run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const chat = job.chat ?? {};
    const body = buildBody(chat, this.upstream(job), this.opts.streamUsage);
    return this.generate("chat/completions", body, chat.stream === true, job, sink, ctx, false);
  }

  async complete(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const c = job.completion ?? {};
    const body = buildCompletionBody(c, this.upstream(job), this.opts.streamUsage);
    return this.generate("completions", body, c.stream === true, job, sink, ctx, true);
  }

  async embed(job: InferenceJob, ctx: RunContext): Promise<EmbedResult> {
    const body = buildEmbeddingBody(job.embedding ?? {}, this.upstream(job));
    return this.exchange("embeddings", body, false, ctx, async (res, watch, key) => {
      if (!(res.headers["content-type"] ?? "").includes("json")) watch.arm(this.opts.idleTimeoutMs, this.silence());
      return toEmbeddings(parseJsonBody(await readBody(res, watch), this.host), job.model, this.host, key);
    });
  }

  private generate(path: string, payload: Record<string, unknown>, stream: boolean, job: InferenceJob, sink: DeltaSink, ctx: RunContext, text: boolean): Promise<RunResult> {
    return this.exchange(path, payload, stream, ctx, async (res, watch, key) => {
      const sse = (res.headers["content-type"] ?? "").includes("text/event-stream");
      if (!sse) watch.arm(this.opts.idleTimeoutMs, this.silence());
      // A server that ignores stream:true answers JSON; that is still a complete answer.
      return sse ? this.relayStream(res, sink, watch, job, key, text) : this.relayCompletion(res, sink, watch, job, key, text);
    });
  }

  /** One upstream request with the connect / first-token / idle timeouts and error mapping; `read` consumes a 2xx answer. */
  private async exchange<T>(path: string, payload: Record<string, unknown>, stream: boolean, ctx: RunContext,
    read: (res: IncomingMessage, watch: Watchdog, key: string) => Promise<T>): Promise<T> {
    ctx.signal.throwIfAborted();
    const body = JSON.stringify(payload);
    const key = ctx.upstreamKey || this.key;
    const headers: OutgoingHttpHeaders = {
      ...this.http.headers,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      accept: stream ? "text/event-stream" : "application/json",
    };
    if (key && this.opts.keyHeader === "api-key") headers["api-key"] = key;
    else if (key) headers.authorization = `Bearer ${key}`;

    const watch = new Watchdog(ctx.signal);
    try {
      watch.arm(this.opts.connectTimeoutMs, `could not connect to the upstream at ${this.host} within ${this.opts.connectTimeoutMs} ms`);
      const url = new URL(path, this.http.base);
      if (this.opts.apiVersion) url.searchParams.set("api-version", this.opts.apiVersion);
      const res = await this.http.post(url, body, headers, watch, this.opts.firstTokenTimeoutMs, stream);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        watch.arm(this.opts.idleTimeoutMs, this.silence());
        throw httpError(status, res.headers, await readBody(res, watch), this.host, key, Boolean(ctx.upstreamKey));
      }
      return await read(res, watch, key);
    } catch (err) {
      if (watch.signal.aborted) throw watch.signal.reason; // the caller's abort, or one of our timeouts
      throw err instanceof BrokerError ? err : networkError(err, this.host);
    } finally {
      watch.dispose();
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }

  private async relayStream(res: IncomingMessage, sink: DeltaSink, watch: Watchdog, job: InferenceJob, key: string, text: boolean): Promise<RunResult> {
    const parser = new SseParser();
    const mapper = new StreamMapper(sink, this.host, key, text);
    let waitingFirst = true;
    let done = false;
    read: for await (const bytes of res as AsyncIterable<Buffer>) {
      if (!waitingFirst) watch.touch();
      for (const ev of parser.push(bytes)) {
        if (waitingFirst) {
          waitingFirst = false;
          watch.arm(this.opts.idleTimeoutMs, this.silence());
        }
        if ((done = mapper.accept(ev))) break read;
      }
    }
    if (!done) for (const ev of parser.end()) if ((done = mapper.accept(ev))) break;
    mapper.end(done);
    const { usage, model, systemFingerprint } = mapper.served;
    return {
      usage: usage ?? { promptTokens: 0, completionTokens: mapper.contentChunks },
      model: model ?? job.model,
      ...(systemFingerprint ? { systemFingerprint } : {}),
    };
  }

  private async relayCompletion(res: IncomingMessage, sink: DeltaSink, watch: Watchdog, job: InferenceJob, key: string, text: boolean): Promise<RunResult> {
    const payload = parseJsonBody(await readBody(res, watch), this.host);
    const { usage, model, systemFingerprint } = completionToDeltas(payload, sink, this.host, key, text);
    return {
      usage: usage ?? { promptTokens: 0, completionTokens: 0 },
      model: model ?? job.model,
      ...(systemFingerprint ? { systemFingerprint } : {}),
    };
  }

  /** A route's upstream name (prefix routes), else the configured one, else the served model id. */
  private upstream(job: InferenceJob): string {
    return job.upstreamModel || this.opts.upstreamModel || this.model;
  }

  private silence(): string {
    return `the upstream at ${this.host} sent nothing for ${this.opts.idleTimeoutMs} ms`;
  }
}
