// maxConcurrent of one scope across gateways. One KV value per scope maps each
// gateway id to the slots it holds and when that hold expires: others ignore
// an expired hold, so the slots of a gateway killed without stop() come back
// within HOLD_TTL_MS, and a live gateway renews its hold every third of it.
import type { BrokerError } from "../../contract/mod.js";
import { concurrencyRefusal } from "./refusals.js";
import { Serial } from "./serial.js";
import { storedJson } from "./stored.js";
import type { LimitStore } from "./store.js";

/** A hold lapses this long after its last write: how long a killed gateway's slots stay taken, at most. */
export const HOLD_TTL_MS = 10_000;
/** A hold is renewed once a third of its TTL has passed, so two renewals can fail before it lapses. */
const RENEW_AFTER_MS = HOLD_TTL_MS / 3;
/**
 * A refusal stands this long, so a client hammering past its limit costs at
 * most ten KV reads a second per gateway, not one per request; a slot freed
 * on another gateway meanwhile is seen up to this much later.
 */
const REFUSAL_MS = 100;

/** gateway id → [slots held, expiry in wall-clock ms]. */
type Holders = Map<string, [number, number]>;

interface Plan {
  count: number;
  expiresAt: number;
  spare: number;
  /** Slots in use everywhere when refused; -1 when granted. */
  refusedUsed: number;
}

export class ConcurrencyLease {
  limit: number;
  label: string;
  private inUse = 0;
  /** Slots this gateway holds in KV: in use plus a spare. */
  private held = 0;
  /** The spare granted with the last write; 0 when the limit is nearly used (hold exactly what runs). */
  private spare = 0;
  // Requests in use at once here, at most, this second and the last: the spare follows it, so an idle gateway holds nothing.
  private peakCur = 0;
  private peakPrev = 0;
  private stopped = false;
  private expiresAt = 0;
  /** Local admission stops here (a third of the TTL before expiry) until a write renews the hold. */
  private validUntil = 0;
  private refusedUntil = 0;
  private refusedUsed = 0;
  private releasing = false;
  private readonly serial = new Serial();

  constructor(
    private readonly key: string,
    limit: number,
    label: string,
    private readonly gatewayId: string,
    private readonly store: LimitStore,
    private readonly clock: () => number,
  ) {
    this.limit = limit;
    this.label = label;
  }

  /** Hot path: a held slot, or false. */
  take(now: number): boolean {
    if (this.inUse < this.held && now < this.validUntil) {
      if (++this.inUse > this.peakCur) this.peakCur = this.inUse;
      return true;
    }
    return false;
  }

  /** A request ended or was refused elsewhere: frees its slot, and gives held slots back beyond twice the spare. */
  give(): void {
    // Never below 0: a request admitted before maxConcurrent was set on its key ends here too.
    if (this.inUse > 0) this.inUse--;
    this.refusedUntil = 0;
    if (this.held - this.inUse > 2 * this.spare && !this.stopped) this.release();
  }

  refusal(now: number): BrokerError | null {
    return now < this.refusedUntil ? concurrencyRefusal(this.label, this.limit, this.refusedUsed) : null;
  }

  /** Slow path: a slot, claimed from KV when none is held free here. */
  async acquire(): Promise<void> {
    for (;;) {
      const no = this.refusal(this.clock());
      if (no) throw no;
      if (this.take(this.clock())) return;
      const busy = this.serial.busy;
      if (busy) {
        await busy;
        continue;
      }
      return this.serial.run(() => this.write(1));
    }
  }

  /** Off the hot path (once a second): renews the hold, or shrinks it to what runs plus the spare it still needs. */
  async flush(now: number): Promise<void> {
    this.peakPrev = this.peakCur;
    this.peakCur = this.inUse;
    if (this.serial.busy || this.stopped) return;
    const renew = this.held > 0 && now >= this.expiresAt - HOLD_TTL_MS + RENEW_AFTER_MS;
    if (renew || this.held - this.inUse > 2 * Math.min(this.spare, this.peak())) await this.serial.run(() => this.write(0));
  }

  /** Gives every held slot back (the gateway stops; requests still running stop counting, and their end() writes nothing). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.serial.run(() => this.write(0, true));
  }

  idle(): boolean {
    return this.inUse === 0 && this.held === 0 && this.serial.busy === null;
  }

  private peak(): number {
    return Math.max(this.peakCur, this.peakPrev);
  }

  private release(): void {
    if (this.releasing) return;
    this.releasing = true;
    this.serial.run(() => this.write(0)).then(
      () => {
        this.releasing = false;
        // Requests that ended while the write was under way.
        if (this.held - this.inUse > 2 * this.spare && !this.stopped) this.release();
      },
      () => {
        this.releasing = false; // the flush retries; retrying here would spin while NATS is down
      },
    );
  }

  /** One write: claims `need` (0 or 1) more, or renews/shrinks the hold; `final` drops it. */
  private async write(need: number, final = false): Promise<void> {
    if (this.inUse + need > this.peakCur) this.peakCur = this.inUse + need;
    const r = await this.store.cas(this.key, (text) => this.plan(text, need, final, this.clock()));
    this.held = r.count;
    this.spare = r.spare;
    this.expiresAt = r.expiresAt;
    this.validUntil = r.expiresAt - RENEW_AFTER_MS;
    if (r.refusedUsed >= 0) {
      this.refusedUntil = this.clock() + REFUSAL_MS;
      this.refusedUsed = r.refusedUsed;
      throw concurrencyRefusal(this.label, this.limit, r.refusedUsed);
    }
    this.inUse += need;
  }

  private plan(text: string | null, need: number, final: boolean, now: number): { write: string | null; result: Plan } {
    const holders = parseHolders(text);
    let others = 0;
    let changed = false;
    for (const [gw, [n, exp]] of holders) {
      if (gw === this.gatewayId || exp <= now) {
        holders.delete(gw);
        changed = true;
      } else others += n;
    }
    const base = final ? 0 : this.inUse + need;
    const free = this.limit - others - base;
    const refused = need > 0 && free < 0;
    // A spare only while at least 4 slots are free, at most a quarter of them and what this gateway's
    // recent peak suggests: a small or nearly used limit is held exactly, an idle gateway holds nothing.
    const spare = refused || final || free < 4 ? 0 : Math.min(Math.floor(free / 4), this.peak());
    let count = refused ? this.inUse : base + spare;
    // Renewing or releasing never grows the hold; requests running keep their slots even past the limit (a lapsed hold).
    if (need === 0 && !final) count = Math.min(count, Math.max(this.held, base));
    const expiresAt = now + HOLD_TTL_MS;
    if (count > 0) {
      holders.set(this.gatewayId, [count, expiresAt]);
      changed = true;
    }
    const result: Plan = { count, expiresAt, spare, refusedUsed: refused ? others + this.inUse : -1 };
    return { write: changed ? JSON.stringify(Object.fromEntries(holders)) : null, result };
  }
}

/** A stored value; anything malformed reads as empty (a bad write must not lock a scope out). */
function parseHolders(text: string | null): Holders {
  const out: Holders = new Map();
  const raw = storedJson(text);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return out;
  for (const [gw, v] of Object.entries(raw)) {
    if (!Array.isArray(v) || v.length !== 2) continue;
    const [n, exp] = v as unknown[];
    if (typeof n === "number" && n > 0 && typeof exp === "number") out.set(gw, [n, exp]);
  }
  return out;
}
