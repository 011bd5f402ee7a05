// The one HTTP relay every remote engine shares: request, phase timers
// (connect → first token → idle), the key header, the SSE loop and error
// mapping. What differs per provider comes in as a Dialect and Generations.
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { BrokerError, type InferenceJob } from "../../../contract/mod.js";
import type { DeltaSink, RunContext, RunResult } from "../../engine.js";
import type { Dialect, Generation, Served, StreamMapping } from "./dialect.js";
import { networkError, type Caller } from "./errors.js";
import { upstreamJson } from "./json.js";
import type { RelayOptions } from "./options.js";
import { SseDecoder } from "./sse.js";
import { UpstreamClient } from "./upstream.js";
import { Watchdog } from "./watchdog.js";

/** How a 2xx answer is read: `sse` when it is an event stream. */
type Read<T> = (res: IncomingMessage, sse: boolean, watch: Watchdog, caller: Caller) => Promise<T>;

export class Relay {
  readonly host: string;
  private readonly http: UpstreamClient;
  private readonly silence: string;
  private readonly connectFailed: string;

  /** `key`: the worker's own, "" when only clients bring theirs. */
  constructor(private readonly opts: RelayOptions, private readonly key: string, private readonly dialect: Dialect) {
    this.http = new UpstreamClient(opts.baseUrl, opts.headers);
    this.host = this.http.host;
    this.silence = `the upstream at ${this.host} sent nothing for ${opts.idleTimeoutMs} ms`;
    this.connectFailed = `could not connect to the upstream at ${this.host} within ${opts.connectTimeoutMs} ms`;
  }

  /** Runs one generation: its deltas go to `sink`; the model defaults to the job's. */
  async generate(g: Generation, job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult> {
    const served = await this.exchange(g.path, g.body, g.stream, ctx, async (res, sse, watch, caller) =>
      sse ? this.relayStream(res, g.streamMapping(sink, caller), watch) : g.whole(await this.readJson(res, watch), sink, caller));
    return {
      usage: served.usage,
      model: served.model ?? job.model,
      ...(served.systemFingerprint ? { systemFingerprint: served.systemFingerprint } : {}),
      ...(served.stopSequence ? { stopSequence: served.stopSequence } : {}),
      ...(served.stopReason ? { stopReason: served.stopReason } : {}),
    };
  }

  /** One non-stream request whose JSON answer `map` turns into a result (embeddings). */
  request<T>(path: string, body: Record<string, unknown>, ctx: RunContext, map: (payload: unknown, caller: Caller) => T): Promise<T> {
    return this.exchange(path, body, false, ctx, async (res, _sse, watch, caller) => map(await this.readJson(res, watch), caller));
  }

  close(): void {
    this.http.close();
  }

  /** One upstream request with the phase timers and error mapping; `read` consumes a 2xx answer. */
  private async exchange<T>(path: string, payload: Record<string, unknown>, stream: boolean, ctx: RunContext, read: Read<T>): Promise<T> {
    ctx.signal.throwIfAborted();
    const body = JSON.stringify(payload);
    const caller: Caller = { host: this.host, key: ctx.upstreamKey || this.key, clientKey: Boolean(ctx.upstreamKey) };
    const headers: OutgoingHttpHeaders = {
      ...this.http.headers,
      ...this.dialect.headers,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      accept: stream ? "text/event-stream" : "application/json",
      ...(caller.key ? this.dialect.keyHeaders(caller.key) : {}),
    };
    const url = this.dialect.url ? this.dialect.url(path, this.http.base) : new URL(path, this.http.base);
    const watch = new Watchdog(ctx.signal);
    try {
      watch.arm(this.opts.connectTimeoutMs, this.connectFailed);
      const res = await this.http.post(url, body, headers, watch, this.opts.firstTokenTimeoutMs, stream);
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      // A server that ignores stream:true answers JSON; that is still a complete answer.
      const sse = ok && (res.headers["content-type"] ?? "").includes("text/event-stream");
      // A stream's first-token timer, armed at connect, runs on until the mapping sees a token; anything else is read under the idle timer.
      if (!sse) watch.arm(this.opts.idleTimeoutMs, this.silence);
      if (!ok) throw this.dialect.httpError(status, res.headers, await readBody(res, watch), caller);
      return await read(res, sse, watch, caller);
    } catch (err) {
      if (watch.signal.aborted) throw watch.signal.reason; // the caller's abort, or one of our timeouts
      throw err instanceof BrokerError ? err : networkError(err, this.host);
    } finally {
      watch.dispose();
    }
  }

  /** The SSE loop: events to the mapping until its end marker or the end of the body. */
  private async relayStream(res: IncomingMessage, mapping: StreamMapping, watch: Watchdog): Promise<Served> {
    const decoder = new SseDecoder();
    let done = false;
    read: for await (const bytes of res as AsyncIterable<Buffer>) {
      if (mapping.tokens) watch.touch();
      for (const ev of decoder.push(bytes)) {
        const waiting = !mapping.tokens;
        if ((done = mapping.accept(ev))) break read;
        if (waiting && mapping.tokens) watch.arm(this.opts.idleTimeoutMs, this.silence);
      }
    }
    if (!done) for (const ev of decoder.end()) if ((done = mapping.accept(ev))) break;
    mapping.end(done);
    return mapping.served();
  }

  private async readJson(res: IncomingMessage, watch: Watchdog): Promise<unknown> {
    return upstreamJson(await readBody(res, watch), this.host);
  }
}

/** The whole body as text; every piece restarts the watchdog's timer. */
async function readBody(res: IncomingMessage, watch: Watchdog): Promise<string> {
  const parts: Buffer[] = [];
  for await (const bytes of res as AsyncIterable<Buffer>) {
    watch.touch();
    parts.push(bytes);
  }
  return Buffer.concat(parts).toString("utf8");
}
