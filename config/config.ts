import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../contract/mod.js";
import { checkAccess } from "./access.js";
import { applyNatsEnv, NatsSection } from "./nats.js";

const ms = (dflt: number) => z.number().int().nonnegative().default(dflt);

const Fallback = z.strictObject({
  /** Skip a target that no live worker serves. */
  onNoWorker: z.boolean().default(true),
  /** Give a target this long to be taken by a worker before trying the next (0: no limit). */
  onQueueWaitMs: ms(0),
  /** Try the next target after an error before the first token: 5xx, timeouts, an upstream 429. */
  onError: z.boolean().default(true),
});

/**
 * One entry of the routing table. A public model id is matched exactly (`id`)
 * or by `prefix`; it is served by the workers of `model` (default: the id
 * itself), or by the first usable target of `chain`.
 */
const GatewayModel = z.strictObject({
  /** The public model id clients send (exact match). */
  id: z.string().min(1).optional(),
  /** Matches every public id starting with this (e.g. "openai/"); the rest is the upstream model name. */
  prefix: z.string().min(1).optional(),
  /** The model the workers serve (their subject); an alias when it differs from `id`. */
  model: z.string().min(1).optional(),
  /** The model name the engine sends upstream (default: the engine's own setting). */
  upstreamModel: z.string().min(1).optional(),
  /** Public ids tried in order (each resolved through this table); the first usable one serves. */
  chain: z.array(z.string().min(1)).min(1).optional(),
  fallback: Fallback.prefault({}),
  /** Send the client's own API key (Authorization: Bearer) to the upstream, in the claim answer only. */
  passthroughKey: z.boolean().default(false),
  /** Queue jobs while no worker serves the model (else 503 at once). */
  queueWithoutWorkers: z.boolean().default(false),
  /** Longest wait for a worker to take a job (0: only requestTimeoutMs); past it: 503 queue_timeout. */
  maxQueueWaitMs: ms(0),
  ownedBy: z.string().default("broker"),
}).refine((r) => (r.id === undefined) !== (r.prefix === undefined), "give exactly one of id and prefix")
  .refine((r) => !(r.chain && (r.model || r.prefix)), "a chain names its targets; it takes no model or prefix");

/** Per-key settings shared by keys in NATS and the static key file. */
export const KeyLimits = z.strictObject({
  /** Requests per minute (a sliding 60 s window). */
  rpm: z.number().int().positive().optional(),
  /** Tokens per minute: prompt estimate at admission, reconciled with real usage at the end. */
  tpm: z.number().int().positive().optional(),
  /** Requests open at once, across every gateway. */
  maxConcurrent: z.number().int().positive().optional(),
  /** Tokens per budget period (prompt + completion). */
  budgetTokens: z.number().int().positive().optional(),
  budgetPeriod: z.enum(["day", "week", "month"]).default("month"),
});

const StaticKey = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, '.', '_' and '-' (1 to 64)"),
  /** The secret itself (a static file is for simple set-ups and tests; prefer keys in NATS). */
  key: z.string().min(20, "at least 20 characters"),
  /** Globs over the public model ids the client sends ("*" and "?"); default every model. */
  models: z.array(z.string().min(1)).default(["*"]),
  maxPriority: z.enum(["high", "normal", "low"]).default("normal"),
  ...KeyLimits.shape,
  /** Limits per key and model, for the models a glob matches (the first matching entry). */
  perModel: z.array(z.strictObject({ models: z.string().min(1), ...KeyLimits.shape })).default([]),
});

const Auth = z.strictObject({
  /** "auto": on when the gateway listens beyond loopback. */
  enabled: z.union([z.boolean(), z.literal("auto")]).default("auto"),
  /** Env var with the HMAC secret for key hashes; unset: a random secret kept in the keys bucket. */
  hashSecretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name").default("BROKER_KEY_HASH_SECRET"),
  /** A YAML or JSON file of static keys, besides the keys in NATS. */
  keysFile: z.string().optional(),
  /** Header a client sends its own upstream key in, for passthrough routes, while auth is on. */
  upstreamKeyHeader: z.string().regex(/^[a-z0-9-]+$/, "a lower-case header name").default("x-upstream-authorization"),
  /** How often a gateway writes the usage it counted to NATS. */
  usageFlushMs: z.number().int().min(50).default(1000),
});

