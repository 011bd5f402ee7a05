// The limits' one door to NATS KV: a compare-and-set loop on one key, every
// call bounded in time. Fails closed: a KV that does not answer refuses the
// requests that need a lease (503), and for a second after a failure those
// refusals come at once, so an outage costs a request no wait.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { BrokerError } from "../../contract/mod.js";
import type { KV } from "../../nats/mod.js";
import type { Logger } from "../../ops/mod.js";

/** Longest one KV call may take before it counts as a failure. */
export const KV_CALL_MS = 2000;
/** After a failure, calls fail at once for this long (also the 503's Retry-After). */
const FAIL_FAST_MS = 1000;
/** Conflicts tolerated in one CAS loop: each one means another gateway wrote the key in between. */
const MAX_ATTEMPTS = 32;

/** What one CAS step decides from the current value: what to write (null: nothing) and what the caller gets. */
export interface Step<T> {
  write: string | null;
  result: T;
}

export class LimitStore {
  private failUntil = 0;
  private down = false;

  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  /**
   * Reads `key`, lets `step` decide from its value (null: absent), writes with
   * the read's revision and starts over on a conflict. `step` may run several
   * times, so it only computes; the caller applies its result.
   */
  async cas<T>(key: string, step: (current: string | null) => Step<T>): Promise<T> {
    if (this.down && performance.now() < this.failUntil) throw unavailable();
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const e = await this.call(key, this.kv.get(key));
      const { write, result } = step(e && e.operation === "PUT" ? e.string() : null);
      if (write === null) return this.up(result);
      try {
        // A deleted key keeps a marker whose revision the update must name.
        await bounded(e ? this.kv.update(key, write, e.revision, KV_CALL_MS) : this.kv.create(key, write));
        return this.up(result);
      } catch (err) {
        if (!isConflict(err)) this.fail(key, err);
      }
    }
    this.log.warn({ key }, `limits: no compare-and-set win on ${key} in ${MAX_ATTEMPTS} attempts`);
    throw new BrokerError("nats_unavailable", "The limits store is too contended right now; retry shortly.", { retryAfterS: 1 });
  }

  private async call<T>(key: string, p: Promise<T>): Promise<T> {
    try {
      return await bounded(p);
    } catch (err) {
      return this.fail(key, err);
    }
  }

  private up<T>(result: T): T {
    if (this.down) {
      this.down = false;
      this.log.info("limits: NATS KV answers again");
    }
    return result;
  }

  private fail(key: string, err: unknown): never {
    this.failUntil = performance.now() + FAIL_FAST_MS;
    if (!this.down) {
      this.down = true;
      this.log.warn({ key, err: err instanceof Error ? err.message : String(err) }, "limits: NATS KV unreachable; refusing requests that need a lease");
    }
    throw unavailable();
  }
}

function unavailable(): BrokerError {
  return new BrokerError("nats_unavailable", "The broker cannot reach its limits store (NATS); retry shortly.", { retryAfterS: 1 });
}

function isConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** `p`, or a rejection after KV_CALL_MS; the timer is per KV call, never per request. */
function bounded<T>(p: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer from NATS KV in ${KV_CALL_MS} ms`)), KV_CALL_MS);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
