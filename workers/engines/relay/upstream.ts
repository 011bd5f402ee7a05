// Keep-alive HTTP(S) to one upstream. node:http rather than fetch, because the
// connect timeout needs the socket's own connect event.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Watchdog } from "./watchdog.js";

/** One upstream, with its configured extra headers; only `host` ever goes into messages. */
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