/**
 * Bounds every request is checked against before a job is queued, by the
 * core for both fronts (core/validate/limits.ts). Each default lets through
 * what real clients send and stops what only a mistake or an attack sends.
 */
const InputLimits = z.strictObject({
  /**
   * Messages in a chat; prompts in a legacy completion (each one a generation
   * of its own). OpenAI documents no count; 4096 holds long agent sessions.
   */
  maxMessages: z.number().int().positive().default(4096),
  /**
   * Characters (UTF-16 units) of text in one request: message contents, text
   * parts and tool-call arguments, or prompts and suffix, or inputs, together.
   * 4M is about 1M tokens at ~4 characters a token, the largest context
   * offered today, and half the default 8 MiB body.
   */
  maxInputChars: z.number().int().positive().default(4_000_000),
  /**
   * Nesting of the JSON body and of JSON carried in strings (tools, tool-call
   * arguments, gRPC's *_json). Real requests stay far below 64 (a strict
   * OpenAI schema may nest 10 levels). Code that recurses over JSON
   * (JSON.stringify, schema-to-grammar builders) overflows the stack in the
   * thousands of levels, hence the cap.
   */
  maxJsonDepth: z.number().int().positive().max(1000).default(64),
  /**
   * Choices per request. OpenAI allows 128 (the API's own bound here too);
   * each choice is a whole generation on the same worker slot, so a
   * self-hosted default is lower.
   */
  maxN: z.number().int().positive().max(128).default(16),
  /**
   * max_tokens / max_completion_tokens. Above every model's output length
   * today; the job carries it as uint32, hence the cap.
   */
  maxTokens: z.number().int().positive().max(2 ** 32 - 1).default(1_000_000),
  /**
   * Tools in one chat request: OpenAI's own limit, so a request OpenAI would
   * refuse is refused here before it is queued, whichever engine serves it.
   */
  maxTools: z.number().int().positive().default(128),
});

const WorkerModel = z.strictObject({
  id: z.string().min(1),
  engine: z.string().min(1),
  /** Engine options, validated by the engine itself when the worker starts. */
  options: z.record(z.string(), z.unknown()).default({}),
});

const Worker = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only").default("worker"),
  slots: z.number().int().min(1).max(1024).default(4),
  models: z.array(WorkerModel).min(1),
  heartbeatMs: ms(2000),
  /** How long SIGTERM waits for in-flight jobs before aborting them. */
  drainTimeoutMs: ms(30_000),
  /** How long a worker waits for the gateway's answer to a claim. */
  claimTimeoutMs: ms(2000),
  /** How often an idle worker looks at its queues without a wake-up (redeliveries, lost wake-ups). */
  pullIntervalMs: z.number().int().min(50).default(1000),
  /** A lower priority lane passed over this many times goes first once (starvation guard). */
  fairEvery: z.number().int().min(1).default(10),
  /** Token deltas emitted within this window go out as one NATS message (0: same tick only). */
  coalesceMs: ms(0),
  /** Prometheus /metrics for this worker (0: off). */
  metricsPort: z.number().int().min(0).max(65535).default(0),
  metricsHost: z.string().default("127.0.0.1"),
});

