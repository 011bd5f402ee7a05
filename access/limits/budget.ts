// budgetTokens of one scope: one KV value per scope and period ({"used": n}),
// from which this gateway claims leases and charges them locally. A lease
// lasts until used, returned after a few idle seconds or at stop(); a gateway
// killed without stop() loses what it held (the budget undershoots by it).
import type { BrokerError } from "../../contract/mod.js";
import { Demand } from "./demand.js";
import { type BudgetPeriod, type Period, periodAt } from "./period.js";
import { budgetRefusal } from "./refusals.js";
import { Serial } from "./serial.js";
import { leaseSize, slotOf } from "./slots.js";
import { storedJson } from "./stored.js";
import type { LimitStore } from "./store.js";

/** An allowance unused this long goes back, so another gateway can spend the end of a budget. */
const IDLE_RETURN_MS = 5000;

type Plan = { ok: true; lease: number } | { ok: false; used: number; avail: number };

export class BudgetLease {
  limit: number;
  label: string;
  lastUse = 0;
  private period: Period = { start: 0, end: 0, token: "" };
  private left = 0;
  /** KV key → signed tokens to add: returns and credits (negative), debits (positive). */
  private readonly pending = new Map<string, number>();
  private lastLease = 0;
  private lastExtra = 0;
  private readonly demand = new Demand();
  private refusedSlot = -1;
  private refusedAvail = 0;
  private refusedUsed = 0;
  private readonly serial = new Serial();

