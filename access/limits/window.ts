// One sliding-window limit (rpm or tpm) of one scope, on this gateway: a local
// allowance leased from the window's KV value, usable only within the slot
// (second) it was granted in. What is left when the slot ends goes back with
// the next claim (or alone, soon after); credits and debits from
// reconciliation ride along too.
import { BrokerError } from "../../contract/mod.js";
import { Demand } from "./demand.js";
import { windowRefusal } from "./refusals.js";
import { Serial } from "./serial.js";
import { applyDeltas, type Claim, claimStep, encodeSlots, parseSlots, slotOf, WINDOW_SLOTS } from "./slots.js";
import type { LimitStore } from "./store.js";

export type WindowUnit = "requests" | "tokens";

/** A claim that straddles a second boundary is given back and made again; at most this many times. */
const MAX_CLAIMS = 3;
/**
 * Under load, the next second's lease is claimed this long before the second
 * ends, so requests do not queue behind a claim at every second boundary.
 */
const AHEAD_MS = 200;

export class WindowLease {
  limit: number;
  label: string;
  /** When this gateway last charged it (ms), to forget idle scopes. */
  lastUse = 0;
  /** The slot the local allowance belongs to. */
  private slot = -1;
  private left = 0;
  /** A lease claimed ahead for the next slot, usable once it starts. */
  private nextSlot = -1;
  private nextLeft = 0;
  /** Signed amounts for slots in KV: unused leases and credits (negative), debits (positive). */
  private readonly pending = new Map<number, number>();
  private lastLease = 0;
  /** What the last lease held beyond its claimer's need: > 0 means load, so prefetching pays. */
  private lastExtra = 0;
  /** The window's count after this gateway's last claim, its own lease included (for the headers). */
  private counted = 0;
  private clearAt = 0;
  private readonly demand = new Demand();
  // The last refusal, remembered for the rest of its second (see refusal()).
  private refusedSlot = -1;
  private refusedAvail = 0;
  private refusedUsed = 0;
  private refusedRetryAt = 0;
  private readonly serial = new Serial();

  constructor(
    private readonly key: string,
    readonly unit: WindowUnit,
    limit: number,
    label: string,
    private readonly store: LimitStore,
    private readonly clock: () => number,
  ) {
    this.limit = limit;
    this.label = label;
  }

  /** Counts a request's `need` toward this gateway's demand (once per request, taken or not). */
  note(need: number, now: number): void {
    this.demand.note(need, now);
    this.lastUse = now;
  }

  /** Hot path: notes and takes `need` from the local allowance, or returns false. */
  take(need: number, now: number): boolean {
    this.note(need, now);
    const s = slotOf(now);
    if (s !== this.slot) this.roll(s);
    if (this.left < need) return false;
    this.left -= need;
    // Under load, claim before the lease runs dry or the second ends, so requests rarely wait on KV.
    if (this.lastExtra > 0 && this.serial.busy === null) this.prefetch(now, s);
    return true;
  }

  private prefetch(now: number, s: number): void {
    const ahead = now - s * 1000 >= 1000 - AHEAD_MS;
    if (ahead ? this.nextSlot === s + 1 : this.left >= this.lastLease / 4 || this.left >= this.wanted(now)) return;
    // A failed prefetch costs nothing: the next miss claims.
    this.serial.run(() => (ahead ? this.claimAhead() : this.claim(0))).catch(() => {});
  }

  /** Gives back what take() or acquire() took in `slot`, when another limit refused the request. */
  refund(need: number, slot: number): void {
    if (slot === this.slot) this.left += need;
    else this.pend(slot, -need);
  }

