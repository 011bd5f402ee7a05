// Usage accounting per key, model and UTC day, kept in a NATS KV bucket so
// every gateway answers the same. Requests are added up in memory (no I/O on
// the hot path) and merged into KV every `flushMs` by compare-and-set.
//
// Durability: stop() writes everything, so a graceful stop loses nothing. A
// gateway killed with -9 loses at most what it counted in the last flushMs
// (default 1000 ms, gateway.auth.usageFlushMs) plus its in-flight requests.
// A flush that fails (NATS down) keeps its deltas for the next one.
import { randomBytes } from "node:crypto";
import { BrokerError } from "../contract/mod.js";
import { isCasConflict, type KV } from "../nats/mod.js";
import type { Logger } from "../ops/mod.js";
import { applied, dayOf, daysBetween, decodeStored, kvToken, merge, type StoredUsage, type UsageDelta } from "./usage-store.js";

/** How long the usage bucket keeps a day's entries: a bit over a year, for year-on-year reports. */
export const USAGE_TTL_MS = 400 * 86_400_000;

export interface UsageEvent {
  keyId: string;
  keyName: string;
  /** The public model id the client asked for. */
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Set when the request failed. */
  errorCode?: string;
}

export interface UsageRow {
  /** YYYY-MM-DD, UTC. */
  day: string;
  keyId: string;
  keyName: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Failed requests by error code (also counted in `requests`). */
  errors: Record<string, number>;
}

export interface UsageFilter {
  /** First day, inclusive (YYYY-MM-DD). */
  from?: string;
  /** Last day, inclusive (YYYY-MM-DD); with only `from`: today. */
  to?: string;
  /** A key's name or id. */
  key?: string;
  model?: string;
}

export interface UsageLedgerOptions {
  flushMs: number;
  log: Logger;
  /** The clock (tests). */
  now?: () => number;
  /** Called on every record(), e.g. to count Prometheus metrics. */
  onRecord?: (e: UsageEvent) => void;
}

/** A narrow range is listed day by day; a wider one scans the bucket's key names once. */
const MAX_LISTED_DAYS = 31;
/** Entries one query may read; past it the caller is asked to narrow it. */
export const MAX_QUERY_ENTRIES = 20_000;
const MAX_CAS_ATTEMPTS = 50;
const PARALLEL = 8;

interface Batch {
  delta: UsageDelta;
  seq: number;
}

/**
 * One gateway's share of the usage ledger.
 *
 * A write whose answer is lost (a timeout while NATS restarts) may or may not
 * have been stored. So each batch is written with a marker, this ledger's
 * random id and the batch's sequence number, in the entry itself. Until a
 * write is confirmed the batch is kept as it was; the retry reads the entry
 * first and drops the batch when its marker is there. CAS makes the retry and
 * a late original exclusive (both expect the same revision), so every batch
 * counts exactly once.
 */
export class UsageLedger {
  private readonly id = randomBytes(6).toString("hex");
  private readonly now: () => number;
  private pending = new Map<string, UsageDelta>();
  /** Batches being written, or whose write failed: retried with the same seq. */
  private readonly unconfirmed = new Map<string, Batch>();
  private seq = 0;
  private tail: Promise<void> = Promise.resolve();
  private running = 0;
  private failing = false;
  private readonly timer: NodeJS.Timeout;
  // The current day's bounds, so record() formats a date once a day, not per call.
  private dayEnd = 0;
  private dayStart = 0;
  private day = "";
  private readonly tokens = new Map<string, string>();