  constructor(
    private readonly scopeId: string,
    readonly kind: BudgetPeriod,
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

  /** Hot path: notes and takes `need` tokens from the local allowance, or returns false. */
  take(need: number, now: number): boolean {
    this.note(need, now);
    if (now >= this.period.end || now < this.period.start) this.roll(now);
    if (this.left < need) return false;
    this.left -= need;
    if (this.lastExtra > 0 && this.left < this.lastLease / 4 && this.serial.busy === null) {
      this.serial.run(() => this.claim(0)).catch(() => {}); // a failed prefetch costs nothing: the next miss claims
    }
    return true;
  }

  /** The start of the period a charge made at `at` fell in (a permit's own, for reconciling). */
  startAt(at: number): number {
    return at >= this.period.start && at < this.period.end ? this.period.start : periodAt(at, this.kind).start;
  }

  refund(need: number, start: number): void {
    if (start === this.period.start) this.left += need;
    else this.pend(this.keyOf(start), -need);
  }

  /** A refusal known without asking KV (see WindowLease.refusal: the same reasoning). */
  refusal(need: number, now: number): BrokerError | null {
    if (need > this.limit) return this.refused(this.limit, need, now);
    if (this.refusedSlot !== slotOf(now) || need <= this.refusedAvail + this.left) return null;
    return this.refused(this.refusedUsed, need, now);
  }

  /** Slow path: takes `need`, claiming from KV when the allowance is short. Resolves to the period's start. */
  async acquire(need: number): Promise<number> {
    for (;;) {
      const now = this.clock();
      const no = this.refusal(need, now);
      if (no) throw no;
      if (now >= this.period.end || now < this.period.start) this.roll(now);
      if (this.left >= need) {
        this.left -= need;
        return this.period.start;
      }
      const busy = this.serial.busy;
      if (busy) {
        await busy;
        continue;
      }
      return this.serial.run(() => this.claim(need));
    }
  }

  /** At the request's end: a debit from the allowance first, the rest added to the period charged (past the budget if need be); a credit back. */
  reconcile(start: number, est: number, actual: number, now: number): void {
    const diff = actual - est;
    if (diff === 0) return;
    if (now >= this.period.end || now < this.period.start) this.roll(now);
    if (start !== this.period.start) return this.pend(this.keyOf(start), diff);
    const own = diff < 0 ? diff : Math.min(diff, this.left);
    this.left -= own;
    if (diff > own) this.pend(this.keyOf(start), diff - own);
  }

  /** Off the hot path (once a second): returns an idle allowance and sends what is pending. */
  async flush(now: number): Promise<void> {
    if (now >= this.period.end || now < this.period.start) this.roll(now);
    if (this.left > 0 && now - this.lastUse >= IDLE_RETURN_MS && this.serial.busy === null) this.giveBack();
    if (this.pending.size === 0 || this.serial.busy) return;
    await this.serial.run(() => this.push());
  }

  /** Gives back the allowance (once claims under way have landed) and sends what is pending. */
  async stop(): Promise<void> {
    await this.serial.run(() => {
      this.giveBack();
      return this.push();
    });
  }

  idle(now: number, idleMs: number): boolean {
    return this.left === 0 && this.pending.size === 0 && this.serial.busy === null && now - this.lastUse > idleMs;
  }

  private async claim(need: number): Promise<number> {
    const now = this.clock();
    if (now >= this.period.end || now < this.period.start) this.roll(now);
    const p = this.period;
    const key = this.keyOf(p.start);
    const reserved = Math.min(this.left, need);
    this.left -= reserved;
    const kvNeed = need - reserved;
    const applied = this.pending.get(key) ?? 0;
    // A budget lease does not expire: about two seconds' worth.
    const demand = Math.max(0, Math.ceil(2 * this.demand.rate(now)) - this.left);
    let plan: Plan;
    try {
      plan = await this.store.cas(key, (text) => this.plan(text, kvNeed, demand, applied));
    } catch (e) {
      this.refund(reserved, p.start);
      throw e;
    }
    if (applied !== 0) this.pend(key, -applied);
    if (!plan.ok) {
      this.refund(reserved, p.start);
      this.refusedSlot = slotOf(now);
      this.refusedAvail = plan.avail;
      this.refusedUsed = Math.max(0, plan.used - reserved);
      throw this.refused(this.refusedUsed, need, now);
    }
    // A claim that ran past the period's end still charges that period; only its extra goes back.
    if (this.period.start === p.start) this.left += plan.lease - kvNeed;
    else this.pend(key, kvNeed - plan.lease);
    this.lastLease = plan.lease;
    this.lastExtra = plan.lease - kvNeed;
    return p.start;
  }

  private plan(text: string | null, kvNeed: number, demand: number, applied: number): { write: string | null; result: Plan } {
    let used = Math.max(0, parseUsed(text) + applied);
    const avail = this.limit - used;
    if (avail < kvNeed) return { write: applied !== 0 ? JSON.stringify({ used }) : null, result: { ok: false, used, avail } };
    const lease = leaseSize(kvNeed, avail, demand);
    used += lease;
    return { write: lease > 0 || applied !== 0 ? JSON.stringify({ used }) : null, result: { ok: true, lease } };
  }

  private async push(): Promise<void> {
    for (const [key, d] of [...this.pending]) {
      await this.store.cas(key, (text) => ({ write: JSON.stringify({ used: Math.max(0, parseUsed(text) + d) }), result: undefined }));
      this.pend(key, -d);
    }
  }

  private giveBack(): void {
    if (this.left > 0) this.pend(this.keyOf(this.period.start), -this.left);
    this.left = 0;
  }

  /** Into the period holding `now`: the last one's allowance goes back to its key. */
  private roll(now: number): void {
    this.giveBack();
    this.period = periodAt(now, this.kind);
  }

  private refused(used: number, need: number, now: number): BrokerError {
    return budgetRefusal(this.label, this.limit, this.kind, used, need, this.period.end || periodAt(now, this.kind).end, now);
  }

  private keyOf(start: number): string {
    return `${this.scopeId}.budget.${new Date(start).toISOString().slice(0, 10)}`;
  }

  private pend(key: string, d: number): void {
    const v = (this.pending.get(key) ?? 0) + d;
    if (v === 0) this.pending.delete(key);
    else this.pending.set(key, v);
  }
}

function parseUsed(text: string | null): number {
  const raw = storedJson(text);
  const used = typeof raw === "object" && raw !== null ? (raw as { used?: unknown }).used : undefined;
  return typeof used === "number" && Number.isFinite(used) && used > 0 ? used : 0;
}
