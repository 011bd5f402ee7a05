// Per-key limits held exactly across gateway replicas, with all state in NATS
// KV (the `<prefix>-limits` bucket) and no NATS round trip per request while
// a limit is far from spent: gateways lease allowances by compare-and-set
// and spend them locally.
//
// rpm / tpm: a sliding 60 s window, never more than the limit in any 60 s
//   interval. `<scope>.rpm` / `<scope>.tpm` count grants per unix second
//   ("slot"). A gateway claims a lease by CAS: available = limit - the sum of
//   the last 61 slots (and of any slot ahead); the lease is added to its slot
//   and may be used only within that second, and any 60 s interval touches at
//   most 61 slots. Leases follow demand (this gateway's pace for the rest of
//   the second, plus a quarter), take at most a quarter of what is available,
//   and are exactly one request's worth when little is left. Under load a
//   gateway claims the next second's lease in the last 200 ms of this one
//   (counted over the next second's window), so it writes about once a second
//   per limit and requests rarely wait at a second boundary. What a lease has
//   left when its second ends goes back with the next claim, or alone within
//   about 2 s.
//   - Overshoot, requests: 0 with synchronized clocks. With gateway clocks δ s
//     apart the bound holds for every (60 - ⌈δ⌉) s interval instead.
//   - Overshoot, tokens: admission charges the estimate (at least 1); end()
//     reconciles actual - estimate. A debit is taken from the current lease or
//     added to the current slot even past the limit (the tokens were spent, as
//     in OpenAI's accounting); a credit goes back to the slot charged while
//     that slot is in the window, else is dropped. A request is refused on tpm
//     only when its estimate does not fit (an estimate over the limit itself
//     is "Request too large").
//   - Undershoot: leases held unused. A gateway holds at most two (this
//     second's and the next's), each at most max(one request, a quarter of
//     what was available at its claim), given back within about 2 s (or left
//     to age out of the window, ≤ 61 s, if that write fails); and a refusal
//     stands for the rest of its second.
// maxConcurrent: `<scope>.conc` maps gateway id -> [slots held, expiry ms].
//   A gateway holds what runs plus a spare: no more than its recent peak in
//   flight nor a quarter of the free slots, and none while fewer than 4 are
//   free. Then it holds exactly what runs, claiming a slot at admission and
//   giving it back at end() by CAS, so small limits are exact; an idle
//   gateway's spare shrinks to nothing at its next renewal.
//   Holds are renewed every ~3.3 s and lapse 10 s after the last renewal:
//   a gateway killed with -9 frees its slots within 10 s (plus clock skew).
//   Overshoot only if a gateway cannot reach NATS for over 10 s while its
//   requests run. Undershoot: other gateways' spares, the moment between an
//   end() and its write, and a refusal stands for 100 ms.
// budgetTokens: `<scope>.budget.<yyyy-mm-dd of the period start>` (UTC day,
//   ISO week from Monday, calendar month) holds the tokens used. Leases are
//   claimed by CAS like the windows' (never more than what is left),
//   charged with the estimate and reconciled at end() like tpm (a debit may
//   pass the budget). An allowance idle 5 s, or left at stop(), goes back; a
//   gateway killed with -9 loses what it held (undershoot ≤ its lease).
//   Spent: 429 insufficient_quota, Retry-After = seconds to the next period.
// Refusals: 429 rate_limit_exceeded, type "requests" or "tokens", worded like
//   OpenAI's; Retry-After = seconds until the oldest counted slots leave the
//   window and make room (≥ 1; 1 for concurrency). x-ratelimit-* come from
//   the first scope with the limit: remaining = limit - what this gateway
//   last saw counted + its unused lease; reset = ms until everything counted
//   then has left the window.
// Failures: every KV call is bounded (2 s); when a lease is needed and KV does
//   not answer, the request gets 503 nats_unavailable (Retry-After 1), at once
//   for a second after a failure. Requests covered by held leases go on.
import { BrokerError } from "../../contract/mod.js";
import type { KV } from "../../nats/mod.js";
import type { Logger } from "../../ops/mod.js";
import { type Charge, hasLimits, type LimitScope, type ScopeEnv, ScopeState } from "./scope.js";
import { LimitStore } from "./store.js";
import type { WindowLease } from "./window.js";

export type { LimitScope } from "./scope.js";

/**
 * The limits bucket's retention: longer than the longest budget period (a
 * month), so a period's count never lapses while it runs, and stale keys of
 * gone periods and keys disappear by themselves.
 */
export const LIMITS_TTL_MS = 40 * 86_400_000;

/** For OpenAI's x-ratelimit-* headers, from the first scope with that limit. */
export interface RateLimitView {
  limitRequests?: number;
  remainingRequests?: number;
  resetRequestsMs?: number;
  limitTokens?: number;
  remainingTokens?: number;
  resetTokensMs?: number;
}

export interface Permit {
  readonly view: RateLimitView;
  /** Once, when the request ends: frees its concurrency slot and reconciles the token charge with real usage (undefined: keep the estimate). */
  end(usage?: { promptTokens: number; completionTokens: number }): void;
}

/** A scope unused this long is forgotten: its state is in KV, only demand estimates go. */
const IDLE_MS = 120_000;

const NO_VIEW: RateLimitView = Object.freeze({});
const FREE: Permit = Object.freeze({ view: NO_VIEW, end() {} });