const Schema = z.strictObject({
  nats: NatsSection.prefault({}),
  /** The nats-server that `broker up` starts when NATS_URL is not given. */
  embeddedNats: z.strictObject({
    port: z.number().int().min(0).max(65535).default(4222),
    dataDir: z.string().default(".data/nats"),
    maxPayloadBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(8 * 1024 * 1024),
  }).prefault({}),
  gateway: z.strictObject({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
    /**
     * This gateway's id in reply subjects and its inbox (GATEWAY_ID); "" picks a random one per
     * process. Fix it to give the gateway a NATS user that reads its own replies only
     * (`broker nats-config --gateway-id`); two running gateways must never share one.
     */
    id: z.string().regex(/^[A-Za-z0-9_-]*$/, "letters, digits, _ and -").default(""),
    bodyLimitBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
    /** A job's whole life, queue included, unless the client says less. */
    requestTimeoutMs: ms(600_000),
    /**
     * How long a request waits for NATS to take its job (a reconnect to another server, a stream
     * electing a new leader) before 503 nats_unavailable; 0: fail at once.
     */
    natsWaitMs: ms(10_000),
    /** Longest silence between chunks of a running job. */
    idleTimeoutMs: ms(120_000),
    /** After SIGTERM, how long open streams may finish. */
    drainTimeoutMs: ms(30_000),
    models: z.array(GatewayModel).default([]),
    /** The gRPC front's port (GRPC_PORT); absent: no gRPC front. */
    grpcPort: z.number().int().min(0).max(65535).optional(),
    grpcTls: z.strictObject({
      certFile: z.string(),
      keyFile: z.string(),
      caFile: z.string().optional(),
      requireClientCert: z.boolean().default(false),
    }).optional(),
    /** Request header that picks a priority lane (high, normal, low); "" ignores it. */
    priorityHeader: z.string().regex(/^[a-z0-9-]*$/, "a lower-case header name").default("x-priority"),
    auth: Auth.prefault({}),
    /** Env var holding the admin key (/admin/*, /metrics, gRPC Admin) when auth is on. */
    adminKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name").default("BROKER_ADMIN_KEY"),
    /** File holding the admin key (first line); read when the env var is unset. */
    adminKeyFile: z.string().optional(),
    /** Lets auth be off while the gateway listens beyond loopback (an explicit, documented risk). */
    allowUnauthenticated: z.boolean().default(false),
    /** A second listener that serves only /metrics, unauthenticated, for scrapers on a private network. */
    metricsPort: z.number().int().min(0).max(65535).optional(),
    metricsHost: z.string().default("127.0.0.1"),
    cors: z.strictObject({
      /** Origins allowed to call the API from a browser; "*" only while auth is off on loopback. */
      origins: z.union([z.literal("*"), z.array(z.string().min(1))]).default([]),
    }).prefault({}),
    inputLimits: InputLimits.prefault({}),
  }).prefault({}),
  queue: z.strictObject({
    /** Jobs per model (queued + running on this stream); the next is refused with 429. */
    maxPerModel: z.number().int().min(1).default(10_000),
    /** A job older than this is dropped from the stream. */
    maxAgeMs: z.number().int().min(60_000).default(3_600_000),
    /** Publishes with the same job id inside this window are stored once. */
    duplicateWindowMs: z.number().int().min(1000).default(120_000),
    /** A job taken by a worker that does not ack or extend within this is redelivered. */
    ackWaitMs: z.number().int().min(1000).default(10_000),
    maxDeliver: z.number().int().min(1).default(5),
    replicas: z.number().int().min(1).max(5).default(1),
  }).prefault({}),
  /** Detached jobs: background responses, which run on with no client connected and outlive their gateway. */
  background: z.strictObject({
    /** A background job's whole life, queue included (far longer than gateway.requestTimeoutMs). */
    timeoutMs: z.number().int().min(1000).default(3_600_000),
    /** How long a background job's events stay replayable (its JetStream log's max age). */
    eventRetentionMs: z.number().int().min(60_000).default(86_400_000),
  }).prefault({}),
  /** Responses API (/v1/responses): stored responses live in the `<prefix>-responses` KV bucket. */
  responses: z.strictObject({
    /** How long a stored response (and what previous_response_id needs of it) is kept: OpenAI keeps 30 days. */
    retentionMs: z.number().int().min(60_000).default(30 * 86_400_000),
  }).prefault({}),
  workers: z.array(Worker).default([]),
});

export type Config = z.infer<typeof Schema>;
export type WorkerConfig = z.infer<typeof Worker>;
export type WorkerModelConfig = z.infer<typeof WorkerModel>;
export type GatewayModelConfig = z.infer<typeof GatewayModel>;
export type KeyLimitsConfig = z.infer<typeof KeyLimits>;
export type StaticKeyConfig = z.infer<typeof StaticKey>;
export type InputLimitsConfig = z.infer<typeof InputLimits>;
export const StaticKeysFile = z.strictObject({ keys: z.array(StaticKey) });