  /**
   * A refusal known without asking KV: `need` over the limit itself, or not
   * fitting in what this second's refusal saw. Within a second a window gains
   * room only from leases other gateways give back when their second ends, so
   * a re-read would rarely differ, while a client hammering past its limit
   * would cost a KV read per request. Null: ask KV.
   */
  refusal(need: number, now: number): BrokerError | null {
    if (need > this.limit) return windowRefusal(this.label, this.unit, this.limit, this.limit, need, Infinity);
    if (this.refusedSlot !== slotOf(now)) return null;
    if (need <= this.refusedAvail + (this.slot === this.refusedSlot ? this.left : 0)) return null;
    return windowRefusal(this.label, this.unit, this.limit, this.refusedUsed, need, this.refusedRetryAt - now);
  }

  /** Slow path: takes `need`, claiming from KV when the local allowance is short. Resolves to the slot charged. */
  async acquire(need: number): Promise<number> {
    for (let claims = 0; ; ) {
      const now = this.clock();
      const no = this.refusal(need, now);
      if (no) throw no;
      const s = slotOf(now);
      if (s !== this.slot) this.roll(s);
      if (this.left >= need) {
        this.left -= need;
        return s;
      }
      const busy = this.serial.busy;
      if (busy) {
        await busy;
        continue;
      }
      if (claims++ === MAX_CLAIMS) throw new BrokerError("nats_unavailable", "The limits store answers too slowly; retry shortly.", { retryAfterS: 1 });
      const got = await this.serial.run(() => this.claim(need));
      if (got >= 0) return got;
    }
  }

  /**
   * One claim by compare-and-set. Reserves `need` for the caller and keeps
   * the rest of the lease as the local allowance; resolves to the slot, or -1
   * when the second ended meanwhile (the lease is void: a grant must be used
   * within its own slot, or the 61-slot bound breaks).
   */
  private async claim(need: number): Promise<number> {
    const now0 = this.clock();
    const s = slotOf(now0);
    if (s !== this.slot) this.roll(s);
    // Allowance left here counts toward `need`; reserved now so requests served meanwhile cannot spend it twice.
    const reserved = Math.min(this.left, need);
    this.left -= reserved;
    const kvNeed = need - reserved;
    const applied = this.pending.size > 0 ? new Map(this.pending) : null;
    const demand = Math.max(0, this.wanted(now0) - this.left);
    let plan: Claim;
    try {
      plan = await this.store.cas(this.key, (text) => claimStep(text, { slot: s, target: s, limit: this.limit, need: kvNeed, demand, deltas: applied, now: now0 }));
    } catch (e) {
      this.refund(reserved, s);
      throw e;
    }
    if (applied) this.unpend(applied);
    if (!plan.ok) {
      this.refund(reserved, s);
      this.refusedSlot = s;
      this.refusedAvail = plan.avail;
      this.refusedUsed = Math.max(0, plan.used - reserved);
      this.refusedRetryAt = plan.retryAt;
      throw windowRefusal(this.label, this.unit, this.limit, this.refusedUsed, need, plan.retryAt - this.clock());
    }
    this.counted = plan.counted;
    this.clearAt = plan.clearAt;
    if (slotOf(this.clock()) !== s) {
      this.refund(reserved + plan.lease, s);
      return -1;
    }
    this.left += plan.lease - kvNeed;
    this.lastLease = plan.lease;
    this.lastExtra = plan.lease - kvNeed;
    return s;
  }

  /**
   * Claims the next slot's lease during this one. Safe under the same bound:
   * it counts every slot a 60 s interval touching the next slot can touch,
   * and claims made later in this slot count it (future slots count).
   */
  private async claimAhead(): Promise<number> {
    const now0 = this.clock();
    const s = slotOf(now0);
    const target = s + 1;
    if (s !== this.slot) this.roll(s);
    this.nextSlot = target; // one try a second, whatever comes of it
    const applied = this.pending.size > 0 ? new Map(this.pending) : null;
    const demand = Math.ceil(this.demand.rate(now0) * 1.25);
    const plan = await this.store.cas(this.key, (text) => claimStep(text, { slot: s, target, limit: this.limit, need: 0, demand, deltas: applied, now: now0 }));
    if (applied) this.unpend(applied);
    if (!plan.ok || plan.lease === 0) return target;
    const cur = slotOf(this.clock());
    if (cur > target) {
      this.pend(target, -plan.lease); // that second passed while claiming
      return target;
    }
    if (cur < target) this.nextLeft += plan.lease;
    else {
      if (this.slot !== target) this.roll(target);
      this.left += plan.lease;
    }
    this.lastLease = plan.lease;
    return target;
  }

