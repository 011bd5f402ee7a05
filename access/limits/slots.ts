// The sliding window's arithmetic, pure so it is tested without NATS. A window
// value maps unix seconds ("slots") to what was granted in them; it is stored
// in KV as JSON pairs, oldest first: [[1741608000, 12], [1741608001, 3]].
import { storedJson } from "./stored.js";

/**
 * Slots one window counts. A grant made in slot s may be used until the end
 * of s, so a 60 s interval starting anywhere touches at most 61 slots: with
 * 60 the last use of a lease and the first of a lease 60 slots later could
 * both fall inside one 60 s interval.
 */
export const WINDOW_SLOTS = 61;

export type Slots = Map<number, number>;

export function slotOf(ms: number): number {
  return Math.floor(ms / 1000);
}

/** The first slot the window at `slot` counts. */
function oldest(slot: number): number {
  return slot - (WINDOW_SLOTS - 1);
}

/** A stored value; anything malformed reads as empty, to be overwritten (a bad write must not lock a key out). */
export function parseSlots(text: string | null): Slots {
  const out: Slots = new Map();
  const raw = storedJson(text);
  if (!Array.isArray(raw)) return out;
  for (const pair of raw) {
    if (!Array.isArray(pair) || pair.length !== 2) continue;
    const [s, n] = pair as unknown[];
    if (Number.isInteger(s) && typeof n === "number" && Number.isFinite(n) && n > 0) out.set(s as number, n);
  }
  return out;
}

/** The stored form, without slots that have left the window or hold nothing. */
export function encodeSlots(slots: Slots, slot: number): string {
  const from = oldest(slot);
  const pairs: [number, number][] = [];
  for (const [s, n] of slots) if (s >= from && n > 0) pairs.push([s, n]);
  pairs.sort((a, b) => a[0] - b[0]);
  return JSON.stringify(pairs);
}

/**
 * What the window at `slot` counts. Slots after `slot` count too: a gateway
 * whose clock runs ahead wrote them, and leaving them out would let both
 * gateways grant the same capacity.
 */
export function windowSum(slots: Slots, slot: number): number {
  const from = oldest(slot);
  let sum = 0;
  for (const [s, n] of slots) if (s >= from) sum += n;
  return sum;
}

/** Adds signed deltas (returns and credits negative, debits positive), never below 0; slots out of the window are skipped. */
export function applyDeltas(slots: Slots, deltas: ReadonlyMap<number, number>, slot: number): void {
  const from = oldest(slot);
  for (const [s, d] of deltas) {
    if (s < from) continue;
    const n = Math.max(0, (slots.get(s) ?? 0) + d);
    if (n > 0) slots.set(s, n);
    else slots.delete(s);
  }
}

/**
 * Milliseconds from `nowMs` until `need` more fits under `limit`: counted
 * slots leave the window oldest first, slot s at the start of slot s + 61.
 * Infinity when it never fits (need over the limit itself).
 */
export function msUntilFits(slots: Slots, slot: number, nowMs: number, limit: number, need: number): number {
  let avail = limit - windowSum(slots, slot);
  if (avail >= need) return 0;
  const from = oldest(slot);
  const counted = [...slots].filter(([s]) => s >= from).sort((a, b) => a[0] - b[0]);
  for (const [s, n] of counted) {
    avail += n;
    if (avail >= need) return (s + WINDOW_SLOTS) * 1000 - nowMs;
  }
  return Infinity;
}

/** Milliseconds until everything counted now has left the window (OpenAI's reset: back to the initial state). */
export function msUntilClear(slots: Slots, slot: number, nowMs: number): number {
  const from = oldest(slot);
  let newest = -Infinity;
  for (const [s, n] of slots) if (s >= from && n > 0 && s > newest) newest = s;
  return newest === -Infinity ? 0 : Math.max(0, (newest + WINDOW_SLOTS) * 1000 - nowMs);
}

/**
 * How much to claim: at least `need`, the expected demand when there is room,
 * but never more than a quarter of what is available (so other gateways still
 * find most of it, and a nearly spent limit is claimed one unit at a time,
 * exactly), and never more than is available.
 */
export function leaseSize(need: number, avail: number, demand: number): number {
  return Math.min(avail, Math.max(need, Math.min(demand, Math.floor(avail / 4))));
}

/** What a claim found: the lease granted (possibly 0), or that `need` did not fit. */
export type Claim =
  | { ok: true; lease: number; counted: number; clearAt: number }
  | { ok: false; used: number; avail: number; retryAt: number };

export interface ClaimArgs {
  /** The claimer's current slot: older slots than its window are dropped from the value. */
  slot: number;
  /** The slot the lease is for: the current one, or the next one when claiming ahead. */
  target: number;
  limit: number;
  /** What must fit for the claim to succeed (0: any lease, a prefetch). */
  need: number;
  /** What the claimer expects to use in the target slot (sizes the lease). */
  demand: number;
  /** Returns, credits and debits to apply on the way (null: none). */
  deltas: ReadonlyMap<number, number> | null;
  now: number;
}

/**
 * One compare-and-set step of a claim, from the stored value: counted over
 * the target slot's window, the lease added to the target slot. Writes
 * nothing when nothing changes.
 */
export function claimStep(text: string | null, a: ClaimArgs): { write: string | null; result: Claim } {
  const slots = parseSlots(text);
  if (a.deltas) applyDeltas(slots, a.deltas, a.slot);
  const used = windowSum(slots, a.target);
  const avail = a.limit - used;
  if (avail < a.need) {
    const result: Claim = { ok: false, used, avail, retryAt: a.now + msUntilFits(slots, a.target, a.now, a.limit, a.need) };
    return { write: a.deltas ? encodeSlots(slots, a.slot) : null, result };
  }
  const lease = leaseSize(a.need, avail, a.demand);
  if (lease > 0) slots.set(a.target, (slots.get(a.target) ?? 0) + lease);
  const result: Claim = { ok: true, lease, counted: used + lease, clearAt: a.now + msUntilClear(slots, a.target, a.now) };
  return { write: lease > 0 || a.deltas ? encodeSlots(slots, a.slot) : null, result };
}
