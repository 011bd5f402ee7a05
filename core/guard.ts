// Who may call, what, at which priority and how much: enforced here, once,
// for every front. Fronts hand over the presented key; the guard answers
// with a caller, or the error OpenAI would give, and opens a ticket per
// request that ends its limits' charge and records its usage.
import { createHash, timingSafeEqual } from "node:crypto";
import { hasLimits, type KeyStore, type Limiter, type LimitScope, type Permit, type Principal, type RateLimitView, type UsageLedger } from "../access/mod.js";
import { BrokerError, type Final, type Lane, modelToken } from "../contract/mod.js";

/** The caller of one request: a key's principal, or the anonymous caller while auth is off. */
export interface Caller {
  readonly principal: Principal | undefined;
  readonly keyId: string;
  readonly keyName: string;
}

const ANONYMOUS: Caller = { principal: undefined, keyId: "-", keyName: "anonymous" };

/** What the guard needs of the limiter (access/limits): admission charged across gateways. */
export type LimitGate = Pick<Limiter, "admit" | "peek">;
/** What the guard needs of the usage ledger (access/usage). */
export type UsageSink = Pick<UsageLedger, "record">;

/** One admitted request: ended once, with its final (usage) or its error. */
export interface Ticket {
  readonly caller: Caller;
  readonly view: RateLimitView | undefined;
  end(final?: Final, error?: unknown): void;
}

export interface GuardOptions {
  /** The key directory; undefined: auth is off and every caller is anonymous. */
  keys?: Pick<KeyStore, "lookup">;
  limits?: LimitGate;
  usage?: UsageSink;
  /** The admin key; undefined with auth on: the admin surface refuses everyone. */
  adminKey?: string;
  /** The header passthrough routes read the client's upstream key from while auth is on. */
  upstreamKeyHeader: string;
}

const invalidKey = (message: string): BrokerError => new BrokerError("invalid_api_key", message, { upstreamType: "invalid_request_error" });
const NO_KEY = "You didn't provide an API key. Send your broker key in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).";
const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

export class Guard {
  private readonly adminDigest: Buffer | undefined;

  constructor(private readonly opts: GuardOptions) {
    this.adminDigest = opts.adminKey ? digest(opts.adminKey) : undefined;
  }

  /** Whether calls need a key. */
  get enabled(): boolean {
    return this.opts.keys !== undefined;
  }

  get upstreamKeyHeader(): string {
    return this.opts.upstreamKeyHeader;
  }

  /** @throws BrokerError 401 invalid_api_key: no key, an unknown one, a revoked or an expired one. */
  caller(apiKey: string | undefined): Caller {
    const keys = this.opts.keys;
    if (!keys) return ANONYMOUS;
    if (!apiKey) throw invalidKey(NO_KEY);
    const found = keys.lookup(apiKey);
    // The secret is never echoed, not even in part: it may be a key for something else.
    if (found.state === "unknown") throw invalidKey("Incorrect API key provided. Ask your broker's operator for a key (`broker keys create`).");
    const r = found.principal.record;
    if (found.state === "revoked") throw invalidKey(`This API key ('${r.name}') was revoked at ${r.revokedAt}.`);
    if (found.state === "expired") throw invalidKey(`This API key ('${r.name}') expired at ${r.expiresAt}.`);
    return { principal: found.principal, keyId: r.id, keyName: r.name };
  }

  /** Whether the caller may see and call this public model id. */
  allows(caller: Caller, model: string): boolean {
    return !caller.principal || caller.principal.allows(model);
  }

  /** @throws BrokerError 401 unless the presented key is the admin key (auth off: anyone). */
  admin(presented: string | undefined): void {
    if (!this.enabled) return;
    if (!this.adminDigest) throw invalidKey("The admin surface is closed: no admin key is configured (gateway.adminKeyEnv or gateway.adminKeyFile).");
    if (!presented) throw invalidKey("This endpoint needs the admin key: Authorization: Bearer <admin key>.");
    if (!timingSafeEqual(digest(presented), this.adminDigest)) throw invalidKey("Incorrect admin key provided.");
  }

  /**
   * Checks the lane and charges the limits; the model was checked by the
   * caller (a refusal must look like an unknown model). `estimateTokens` runs
   * only for a key with limits: nobody else pays for walking the prompt.
   * @throws BrokerError 403 priority_not_allowed, 429 rate_limit_exceeded / insufficient_quota.
   */
  enter(caller: Caller, model: string, lane: Lane, estimateTokens: () => number): Ticket | Promise<Ticket> {
    const p = caller.principal;
    try {
      if (p && !p.mayUse(lane)) {
        throw new BrokerError("priority_not_allowed", `This API key may use priority up to '${p.record.maxPriority}'; '${lane}' was asked for.`);
      }
      const scopes = p ? scopesOf(p, model) : [];
      if (scopes.length === 0 || !this.opts.limits) return this.ticket(caller, model, undefined);
      const permit = this.opts.limits.admit(scopes, estimateTokens());
      if (!(permit instanceof Promise)) return this.ticket(caller, model, permit);
      return permit.then((pm) => this.ticket(caller, model, pm), (e: unknown) => this.refused(caller, model, e));
    } catch (e) {
      return this.refused(caller, model, e);
    }
  }

  /** The caller's rate-limit figures without charging anything (for a refusal's headers); undefined without limits. */
  peek(caller: Caller, model: string): RateLimitView | undefined {
    const scopes = caller.principal ? scopesOf(caller.principal, model) : [];
    return scopes.length > 0 ? this.opts.limits?.peek(scopes) : undefined;
  }

  /** Records a request that failed before it got a ticket (a refusal, an unknown model) and rethrows. */
  refused(caller: Caller, model: string, e: unknown): never {
    this.opts.usage?.record({ keyId: caller.keyId, keyName: caller.keyName, model, promptTokens: 0, completionTokens: 0, errorCode: codeOf(e) });
    throw e;
  }

  private ticket(caller: Caller, model: string, permit: Permit | undefined): Ticket {
    const usage = this.opts.usage;
    let ended = false;
    return {
      caller,
      view: permit?.view,
      end: (final, error) => {
        if (ended) return;
        ended = true;
        const u = final?.usage;
        const promptTokens = u?.promptTokens ?? 0;
        const completionTokens = u?.completionTokens ?? 0;
        permit?.end(u ? { promptTokens, completionTokens } : undefined);
        usage?.record({
          keyId: caller.keyId, keyName: caller.keyName, model, promptTokens, completionTokens,
          ...(final ? {} : { errorCode: error === undefined ? "cancelled" : codeOf(error) }),
        });
      },
    };
  }
}

function codeOf(e: unknown): string {
  return e instanceof BrokerError ? e.code : "internal_error";
}

/** The key's own scope, and the key × model scope when a per-model entry matches. */
function scopesOf(p: Principal, model: string): LimitScope[] {
  const r = p.record;
  const out: LimitScope[] = [];
  if (hasLimits(r)) out.push({ id: r.id, limits: r, label: `key ${r.name}` });
  const m = p.modelLimits(model);
  if (m && hasLimits(m.limits)) out.push({ id: `${r.id}.m.${modelToken(model)}`, limits: m.limits, label: `key ${r.name} on model ${model}` });
  return out;
}
