// One timer for a request's current phase (connect, first token, idle) and one
// abort signal for the request, fired by the caller's signal or by the timer.
import { BrokerError } from "../../../contract/mod.js";

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

  /** Starts a phase: `message` is the timeout error's when nothing ends it within `ms`. */
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