export { ConfigError };

/** Parses a config object; throws a ConfigError that names every bad field. */
export function parseConfig(raw: unknown): Config {
  const r = Schema.safeParse(raw ?? {});
  if (r.success) return checkAccess(checkChains(checkDuplicateWindow(r.data)));
  const lines = r.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
  throw new ConfigError(`invalid config:\n${lines.join("\n")}`);
}

/** A chain's targets are plain routes: a chain inside a chain is an operator's mistake, said at start, not per request. */
function checkChains(c: Config): Config {
  const chains = new Set(c.gateway.models.flatMap((m) => (m.chain && m.id !== undefined ? [m.id] : [])));
  const bad = c.gateway.models.flatMap((m, i) =>
    (m.chain ?? []).flatMap((t, j) => (chains.has(t) ? [`  gateway.models.${i}.chain.${j}: '${t}' is itself a chain; a chain names plain targets`] : [])));
  if (bad.length > 0) throw new ConfigError(`invalid config:\n${bad.join("\n")}`);
  return c;
}

function checkDuplicateWindow(c: Config): Config {
  // JetStream refuses a dedupe window longer than max_age.
  if (c.queue.duplicateWindowMs > c.queue.maxAgeMs) {
    throw new ConfigError("invalid config:\n  queue.duplicateWindowMs: must not exceed queue.maxAgeMs");
  }
  return c;
}

/** Environment variables that override the file, as documented in the README. */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = structuredClone(raw);
  const section = (k: string): Record<string, unknown> => objectAt(out, k);
  if (env.NATS_URL) section("nats").url = env.NATS_URL;
  if (env.BROKER_PREFIX) section("nats").prefix = env.BROKER_PREFIX;
  applyNatsEnv(section("nats"), env);
  if (env.NATS_JS_DOMAIN) section("nats").jsDomain = env.NATS_JS_DOMAIN;
  if (env.HOST) section("gateway").host = env.HOST;
  if (env.GATEWAY_ID) section("gateway").id = env.GATEWAY_ID;
  if (env.PORT) section("gateway").port = intEnv("PORT", env.PORT);
  if (env.GRPC_PORT) section("gateway").grpcPort = intEnv("GRPC_PORT", env.GRPC_PORT);
  if (env.NATS_PORT) section("embeddedNats").port = intEnv("NATS_PORT", env.NATS_PORT);
  return out;
}

/** Command-line flags, which override the file and the env. */
export interface ConfigFlags {
  /** --no-auth: gateway.auth.enabled false (beyond loopback, still only with gateway.allowUnauthenticated). */
  noAuth?: boolean;
}

/** Applies the flags to a raw config, before validation, so the safe-defaults checks see them. */
export function applyFlags(raw: Record<string, unknown>, flags: ConfigFlags): Record<string, unknown> {
  const out = structuredClone(raw);
  if (flags.noAuth) objectAt(objectAt(out, "gateway"), "auth").enabled = false;
  return out;
}

/** The mapping under `key`, made when absent (a wrong type is left for the schema to name). */
function objectAt(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = parent[key];
  if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  const fresh: Record<string, unknown> = {};
  parent[key] = fresh;
  return fresh;
}

function intEnv(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ConfigError(`invalid config:\n  ${name}: expected an integer, got "${v}"`);
  return n;
}

/**
 * A JSON or YAML file (by its extension), parsed; `what` names it in the
 * ConfigError for a file that cannot be read or parsed (the config, the
 * static key file).
 */
export function readDataFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  try {
    return path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${what} ${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`);
  }
}

/** Reads a JSON or YAML file (by extension), applies env overrides, then flags, and validates. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env, flags: ConfigFlags = {}): Config {
  const raw = path ? readDataFile(path, "config file") : {};
  if (raw !== null && (typeof raw !== "object" || Array.isArray(raw))) {
    throw new ConfigError(`config file ${path}: the top level must be a mapping`);
  }
  return parseConfig(applyFlags(applyEnv((raw ?? {}) as Record<string, unknown>, env), flags));
}
