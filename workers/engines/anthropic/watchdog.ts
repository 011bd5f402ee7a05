// The connect / first-token / idle timer of one upstream request. The same
// idea as the openai-http engine's (not exported from there).
import type { IncomingMessage } from "node:http";
import { BrokerError } from "../../../broker/errors.js";

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
