/**
 * Runs one key's KV operations one at a time, so a gateway never races itself
 * on its own key (its compare-and-set conflicts then come only from others)
 * and waiters can check whether the operation they waited for covered them.
 */
export class Serial {
  private tail: Promise<void> | null = null;

  /** The running operation's completion (never rejects), or null when idle. */
  get busy(): Promise<void> | null {
    return this.tail;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.tail) await this.tail;
    let done!: () => void;
    this.tail = new Promise((r) => (done = r));
    try {
      return await fn();
    } finally {
      this.tail = null;
      done();
    }
  }
}
