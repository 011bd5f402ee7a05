// A fixed set of resources handed out one run at a time: the context's
// sequences. A run waits for a free one; giving up (abort) leaves the queue.
import { BrokerError } from "../../../contract/mod.js";

interface Waiter<T> {
  resolve(item: T): void;
  reject(err: unknown): void;
}

export class Pool<T> {
  private readonly free: T[];
  private readonly waiters: Waiter<T>[] = [];
  private closed = false;

  constructor(items: readonly T[]) {
    this.free = [...items];
  }

  /** A free item, at once or when one is released; rejects with the signal's reason on abort. */
  acquire(signal: AbortSignal): Promise<T> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (signal.aborted) return Promise.reject(signal.reason);
    const item = this.free.pop();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve: (it) => {
          signal.removeEventListener("abort", onAbort);
          resolve(it);
        },
        reject,
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at < 0) return; // already served or closed
        this.waiters.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives an item back: straight to the longest waiter, if any. */
  release(item: T): void {
    const next = this.waiters.shift();
    if (next) next.resolve(item);
    else this.free.push(item);
  }

  /** Fails every waiting and later acquire. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(shuttingDown());
  }
}

const shuttingDown = (): BrokerError => new BrokerError("shutting_down", "the llama-cpp engine is shutting down");
