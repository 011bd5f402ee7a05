// One scope's limits on this gateway: the leases for whichever of rpm, tpm,
// maxConcurrent and budgetTokens it sets, charged all or nothing.
import type { KeyLimitsConfig } from "../../config/mod.js";
import { BudgetLease } from "./budget.js";
import { ConcurrencyLease } from "./concurrency.js";
import { slotOf } from "./slots.js";
import type { LimitStore } from "./store.js";
import { WindowLease } from "./window.js";
import type { BrokerError } from "../../contract/mod.js";

export interface LimitScope {
  /** Stable id, safe as a KV key token: e.g. "<keyId>" or "<keyId>.m.<model-token>". */
  id: string;
  limits: KeyLimitsConfig;
  /** For messages: "key team-a" or "key team-a on model llama". Never contains a secret. */
  label: string;
}

/** What the gateway shares with every scope. */
export interface ScopeEnv {
  store: LimitStore;
  gatewayId: string;
  clock: () => number;
}

/** Where a slow-path admission charged its estimate, for reconciling at the end. */
export interface Charge {
  rpmSlot: number;
  tpmSlot: number;
  budgetStart: number;
}

/** KV key characters, with dots only between tokens. */
const SCOPE_ID = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

export function hasLimits(l: KeyLimitsConfig): boolean {
  return l.rpm !== undefined || l.tpm !== undefined || l.maxConcurrent !== undefined || l.budgetTokens !== undefined;
}

export class ScopeState {
  limits: KeyLimitsConfig;
  label: string;
  rpm: WindowLease | null = null;
  tpm: WindowLease | null = null;
  conc: ConcurrencyLease | null = null;
  budget: BudgetLease | null = null;
  /** Permits not yet ended: a scope with any is never forgotten (their end() reconciles here). */
  open = 0;

  constructor(
    readonly id: string,
    scope: LimitScope,
    private readonly env: ScopeEnv,
  ) {
    if (!SCOPE_ID.test(id)) throw new Error(`limit scope id ${JSON.stringify(id)} is not a valid KV key token`);
    this.limits = scope.limits;
    this.label = scope.label;
    this.apply(scope);
  }

  /**
   * Follows a changed key record. Leases of a limit that stays keep going
   * under the new number; a dropped limit's lease is forgotten (its grants
   * leave the window within a minute; its concurrency hold lapses). Requests
   * admitted before the change end against the new leases.
   */
  update(scope: LimitScope): void {
    if (scope.limits === this.limits) return;
    const a = this.limits;
    const b = scope.limits;
    const same = a.rpm === b.rpm && a.tpm === b.tpm && a.maxConcurrent === b.maxConcurrent && a.budgetTokens === b.budgetTokens && a.budgetPeriod === b.budgetPeriod;
    this.limits = scope.limits;
    // A caller may build the limits object per request: equal numbers change nothing.
    if (!same || scope.label !== this.label) this.apply(scope);
  }

  /** Hot path: charges every limit from local leases, or none and returns false. */
  take(est: number, now: number): boolean {
    const { rpm, tpm, conc, budget } = this;
    if (rpm && !rpm.take(1, now)) return this.undo(est, now, 0);
    if (tpm && !tpm.take(est, now)) return this.undo(est, now, 1);
    if (conc && !conc.take(now)) return this.undo(est, now, 2);
    if (budget && !budget.take(est, now)) return this.undo(est, now, 3);
    return true;
  }

  /** Counts a request toward every limit's demand without charging (a request the fast path did not reach here). */
  note(est: number, now: number): void {
    this.rpm?.note(1, now);
    this.tpm?.note(est, now);
    this.budget?.note(est, now);
  }

  /** Gives back what take() charged at `now`. */
  refund(est: number, now: number): void {
    const s = slotOf(now);
    this.rpm?.refund(1, s);
    this.tpm?.refund(est, s);
    this.conc?.give();
    this.budget?.refund(est, this.budget.startAt(now));
  }

  /** The first refusal this gateway already knows of, without asking KV. */
  refusal(est: number, now: number): BrokerError | null {
    return this.rpm?.refusal(1, now) ?? this.tpm?.refusal(est, now) ?? this.conc?.refusal(now) ?? this.budget?.refusal(est, now) ?? null;
  }

