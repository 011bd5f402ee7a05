// The keys every gateway accepts: records in the `<prefix>-keys` bucket,
// watched so a create, revoke or rotate on any machine reaches every gateway
// in milliseconds, plus the static key file. Lookups are one HMAC and one map
// read. The CLI uses the same store to write.
import { createHmac, randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError, type Config, readDataFile, StaticKeysFile, type StaticKeyConfig } from "../config/mod.js";
import { bucketName, openBucket, type KV, type KvEntry } from "../nats/mod.js";
import type { Logger } from "../ops/mod.js";
import { compile, type Principal } from "./principal.js";
import { hashSecret, hintOf, KeyRecord, newKeyId, newSecret } from "./keys.js";

const RECORDS = "key.";
const HASH_SECRET = "meta.hash-secret";
const HASH_CHECK = "meta.hash-check";
const HASH_CACHE_SIZE = 4096;

/** What a presented secret turned out to be. */
export type Lookup = { state: "ok"; principal: Principal } | { state: "revoked" | "expired"; principal: Principal } | { state: "unknown" };

/** What `broker keys create` takes (the record minus what the store fills in). */
export type NewKey = Omit<KeyRecord, "id" | "hash" | "hint" | "createdAt" | "revokedAt" | "rotatedAt">;

export class KeyStore {
  private readonly byHash = new Map<string, Principal>();
  private readonly byId = new Map<string, KeyRecord>();
  private readonly statics = new Map<string, Principal>();
  private readonly revisions = new Map<string, number>();
  /**
   * Secret → hash for the secrets seen lately: the HMAC was 3% of a busy
   * gateway's CPU, and a client sends the same key on every request. A pure
   * function of the secret, so a rotate or revoke needs no invalidation; bounded
   * so a flood of made-up keys cannot grow it.
   */
  private readonly hashes = new Map<string, string>();
  private watcher: { stop(): void } | undefined;

  private constructor(private readonly kv: KV, private readonly hashKey: Buffer, private readonly log: Logger) {}

