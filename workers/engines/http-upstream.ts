// What every engine that calls an HTTP upstream shares: the phase timer of a
// request, reading a body, and the worker's own key.
import { readFile } from "node:fs/promises";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { BrokerError } from "../../broker/errors.js";

/** Keep-alive HTTP(S) to one upstream, with its extra headers; only `host` ever goes into messages. */
export class UpstreamClient {
  /** The base URL with a trailing slash, so relative paths land under it: .../v1/ + chat/completions. */
  readonly base: URL;
  /** Never the URL itself: it may carry user:password. */
  readonly host: string;
  /** Configured extra headers, lower-cased so the engine's own replace them instead of being sent twice. */
  readonly headers: Record<string, string> = {};
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;

  constructor(baseUrl: string, headers: Record<string, string> = {}) {
    this.base = new URL(`${baseUrl.replace(/\/+$/, "")}/`);
    this.host = this.base.host;
    const tls = this.base.protocol === "https:";
    this.agent = tls ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.send = tls ? httpsRequest : httpRequest;
    for (const [name, value] of Object.entries(headers)) this.headers[name.toLowerCase()] = value;
  }

  /**
   * POSTs `body`, resolving with the answer's head. The watchdog's connect
   * phase becomes the first-token phase once the socket is connected (a
   * kept-alive socket already is).
   */
  post(url: URL, body: string, headers: OutgoingHttpHeaders, watch: Watchdog, firstTokenMs: number, stream: boolean): Promise<IncomingMessage> {
    const firstToken = `the upstream at ${this.host} sent no ${stream ? "first token" : "answer"} within ${firstTokenMs} ms`;
    return new Promise((resolve, reject) => {
      const req = this.send(url, { method: "POST", headers, agent: this.agent, signal: watch.signal }, resolve);
      req.on("error", reject);
      req.on("socket", (socket) => {
        if (!socket.connecting) watch.arm(firstTokenMs, firstToken);
        else socket.once("connect", () => watch.arm(firstTokenMs, firstToken));
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * One timer for the current phase (connect, first token, idle) and one abort
 * signal for the request, fired by the caller's signal or by the timer.
 */
export class Watchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort = (): void => this.controller.abort(this.outer.reason);

  constructor(private readonly outer: AbortSignal) {
    outer.addEventListener("abort", this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  arm(ms: number, message: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new BrokerError("timeout", message)), ms);
  }

  /** Restarts the current phase's timer: something arrived. */
  touch(): void {
    this.timer?.refresh();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer.removeEventListener("abort", this.onAbort);
  }
}

/** The whole body as text; every piece restarts the watchdog's timer. */
export async function readBody(res: IncomingMessage, watch: Watchdog): Promise<string> {
  const parts: Buffer[] = [];
  for await (const bytes of res as AsyncIterable<Buffer>) {
    watch.touch();
    parts.push(bytes);
  }
  return Buffer.concat(parts).toString("utf8");
}

/** An error answer's body as JSON, or undefined when it is not JSON (an HTML error page, nothing). */
export function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function parseJsonBody(text: string, host: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BrokerError("upstream_error", `the upstream at ${host} answered with something that is not JSON`, { status: 502 });
  }
}

/**
 * The worker's own upstream key, from an environment variable or a file; ""
 * when neither is set (routes whose clients bring their own key).
 */
export async function readKey(o: { apiKeyEnv?: string | undefined; apiKeyFile?: string | undefined }, optionError: (path: string, message: string) => BrokerError): Promise<string> {
  if (o.apiKeyEnv && o.apiKeyFile) throw optionError("apiKeyFile", "give apiKeyEnv or apiKeyFile, not both");
  if (o.apiKeyEnv) {
    const key = process.env[o.apiKeyEnv]?.trim();
    if (!key) throw optionError("apiKeyEnv", `environment variable ${o.apiKeyEnv} is not set or empty`);
    return key;
  }
  if (o.apiKeyFile) {
    const key = await readFile(o.apiKeyFile, "utf8").then(
      (text) => text.trim(),
      (err: NodeJS.ErrnoException) => {
        throw optionError("apiKeyFile", `cannot read ${o.apiKeyFile}: ${err.code ?? "error"}`);
      },
    );
    if (!key) throw optionError("apiKeyFile", `${o.apiKeyFile} is empty`);
    return key;
  }
  return "";
}