  /** Slow path: every limit, claiming from KV where needed; all or nothing. */
  async acquire(est: number): Promise<Charge> {
    const { rpm, tpm, conc, budget } = this;
    const r = await Promise.allSettled([rpm?.acquire(1), tpm?.acquire(est), conc?.acquire(), budget?.acquire(est)]);
    const [a, b, c, d] = r;
    const charge: Charge = {
      rpmSlot: a?.status === "fulfilled" ? (a.value ?? -1) : -1,
      tpmSlot: b?.status === "fulfilled" ? (b.value ?? -1) : -1,
      budgetStart: d?.status === "fulfilled" ? (d.value ?? -1) : -1,
    };
    const failed = r.find((x) => x.status === "rejected");
    if (!failed) return charge;
    if (rpm && a?.status === "fulfilled") rpm.refund(1, charge.rpmSlot);
    if (tpm && b?.status === "fulfilled") tpm.refund(est, charge.tpmSlot);
    if (conc && c?.status === "fulfilled") conc.give();
    if (budget && d?.status === "fulfilled") budget.refund(est, charge.budgetStart);
    throw failed.reason;
  }

  /** Gives back what acquire() charged, when another scope refused the request. */
  refundCharge(est: number, c: Charge): void {
    this.rpm?.refund(1, c.rpmSlot);
    this.tpm?.refund(est, c.tpmSlot);
    this.conc?.give();
    this.budget?.refund(est, c.budgetStart);
  }

  /** A permit's end: frees its slot and reconciles tokens (`actual` < 0: keep the estimate). */
  end(est: number, actual: number, at: number, c: Charge | null, now: number): void {
    this.open--;
    this.conc?.give();
    if (actual < 0) return;
    this.tpm?.reconcile(c ? c.tpmSlot : slotOf(at), est, actual, now);
    this.budget?.reconcile(c ? c.budgetStart : this.budget.startAt(at), est, actual, now);
  }

  flush(now: number): Promise<unknown> {
    return Promise.allSettled([this.rpm?.flush(now), this.tpm?.flush(now), this.conc?.flush(now), this.budget?.flush(now)]);
  }

  stop(): Promise<unknown> {
    return Promise.allSettled([this.rpm?.stop(), this.tpm?.stop(), this.conc?.stop(), this.budget?.stop()]);
  }

  /** Nothing held, nothing pending, nothing open, unused for `idleMs`: safe to forget. */
  idle(now: number, idleMs: number): boolean {
    return (
      this.open === 0 &&
      (this.rpm?.idle(now, idleMs) ?? true) &&
      (this.tpm?.idle(now, idleMs) ?? true) &&
      (this.conc?.idle() ?? true) &&
      (this.budget?.idle(now, idleMs) ?? true)
    );
  }

  /**
   * Undoes the first `n` of rpm, tpm, conc, budget taken at `now`, and notes
   * the demand of the limits take() did not reach; false, for take().
   */
  private undo(est: number, now: number, n: number): false {
    const s = slotOf(now);
    if (n > 0) this.rpm?.refund(1, s);
    if (n > 1) this.tpm?.refund(est, s);
    else if (n === 0) this.tpm?.note(est, now);
    if (n > 2) this.conc?.give();
    if (n > 3) this.budget?.refund(est, this.budget.startAt(now));
    else if (n < 3) this.budget?.note(est, now);
    return false;
  }

  private apply(scope: LimitScope): void {
    const l = scope.limits;
    this.label = scope.label;
    const { store, gatewayId, clock } = this.env;
    const id = this.id;
    this.rpm = l.rpm === undefined ? null : this.rpm ?? new WindowLease(`${id}.rpm`, "requests", l.rpm, scope.label, store, clock);
    this.tpm = l.tpm === undefined ? null : this.tpm ?? new WindowLease(`${id}.tpm`, "tokens", l.tpm, scope.label, store, clock);
    this.conc = l.maxConcurrent === undefined ? null : this.conc ?? new ConcurrencyLease(`${id}.conc`, l.maxConcurrent, scope.label, gatewayId, store, clock);
    const sameBudget = this.budget !== null && this.budget.kind === l.budgetPeriod;
    this.budget = l.budgetTokens === undefined ? null : sameBudget ? this.budget : new BudgetLease(id, l.budgetPeriod, l.budgetTokens, scope.label, store, clock);
    for (const [lease, limit] of [[this.rpm, l.rpm], [this.tpm, l.tpm], [this.conc, l.maxConcurrent], [this.budget, l.budgetTokens]] as const) {
      if (lease && limit !== undefined) {
        lease.limit = limit;
        lease.label = scope.label;
      }
    }
  }
}