  constructor(private readonly kv: KV, private readonly opts: UsageLedgerOptions) {
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.tick(), opts.flushMs);
    // A ledger never keeps a process alive: stop() does the last flush.
    this.timer.unref();
  }

  /** Counts one request (hot path: in memory only). */
  record(e: UsageEvent): void {
    this.opts.onRecord?.(e);
    const now = this.now();
    if (now >= this.dayEnd || now < this.dayStart) {
      this.day = dayOf(now);
      this.dayStart = Date.parse(this.day);
      this.dayEnd = this.dayStart + 86_400_000;
    }
    const key = `${this.day}.${this.token(e.keyId)}.${this.token(e.model)}`;
    let d = this.pending.get(key);
    if (!d) {
      d = { day: this.day, keyId: e.keyId, keyName: e.keyName, model: e.model, requests: 0, promptTokens: 0, completionTokens: 0, errors: new Map() };
      this.pending.set(key, d);
    }
    d.keyName = e.keyName;
    d.requests++;
    d.promptTokens += tokens(e.promptTokens);
    d.completionTokens += tokens(e.completionTokens);
    if (e.errorCode !== undefined) d.errors.set(e.errorCode, (d.errors.get(e.errorCode) ?? 0) + 1);
  }

  /**
   * Merges everything counted so far into KV. Flushes run one at a time; a
   * failed one rejects and keeps its deltas for the next.
   */
  flush(): Promise<void> {
    this.running++;
    const run = this.tail.then(() => this.flushAll()).finally(() => this.running--);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * The last flush; stops the timer. Never rejects: what it could not write
   * is logged. Counts recorded after it are written only by a flush() call.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch((err: unknown) => {
      const requests = [...this.pending.values(), ...[...this.unconfirmed.values()].map((b) => b.delta)].reduce((n, d) => n + d.requests, 0);
      this.opts.log.error({ err, requests }, "usage: the last flush failed; this usage is not recorded");
    });
  }

  /** Rows from KV (not this ledger's unflushed counts), sorted by day, key name and model. */
  async query(f: UsageFilter): Promise<UsageRow[]> {
    const from = f.from;
    const to = f.to ?? (from === undefined ? undefined : dayOf(this.now()));
    if (from !== undefined && to !== undefined && from > to) return [];
    const model = f.model === undefined ? "*" : kvToken(f.model);
    const days = from !== undefined && to !== undefined ? daysBetween(from, to, MAX_LISTED_DAYS) : undefined;
    const names: string[] = [];
    for (const filter of days?.map((d) => `${d}.*.${model}`) ?? [`*.*.${model}`]) {
      for await (const k of await this.kv.keys(filter)) {
        const day = k.slice(0, 10);
        if ((from !== undefined && day < from) || (to !== undefined && day > to)) continue;
        if (names.length === MAX_QUERY_ENTRIES) {
          throw new BrokerError("invalid_request", `The query matches more than ${MAX_QUERY_ENTRIES} usage entries; narrow it with from, to or model.`, { param: "from" });
        }
        names.push(k);
      }
    }
    const rows: UsageRow[] = [];
    await inParallel(names, async (k) => {
      const e = await this.kv.get(k);
      const v = e?.operation === "PUT" ? decodeStored(e.string()) : undefined;
      if (!v || (f.model !== undefined && v.model !== f.model)) return;
      if (f.key !== undefined && v.keyId !== f.key && v.keyName !== f.key) return;
      rows.push(rowOf(v));
    });
    return rows.sort((a, b) => cmp(a.day, b.day) || cmp(a.keyName, b.keyName) || cmp(a.model, b.model) || cmp(a.keyId, b.keyId));
  }

  private tick(): void {
    // One flush at a time: while NATS is down a flush waits for its timeouts, and ticks must not pile up.
    if (this.running > 0 || (this.pending.size === 0 && this.unconfirmed.size === 0)) return;
    this.flush().catch(() => undefined);
  }

  private async flushAll(): Promise<void> {
    const keys = [...new Set([...this.unconfirmed.keys(), ...this.pending.keys()])];
    const failed: unknown[] = [];
    await inParallel(keys, (k) => this.flushKey(k).catch((err: unknown) => void failed.push(err)));
    if (failed.length > 0) {
      if (!this.failing) this.opts.log.warn({ err: failed[0], entries: failed.length }, "usage: flush failed; keeping the counts for the next flush");
      this.failing = true;
      throw failed[0];
    }
    if (this.failing) this.opts.log.info("usage: flush recovered");
    this.failing = false;
  }

  private async flushKey(k: string): Promise<void> {
    // An unconfirmed batch goes first, as it was; then what was counted meanwhile, as a new batch.
    for (let round = 0; round < 2; round++) {
      let b = this.unconfirmed.get(k);
      if (!b) {
        const delta = this.pending.get(k);
        if (!delta) return;
        this.pending.delete(k);
        b = { delta, seq: ++this.seq };
        this.unconfirmed.set(k, b);
      }
      await this.write(k, b);
      this.unconfirmed.delete(k);
    }
  }

  private async write(k: string, b: Batch): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const e = await this.kv.get(k);
      let cur: StoredUsage | undefined;
      if (e?.operation === "PUT") {
        cur = decodeStored(e.string());
        if (!cur) this.opts.log.error({ key: k }, "usage: an entry is not a usage record; overwriting it");
      }
      if (cur && applied(cur, this.id, b.seq)) return;
      const value = JSON.stringify(merge(cur, b.delta, this.id, b.seq, this.now()));
      try {
        // A deleted entry still has a revision: update on it, so a concurrent create conflicts.
        if (e) await this.kv.update(k, value, e.revision);
        else await this.kv.create(k, value);
        return;
      } catch (err) {
        // A conflict means this write was not stored: read again and merge again.
        if (!isCasConflict(err) || attempt >= MAX_CAS_ATTEMPTS) throw err;
      }
    }
  }

  private token(s: string): string {
    let t = this.tokens.get(s);
    if (t === undefined) {
      // Key ids and model ids are few; the bound only guards against a flood of junk ids.
      if (this.tokens.size >= 10_000) this.tokens.clear();
      t = kvToken(s);
      this.tokens.set(s, t);
    }
    return t;
  }
}

/** Token counts from callers, made safe to add up: NaN, negatives and fractions would corrupt totals forever. */
function tokens(n: number): number {
  return n > 0 && Number.isFinite(n) ? Math.floor(n) : 0;
}

function rowOf(v: StoredUsage): UsageRow {
  return { day: v.day, keyId: v.keyId, keyName: v.keyName, model: v.model, requests: v.requests, promptTokens: v.promptTokens, completionTokens: v.completionTokens, errors: v.errors };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Runs `fn` over `items`, at most PARALLEL at a time. */
async function inParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, lane));
}

const CSV_COLUMNS = ["day", "key_id", "key_name", "model", "requests", "prompt_tokens", "completion_tokens", "total_tokens", "errors"];

/** RFC 4180 CSV: a header line and one line per row; errors as one column `code:n;code:n`. */
export function usageCsv(rows: readonly UsageRow[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of rows) {
    const errors = Object.entries(r.errors).sort(([a], [b]) => cmp(a, b)).map(([c, n]) => `${c}:${n}`).join(";");
    const cells = [r.day, r.keyId, r.keyName, r.model, r.requests, r.promptTokens, r.completionTokens, r.promptTokens + r.completionTokens, errors];
    lines.push(cells.map((c) => csvCell(String(c))).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