  /**
   * Opens the bucket, resolves the hash secret, loads every record (and the
   * static key file) and keeps following changes until stop().
   */
  static async open(nc: NatsConnection, cfg: Config, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<KeyStore> {
    const kv = await openBucket(nc, bucketName(cfg.nats.prefix, "keys"), { replicas: cfg.queue.replicas, domain: cfg.nats.jsDomain, history: 5, log });
    const store = new KeyStore(kv, await hashKeyOf(kv, cfg.gateway.auth.hashSecretEnv, env), log);
    if (cfg.gateway.auth.keysFile) store.loadStatic(cfg.gateway.auth.keysFile);
    await store.follow();
    return store;
  }

  /** What the secret is: a live key, a revoked or expired one, or nothing we know. */
  lookup(secret: string, now = Date.now()): Lookup {
    let h = this.hashes.get(secret);
    if (h === undefined) {
      h = hashSecret(secret, this.hashKey);
      if (this.hashes.size >= HASH_CACHE_SIZE) this.hashes.clear();
      this.hashes.set(secret, h);
    }
    const p = this.byHash.get(h) ?? this.statics.get(h);
    if (!p) return { state: "unknown" };
    if (p.revoked) return { state: "revoked", principal: p };
    if (p.expiresAtMs !== undefined && now >= p.expiresAtMs) return { state: "expired", principal: p };
    return { state: "ok", principal: p };
  }

  /** Every record in NATS, newest first (static keys are in their file). */
  list(): KeyRecord[] {
    return [...this.byId.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** A record by id, or by name among keys not revoked. */
  find(nameOrId: string): KeyRecord | undefined {
    return this.byId.get(nameOrId) ?? this.list().find((r) => r.name === nameOrId && !r.revokedAt);
  }

  /** Stores a new key; the secret is returned once and kept nowhere. @throws ConfigError on a taken name. */
  async create(k: NewKey): Promise<{ record: KeyRecord; secret: string }> {
    if (this.list().some((r) => r.name === k.name && !r.revokedAt)) throw new ConfigError(`a key named '${k.name}' exists already; revoke it first or pick another name`);
    const secret = newSecret();
    const record = KeyRecord.parse({ ...k, id: newKeyId(), hash: hashSecret(secret, this.hashKey), hint: hintOf(secret), createdAt: new Date().toISOString() });
    this.revisions.set(record.id, await this.kv.create(RECORDS + record.id, JSON.stringify(record)));
    this.remember(record);
    return { record, secret };
  }

  /** Marks the key revoked; every gateway refuses it within the watch's latency. */
  async revoke(nameOrId: string): Promise<KeyRecord> {
    return this.change(nameOrId, (r) => ({ ...r, revokedAt: r.revokedAt ?? new Date().toISOString() }));
  }

  /** A new secret for the same key (id, settings, limits and usage carry on); the old secret stops working at once. */
  async rotate(nameOrId: string): Promise<{ record: KeyRecord; secret: string }> {
    const secret = newSecret();
    const record = await this.change(nameOrId, (r) => {
      if (r.revokedAt) throw new ConfigError(`the key '${r.name}' is revoked; create a new one`);
      return { ...r, hash: hashSecret(secret, this.hashKey), hint: hintOf(secret), rotatedAt: new Date().toISOString() };
    });
    return { record, secret };
  }

  stop(): void {
    this.watcher?.stop();
  }

  private async change(nameOrId: string, edit: (r: KeyRecord) => KeyRecord): Promise<KeyRecord> {
    const found = this.find(nameOrId);
    if (!found) throw new ConfigError(`no key named or with id '${nameOrId}'`);
    const e = await this.kv.get(RECORDS + found.id);
    if (!e || e.operation !== "PUT") throw new ConfigError(`the key '${nameOrId}' is gone`);
    const next = KeyRecord.parse(edit(KeyRecord.parse(e.json())));
    // Compare-and-set: a concurrent edit elsewhere makes this fail loudly rather than be lost.
    this.revisions.set(found.id, await this.kv.update(RECORDS + found.id, JSON.stringify(next), e.revision));
    this.remember(next);
    return next;
  }

  private remember(r: KeyRecord): void {
    const old = this.byId.get(r.id);
    if (old) this.byHash.delete(old.hash);
    this.byId.set(r.id, r);
    this.byHash.set(r.hash, compile(r));
  }

  private forget(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    this.byHash.delete(old.hash);
  }

  /**
   * Loads every record, then follows changes from the bucket's sequence at
   * the start of the load, so nothing written meanwhile is missed; a replayed
   * change older than what the load saw is skipped by its revision.
   */
  private async follow(): Promise<void> {
    const from = (await this.kv.status()).streamInfo.state.last_seq;
    for await (const k of await this.kv.keys(`${RECORDS}>`)) {
      const e = await this.kv.get(k);
      if (e) this.apply(e);
    }
    const w = await this.kv.watch({ key: `${RECORDS}>`, resumeFromRevision: from + 1 });
    this.watcher = w;
    void (async () => {
      for await (const e of w) this.apply(e);
    })();
  }

  private apply(e: KvEntry): void {
    const id = e.key.slice(RECORDS.length);
    if ((this.revisions.get(id) ?? 0) >= e.revision) return;
    this.revisions.set(id, e.revision);
    if (e.operation !== "PUT") return this.forget(id);
    const r = KeyRecord.safeParse(safeJson(e));
    if (r.success) this.remember(r.data);
    else this.log.warn({ key: id }, "keys bucket: an entry that is not a key record; ignored");
  }

  private loadStatic(path: string): void {
    const parsed = StaticKeysFile.safeParse(readDataFile(path, "gateway.auth.keysFile"));
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
      throw new ConfigError(`gateway.auth.keysFile ${path}:\n${lines.join("\n")}`);
    }
    for (const k of parsed.data.keys) {
      const p = compile(staticRecord(k, hashSecret(k.key, this.hashKey)));
      this.statics.set(p.record.hash, p);
    }
  }
}

function staticRecord(k: StaticKeyConfig, hash: string): KeyRecord {
  const { key: _secret, ...settings } = k;
  // A stable id from the name, so limits and usage survive a restart with the same file.
  const id = `s${createHmac("sha256", "static").update(k.name).digest("hex").slice(0, 11)}`;
  return { ...settings, id, hash, hint: "(key file)", createdAt: new Date(0).toISOString() };
}

function safeJson(e: KvEntry): unknown {
  try {
    return e.json();
  } catch {
    return undefined;
  }
}

/**
 * The HMAC key for hashes: from the environment when the operator keeps it
 * out of NATS, else a random one the bucket keeps (created by whoever comes
 * first). A check value catches a gateway or CLI with a different secret,
 * whose lookups would otherwise all fail as "unknown key".
 */
async function hashKeyOf(kv: KV, envName: string, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const given = env[envName];
  const stored = await kv.get(HASH_SECRET);
  if (given) {
    if (stored?.operation === "PUT") throw new ConfigError(`${envName} is set, but the keys in this bucket were hashed with the secret the bucket keeps; unset ${envName}`);
    const key = Buffer.from(given, "utf8");
    const check = createHmac("sha256", key).update("broker-key-hash-check").digest("hex");
    const have = await kv.get(HASH_CHECK);
    if (!have || have.operation !== "PUT") await kv.put(HASH_CHECK, check);
    else if (have.string() !== check) throw new ConfigError(`${envName} differs from the secret the keys in this bucket were hashed with`);
    return key;
  }
  const check = await kv.get(HASH_CHECK);
  if (check?.operation === "PUT") throw new ConfigError(`the keys in this bucket were hashed with a secret from ${envName}; set it`);
  if (stored?.operation === "PUT") return Buffer.from(stored.string(), "base64url");
  try {
    await kv.create(HASH_SECRET, randomBytes(32).toString("base64url"));
  } catch {
    // Another process created it first: use theirs.
  }
  const now = await kv.get(HASH_SECRET);
  if (!now || now.operation !== "PUT") throw new ConfigError("could not store the key hash secret in NATS");
  return Buffer.from(now.string(), "base64url");
}