  /**
   * At the request's end: `actual` against the `est` charged in `slot`. A
   * debit comes from the local allowance first, the rest is added to the
   * current slot (over the limit if need be: the tokens were spent); a credit
   * returns to the slot charged while that slot is in the window.
   */
  reconcile(slot: number, est: number, actual: number, now: number): void {
    const diff = actual - est;
    const s = slotOf(now);
    if (diff < 0) {
      if (slot === s && slot === this.slot) this.left -= diff;
      else if (slot > s - WINDOW_SLOTS) this.pend(slot, diff);
      return;
    }
    if (diff === 0) return;
    if (s !== this.slot) this.roll(s);
    const own = Math.min(diff, this.left);
    this.left -= own;
    if (diff > own) this.pend(s, diff - own);
  }

  /** For the x-ratelimit-* headers: what is left in the window as last seen, and when it is clear. */
  remaining(): number {
    return Math.max(0, this.limit - this.counted + this.left);
  }

  resetMs(now: number): number {
    return Math.max(0, this.clearAt - now);
  }

  /**
   * Off the hot path (once a second): ended slots' allowance, credits and
   * debits ride along with the next claim; a busy gateway claims every
   * second, so they are written alone only after waiting a second for one.
   */
  async flush(now: number): Promise<void> {
    const s = slotOf(now);
    if (s !== this.slot) this.roll(s);
    let due = false;
    for (const k of this.pending.keys()) {
      if (k <= s - WINDOW_SLOTS) this.pending.delete(k);
      else if (k <= s - 2) due = true;
    }
    if (due && !this.serial.busy) await this.serial.run(() => this.push());
  }

  /** Gives back all of the local allowance (once claims under way have landed) and sends what is pending. */
  async stop(): Promise<void> {
    await this.serial.run(() => {
      this.roll(this.slot);
      if (this.nextLeft > 0) this.pend(this.nextSlot, -this.nextLeft);
      this.nextLeft = 0;
      return this.push();
    });
  }

  idle(now: number, idleMs: number): boolean {
    return this.left === 0 && this.nextLeft === 0 && this.pending.size === 0 && this.serial.busy === null && now - this.lastUse > idleMs;
  }

  private async push(): Promise<void> {
    if (this.pending.size === 0) return;
    const applied = new Map(this.pending);
    const s = slotOf(this.clock());
    await this.store.cas(this.key, (text) => {
      const slots = parseSlots(text);
      applyDeltas(slots, applied, s);
      return { write: encodeSlots(slots, s), result: undefined };
    });
    this.unpend(applied);
  }

  /** Moves to slot `s`: the allowance of the slot that ended goes back to KV; a lease claimed ahead for `s` starts. */
  private roll(s: number): void {
    if (this.left > 0) this.pend(this.slot, -this.left);
    this.left = 0;
    this.slot = s;
    if (this.nextLeft > 0 && this.nextSlot <= s) {
      if (this.nextSlot === s) this.left = this.nextLeft;
      else this.pend(this.nextSlot, -this.nextLeft);
      this.nextLeft = 0;
    }
  }

  /** What this gateway expects to need for the rest of this second (a quarter more, for growth). */
  private wanted(now: number): number {
    return Math.ceil(this.demand.rate(now) * (1 - (now % 1000) / 1000) * 1.25);
  }

  private pend(slot: number, d: number): void {
    const v = (this.pending.get(slot) ?? 0) + d;
    if (v === 0) this.pending.delete(slot);
    else this.pending.set(slot, v);
  }

  private unpend(applied: Map<number, number>): void {
    for (const [s, d] of applied) this.pend(s, -d);
  }
}
