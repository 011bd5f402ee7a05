// Relays chat jobs to Anthropic's Messages API (POST {baseUrl}/v1/messages),
// translating OpenAI chat completions both ways. node:http rather than fetch,
// for the connect timeout, as in the openai-http engine whose error and SSE
// helpers this one reuses.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
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
import { parseJsonBody, readBody, Watchdog } from "../http-upstream.js";

export type { AnthropicOptions } from "./options.js";

/** Builds the engine; throws BrokerError("invalid_request") naming the bad option. */
export const createAnthropicEngine: EngineFactory = async (spec) => {
  const opts = parseOptions(spec.options);
  return new AnthropicEngine(opts, spec.model, await readKey(opts));
};

class AnthropicEngine implements EngineAdapter {
  readonly name = "anthropic";
  private readonly url: URL;
  private readonly host: string;
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  private readonly headers: Record<string, string> = {};

  constructor(
    private readonly opts: AnthropicOptions,
    private readonly model: string,
    private readonly key: string,
  ) {
    this.url = new URL("v1/messages", `${opts.baseUrl.replace(/\/+$/, "")}/`);
    this.host = this.url.host; // never the URL itself: it may carry user:password
    const tls = this.url.protocol === "https:";
    this.agent = tls ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.send = tls ? httpsRequest : httpRequest;
    // Lower-cased so that ours replace theirs instead of being sent twice.
    for (const [name, value] of Object.entries(opts.headers ?? {})) this.headers[name.toLowerCase()] = value;
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
    this.agent.destroy();
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
      ...this.headers,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      accept: stream ? "text/event-stream" : "application/json",
      "anthropic-version": this.opts.anthropicVersion,
    };
    if (key) headers["x-api-key"] = key;

    const watch = new Watchdog(ctx.signal);
    try {
      watch.arm(this.opts.connectTimeoutMs, `could not connect to the upstream at ${this.host} within ${this.opts.connectTimeoutMs} ms`);
      const res = await this.post(body, headers, watch, stream);
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

  private post(body: string, headers: OutgoingHttpHeaders, watch: Watchdog, stream: boolean): Promise<IncomingMessage> {
    const firstToken = this.noFirstToken(stream);
    return new Promise((resolve, reject) => {
      const req = this.send(this.url, { method: "POST", headers, agent: this.agent, signal: watch.signal }, resolve);
      req.on("error", reject);
      req.on("socket", (socket) => {
        // A kept-alive socket is connected already; a new one is not yet.
        if (!socket.connecting) watch.arm(this.opts.firstTokenTimeoutMs, firstToken);
        else socket.once("connect", () => watch.arm(this.opts.firstTokenTimeoutMs, firstToken));
      });
      req.end(body);
    });
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

  private noFirstToken(stream: boolean): string {
    return `the upstream at ${this.host} sent no ${stream ? "first token" : "answer"} within ${this.opts.firstTokenTimeoutMs} ms`;
  }

  private silence(): string {
    return `the upstream at ${this.host} sent nothing for ${this.opts.idleTimeoutMs} ms`;
  }
}

