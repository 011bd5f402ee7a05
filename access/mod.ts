// Who may call and how much: client keys (stored hashed in NATS KV, watched by
// every gateway), limits leased from NATS across gateway replicas, and usage
// accounting. The core enforces them; fronts only pass the presented key.
export { KEY_PREFIX, KeyRecord, Priority } from "./keys.js";
export { KeyStore, type Lookup, type NewKey } from "./key-store.js";
export type { Principal } from "./principal.js";
export { MAX_QUERY_ENTRIES, USAGE_TTL_MS, usageCsv, UsageLedger, type UsageEvent, type UsageFilter, type UsageLedgerOptions, type UsageRow } from "./usage.js";
export { UsageDay } from "./usage-store.js";
export { hasLimits } from "./limits/scope.js";
export { LIMITS_TTL_MS, Limiter, type LimitScope, type Permit, type RateLimitView } from "./limits/limiter.js";
