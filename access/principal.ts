// A key record made ready for the hot path: globs compiled once per change,
// times parsed once, so a request pays a few regex tests and no parsing.
import type { KeyLimitsConfig } from "../config/mod.js";
import { globToRegExp, type KeyRecord, type Priority } from "./keys.js";

const RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2 };

export interface Principal {
  readonly record: KeyRecord;
  readonly revoked: boolean;
  readonly expiresAtMs: number | undefined;
  /** Whether the key may call this public model id. */
  allows(model: string): boolean;
  /** Whether the key may use this lane. */
  mayUse(lane: Priority): boolean;
  /** The per-model limits for this model (the first matching entry), if any. */
  modelLimits(model: string): { pattern: string; limits: KeyLimitsConfig } | undefined;
}

export function compile(r: KeyRecord): Principal {
  const models = r.models.map(globToRegExp);
  const perModel = r.perModel.map((m) => ({ re: globToRegExp(m.models), pattern: m.models, limits: m }));
  const cap = RANK[r.maxPriority];
  return {
    record: r,
    revoked: r.revokedAt !== undefined,
    expiresAtMs: r.expiresAt === undefined ? undefined : Date.parse(r.expiresAt),
    allows: (model) => models.some((re) => re.test(model)),
    mayUse: (lane) => RANK[lane] <= cap,
    modelLimits: (model) => {
      const hit = perModel.find((m) => m.re.test(model));
      return hit && { pattern: hit.pattern, limits: hit.limits };
    },
  };
}