export class Limiter {
  private readonly states = new Map<string, ScopeState>();
  private readonly env: ScopeEnv;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(kv: KV, opts: { gatewayId: string; log: Logger; now?: () => number /* ms, for tests */ }) {
    this.clock = opts.now ?? Date.now;
    this.env = { store: new LimitStore(kv, opts.log), gatewayId: opts.gatewayId, clock: this.clock };
  }

  /**
   * Charges 1 request and `estimatedTokens` to every scope, all or nothing.
   * Returns a Permit at once when local leases cover it, a Promise when it
   * must claim from KV. Throws (or rejects with) a BrokerError: 429
   * rate_limit_exceeded or insufficient_quota, 503 nats_unavailable, and
   * 503 shutting_down after stop() (scopes without limits still pass).
   */
  admit(scopes: LimitScope[], estimatedTokens: number): Permit | Promise<Permit> {
    let states: ScopeState[] | null = null;
    for (const scope of scopes) if (hasLimits(scope.limits)) (states ??= []).push(this.state(scope));
    if (states === null) return FREE;
    if (this.stopped) throw new BrokerError("shutting_down", "The gateway is shutting down; retry on another.", { retryAfterS: 1 });
    if (this.timer === null) this.schedule();
    // At least 1: a request that estimates nothing still needs room in a full window (its end() reconciles).
    const est = Number.isFinite(estimatedTokens) && estimatedTokens > 1 ? Math.ceil(estimatedTokens) : 1;
    const now = this.clock();
    let i = 0;
    while (i < states.length && states[i]!.take(est, now)) i++;
    if (i === states.length) return this.permit(states, est, now, null);
    for (let j = 0; j < i; j++) states[j]!.refund(est, now);
    for (let j = i + 1; j < states.length; j++) states[j]!.note(est, now);
    for (const st of states) {
      const no = st.refusal(est, now);
      if (no) throw no;
    }
    return this.admitSlow(states, est);
  }

  /** Returns unused leases and held concurrency slots to KV; flushes pending reconciliations. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([...this.states.values()].map((s) => s.stop()));
  }

  private async admitSlow(states: ScopeState[], est: number): Promise<Permit> {
    const r = await Promise.allSettled(states.map((s) => s.acquire(est)));
    const charges: Charge[] = [];
    for (const x of r) if (x.status === "fulfilled") charges.push(x.value);
    const failed = r.find((x) => x.status === "rejected");
    if (failed === undefined) return this.permit(states, est, this.clock(), charges);
    r.forEach((x, i) => x.status === "fulfilled" && states[i]!.refundCharge(est, x.value));
    throw failed.reason;
  }

  /**
   * The x-ratelimit-* figures as they stand, charging nothing: what a 429
   * carries, so a refused client sees the same headers as an admitted one.
   */
  peek(scopes: LimitScope[]): RateLimitView {
    const states = scopes.flatMap((scope) => (hasLimits(scope.limits) ? [this.state(scope)] : []));
    return viewOf(states, this.clock());
  }

  private permit(states: ScopeState[], est: number, now: number, charges: Charge[] | null): Permit {
    for (const st of states) st.open++;
    return new LimitPermit(viewOf(states, now), states, est, now, charges, this.clock);
  }

  private state(scope: LimitScope): ScopeState {
    let st = this.states.get(scope.id);
    if (st === undefined) this.states.set(scope.id, (st = new ScopeState(scope.id, scope, this.env)));
    else st.update(scope);
    return st;
  }

  /** Just after each wall-clock second: leases of the second that ended go back, holds are renewed. */
  private schedule(): void {
    this.timer = setTimeout(() => this.tick(), 1020 - (Date.now() % 1000));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    if (this.stopped) return;
    const now = this.clock();
    for (const [id, st] of this.states) {
      if (st.idle(now, IDLE_MS)) this.states.delete(id);
      else void st.flush(now);
    }
    if (this.states.size > 0) this.schedule();
  }
}

class LimitPermit implements Permit {
  private ended = false;

  constructor(
    readonly view: RateLimitView,
    private readonly states: ScopeState[],
    private readonly est: number,
    private readonly at: number,
    private readonly charges: Charge[] | null,
    private readonly clock: () => number,
  ) {}

  end(usage?: { promptTokens: number; completionTokens: number }): void {
    if (this.ended) return;
    this.ended = true;
    const actual = usage ? usage.promptTokens + usage.completionTokens : -1;
    const now = this.clock();
    for (let i = 0; i < this.states.length; i++) this.states[i]!.end(this.est, actual, this.at, this.charges?.[i] ?? null, now);
  }
}

/** The figures of the first scope with an rpm and the first with a tpm. */
function viewOf(states: ScopeState[], now: number): RateLimitView {
  let requests: WindowLease | null = null;
  let tokens: WindowLease | null = null;
  for (const st of states) {
    requests ??= st.rpm;
    tokens ??= st.tpm;
  }
  if (!requests && !tokens) return NO_VIEW;
  const view: RateLimitView = {};
  if (requests) {
    view.limitRequests = requests.limit;
    view.remainingRequests = requests.remaining();
    view.resetRequestsMs = requests.resetMs(now);
  }
  if (tokens) {
    view.limitTokens = tokens.limit;
    view.remainingTokens = tokens.remaining();
    view.resetTokensMs = tokens.resetMs(now);
  }
  return view;
}
