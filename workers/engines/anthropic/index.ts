// Relays chat jobs to Anthropic's Messages API (POST {baseUrl}/v1/messages),
// translating OpenAI chat completions both ways. node:http rather than fetch,
// for the connect timeout, as in the openai-http engine whose error and SSE
// helpers this one reuses.
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { BrokerError } from "../../../broker/errors.js";
import type { InferenceJob } from "../../../broker/proto.js";
import type { DeltaSink, EngineAdapter, EngineFactory, RunContext, RunResult } from "../../engine.js";
import { networkError } from "../openai-http/errors.js";
import { SseParser } from "../openai-http/sse.js";
import { httpError } from "./errors.js";
import { parseOptions, readKey, type AnthropicOptions } from "./options.js";
import { buildBody } from "./request.js";
import { messageToDeltas } from "./response.js";
import { StreamMapper } from "./stream.js";
import { parseJsonBody, readBody, UpstreamClient, Watchdog } from "../http-upstream.js";

export type { AnthropicOptions } from "./options.js";

/** Builds the engine; throws BrokerError("invalid_request") naming the bad option. */
export const createAnthropicEngine: EngineFactory = async (spec) => {
  const opts = parseOptions(spec.options);
  return new AnthropicEngine(opts, spec.model, await readKey(opts));
};

class AnthropicEngine implements EngineAdapter {
  readonly name = "anthropic";
  private readonly http: UpstreamClient;
  private readonly url: URL;
  private readonly host: string;

  constructor(
    private readonly opts: AnthropicOptions,
    private readonly model: string,
    private readonly key: string,
  ) {
    this.http = new UpstreamClient(opts.baseUrl, opts.headers);
    this.url = new URL("v1/messages", this.http.base);
    this.host = this.http.host;
  }

  async run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    ctx.signal.throwIfAborted();
    const chat = job.chat ?? {};
    const n = chat.n || 1;
    if (n > 1 && !this.opts.fanOutN) {
      throw new BrokerError("invalid_request", `n=${n}: this model answers one choice per request (Anthropic's Messages API has no n)`, { param: "n" });
    }
    const model = job.upstreamModel || this.opts.upstreamModel || this.model;
    const body = JSON.stringify(buildBody(chat, model, this.opts.maxTokensDefault));
    const stream = chat.stream === true;
    return n === 1 ? this.exchange(body, stream, job, sink, ctx) : this.fanOut(n, body, stream, job, sink, ctx);
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /** n choices as n upstream requests; the first failure cancels the others. Usage is the sum: what the upstream bills. */
  private async fanOut(n: number, body: string, stream: boolean, job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const all = new AbortController();
    const onAbort = (): void => all.abort(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    let failure: unknown;
    try {
      const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) =>
        this.exchange(body, stream, job, { delta: (d) => sink.delta({ ...d, index: i }) }, { ...ctx, signal: all.signal }).catch((err: unknown) => {
          if (!all.signal.aborted) {
            failure = err;
            all.abort(err);
          }
          throw err;
        })));
      ctx.signal.throwIfAborted();
      const results: RunResult[] = [];
      for (const r of settled) {
        if (r.status === "rejected") throw failure ?? r.reason;
        results.push(r.value);
      }
      const sum = (f: "promptTokens" | "completionTokens"): number => results.reduce((s, r) => s + (r.usage[f] ?? 0), 0);
      return { usage: { promptTokens: sum("promptTokens"), completionTokens: sum("completionTokens") }, model: results[0]?.model ?? job.model };
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
    }
  }

  /** One upstream request with the connect / first-token / idle timeouts and error mapping. */
  private async exchange(body: string, stream: boolean, job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const key = ctx.upstreamKey || this.key;
    const clientKey = Boolean(ctx.upstreamKey);
    const headers: OutgoingHttpHeaders = {
      ...this.http.headers,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      accept: stream ? "text/event-stream" : "application/json",
      "anthropic-version": this.opts.anthropicVersion,
    };
    if (key) headers["x-api-key"] = key;

    const watch = new Watchdog(ctx.signal);
    try {
      watch.arm(this.opts.connectTimeoutMs, `could not connect to the upstream at ${this.host} within ${this.opts.connectTimeoutMs} ms`);
      const res = await this.http.post(this.url, body, headers, watch, this.opts.firstTokenTimeoutMs, stream);
      const status = res.statusCode ?? 0;
      const sse = (res.headers["content-type"] ?? "").includes("text/event-stream");
      // A stream's first-token timer, armed at connect, runs on until the first token: message_start and pings do not count.
      if (!sse || status < 200 || status >= 300) watch.arm(this.opts.idleTimeoutMs, this.silence());
      if (status < 200 || status >= 300) {
        throw httpError(status, res.headers, await readBody(res, watch), this.host, key, clientKey);
      }
      if (sse) return await this.relayStream(res, sink, watch, job, key, clientKey);
      const served = messageToDeltas(parseJsonBody(await readBody(res, watch), this.host), sink, this.host, key, clientKey);
      return { usage: served.usage, model: served.model ?? job.model };
    } catch (err) {
      if (watch.signal.aborted) throw watch.signal.reason; // the caller's abort, or one of our timeouts
      throw err instanceof BrokerError ? err : networkError(err, this.host);
    } finally {
      watch.dispose();
    }
  }

  private async relayStream(res: IncomingMessage, sink: DeltaSink, watch: Watchdog, job: InferenceJob, key: string, clientKey: boolean): Promise<RunResult> {
    const parser = new SseParser();
    const mapper = new StreamMapper(sink, this.host, key, clientKey);
    let done = false;
    read: for await (const bytes of res as AsyncIterable<Buffer>) {
      if (mapper.tokens) watch.touch();
      for (const ev of parser.push(bytes)) {
        const waiting = !mapper.tokens;
        if ((done = mapper.accept(ev))) break read;
        if (waiting && mapper.tokens) watch.arm(this.opts.idleTimeoutMs, this.silence());
      }
    }
    if (!done) for (const ev of parser.end()) if ((done = mapper.accept(ev))) break;
    mapper.end(done);
    const usage = mapper.usage.seen ? mapper.usage.usage : { ...mapper.usage.usage, completionTokens: mapper.contentDeltas };
    return { usage, model: mapper.model ?? job.model };
  }

  private silence(): string {
    return `the upstream at ${this.host} sent nothing for ${this.opts.idleTimeoutMs} ms`;
  }
}

