// How usage lives in its KV bucket: one entry per UTC day, key and model,
// under `<day>.<keyId token>.<model token>`, holding the totals and the
// markers that make a retried write count once (see UsageLedger.flush).
import { createHash } from "node:crypto";
import { z } from "zod";

const DAY_MS = 86_400_000;

/** A UTC day as `YYYY-MM-DD` that exists in the calendar (2026-02-30 does not). */
export const UsageDay = z.string().refine(isDay, { error: "a day as YYYY-MM-DD" });

function isDay(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s)) && new Date(Date.parse(s)).toISOString().startsWith(s);
}

/** The UTC day of a time as `YYYY-MM-DD`. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The days from `from` to `to` inclusive, or undefined when there are more than `max`. */
export function daysBetween(from: string, to: string, max: number): string[] | undefined {
  const out: string[] = [];
  for (let t = Date.parse(from), end = Date.parse(to); t <= end; t += DAY_MS) {
    if (out.length === max) return undefined;
    out.push(dayOf(t));
  }
  return out;
}

// Longest token kept readable; longer ones end in a hash of the whole id, so
// the key stays well under NATS's subject limits and still tells ids apart.
const MAX_TOKEN = 160;

/**
 * One KV key token for any string, and never the same token for two strings:
 * `[A-Za-z0-9-]` stand for themselves and every other UTF-8 byte is `_XX`
 * (so `org/model:q4` is `org_2Fmodel_3Aq4`). The dots that separate a key's
 * tokens, and KV's wildcards, therefore never appear inside one.
 */
export function kvToken(s: string): string {
  if (s === "") return "_";
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    const safe = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d;
    out += safe ? String.fromCharCode(b) : `_${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (out.length <= MAX_TOKEN) return out;
  return `${out.slice(0, MAX_TOKEN - 33)}=${createHash("sha256").update(s).digest("hex").slice(0, 32)}`;
}

/** What a ledger adds up in memory for one day, key and model between flushes. */
export interface UsageDelta {
  day: string;
  keyId: string;
  keyName: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  errors: Map<string, number>;
}

const count = z.number().int().nonnegative();

/** An entry's value. `w` maps a ledger's id to [the last batch of it applied here, when]. */
export const StoredUsage = z.object({
  day: z.string(),
  keyId: z.string(),
  keyName: z.string(),
  model: z.string(),
  requests: count,
  promptTokens: count,
  completionTokens: count,
  errors: z.record(z.string(), count),
  w: z.record(z.string(), z.tuple([count, count])),
});
export type StoredUsage = z.infer<typeof StoredUsage>;

// Markers kept per entry. A marker matters only while its ledger may still
// retry a write whose answer it never got; an entry outlives that only when
// more than this many other ledgers wrote it since, and then the oldest goes.
const MAX_WRITERS = 32;

/** The stored value, or undefined when it is not one (written by something else). */
export function decodeStored(text: string): StoredUsage | undefined {
  try {
    const r = StoredUsage.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether batch `seq` of ledger `writer` is in the entry already. */
export function applied(cur: StoredUsage, writer: string, seq: number): boolean {
  return (cur.w[writer]?.[0] ?? 0) >= seq;
}

/** The entry with a batch added and its marker set. */
export function merge(cur: StoredUsage | undefined, d: UsageDelta, writer: string, seq: number, nowMs: number): StoredUsage {
  // Maps, then fromEntries: codes become own properties whatever they are named.
  const errors = new Map(Object.entries(cur?.errors ?? {}));
  for (const [code, n] of d.errors) errors.set(code, (errors.get(code) ?? 0) + n);
  const w = Object.entries(cur?.w ?? {}).filter(([id]) => id !== writer);
  w.sort((a, b) => b[1][1] - a[1][1]);
  return {
    day: d.day,
    keyId: d.keyId,
    // The latest name wins: a renamed key shows its new name for the whole day.
    keyName: d.keyName,
    model: d.model,
    requests: (cur?.requests ?? 0) + d.requests,
    promptTokens: (cur?.promptTokens ?? 0) + d.promptTokens,
    completionTokens: (cur?.completionTokens ?? 0) + d.completionTokens,
    errors: Object.fromEntries(errors),
    w: Object.fromEntries([[writer, [seq, nowMs]], ...w.slice(0, MAX_WRITERS - 1)]),
  };
}
