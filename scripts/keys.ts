/**
 * broker keys create --name N [--models GLOBS] [--rpm N] [--tpm N] [--max-concurrent N]
 *                    [--max-priority high|normal|low] [--budget-tokens N --budget-period day|week|month]
 *                    [--per-model 'GLOB:rpm=N,tpm=N,max-concurrent=N,budget-tokens=N']… [--expires 90d|12h|ISO]
 * broker keys list | show KEY | revoke KEY | rotate KEY      (KEY: a name or an id)
 * The secret is printed once, on stdout, by create and rotate; the store keeps only its hash.
 */
import { parseArgs } from "node:util";
import { KeyStore, type KeyRecord, type NewKey, Priority } from "../access/mod.js";
import { ConfigError, type Config, KeyLimits } from "../config/mod.js";
import { connectNats, inboxPrefix } from "../nats/mod.js";
import type { Logger } from "../ops/mod.js";

export const KEYS_USAGE = `usage: broker keys <create|list|show|revoke|rotate> [KEY] [options]
  create --name NAME [--models 'llama-*,openai/*'] [--rpm N] [--tpm N] [--max-concurrent N]
         [--max-priority high|normal|low] [--budget-tokens N] [--budget-period day|week|month]
         [--per-model 'GLOB:rpm=N,tpm=N,max-concurrent=N,budget-tokens=N'] [--expires 90d|12h|2027-01-01]
  list                 every key (never a secret)
  show KEY             one key's settings (KEY: its name or id)
  revoke KEY           refused by every gateway within a second
  rotate KEY           a new secret for the same key; the old one stops working at once
  --json               machine-readable output`;

const OPTIONS = {
  name: { type: "string" }, models: { type: "string" }, rpm: { type: "string" }, tpm: { type: "string" },
  "max-concurrent": { type: "string" }, "max-priority": { type: "string" }, "budget-tokens": { type: "string" },
  "budget-period": { type: "string" }, "per-model": { type: "string", multiple: true }, expires: { type: "string" },
  json: { type: "boolean" }, config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" },
} as const;

export async function runKeys(argv: string[], cfg: Config, log: Logger): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (e) {
    throw new ConfigError(`${(e as Error).message.split("\n")[0]}\n${KEYS_USAGE}`);
  }
  const { positionals, values } = parsed;
  if (values.help) {
    console.log(KEYS_USAGE);
    return;
  }
  const [sub, target] = positionals;
  if (!sub || !["create", "list", "show", "revoke", "rotate"].includes(sub)) throw new ConfigError(KEYS_USAGE);
  // The gateway's NATS user runs the admin commands (nats/roles.ts): under a gateway inbox.
  const nc = await connectNats(cfg.nats, "broker-keys", log, { once: true, inboxPrefix: inboxPrefix.gateway(cfg.gateway.id || "cli") });
  try {
    const store = await KeyStore.open(nc, cfg, log);
    store.stop();
    const print = (r: KeyRecord): void => console.log(values.json ? JSON.stringify(r) : describe(r));
    if (sub === "create") {
      const { record, secret } = await store.create(newKey(values));
      announce(secret, record, values.json === true);
    } else if (sub === "list") {
      const all = store.list();
      if (values.json) console.log(JSON.stringify(all));
      else if (all.length === 0) console.error("no keys in NATS (a static key file, if configured, is not listed)");
      else for (const r of all) console.log(line(r));
    } else {
      if (!target) throw new ConfigError(`broker keys ${sub}: name the key (its name or id)`);
      if (sub === "show") {
        const r = store.find(target);
        if (!r) throw new ConfigError(`no key named or with id '${target}'`);
        print(r);
      } else if (sub === "revoke") {
        const r = await store.revoke(target);
        console.error(`revoked ${r.name} (${r.id}); every gateway refuses it within a second`);
      } else {
        const { record, secret } = await store.rotate(target);
        announce(secret, record, values.json === true);
      }
    }
  } finally {
    await nc.close();
  }
}

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

function newKey(v: Values): NewKey {
  if (!v.name) throw new ConfigError("broker keys create: --name is required");
  const limits = KeyLimits.safeParse({
    rpm: int(v.rpm, "--rpm"), tpm: int(v.tpm, "--tpm"), maxConcurrent: int(v["max-concurrent"], "--max-concurrent"),
    budgetTokens: int(v["budget-tokens"], "--budget-tokens"), budgetPeriod: v["budget-period"],
  });
  if (!limits.success) throw new ConfigError(`broker keys create: ${limits.error.issues.map((i) => `${flag(String(i.path[0]))}: ${i.message}`).join("; ")}`);
  const priority = Priority.safeParse(v["max-priority"] ?? "normal");
  if (!priority.success) throw new ConfigError("broker keys create: --max-priority must be high, normal or low");
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(v.name)) throw new ConfigError("broker keys create: --name takes letters, digits, '.', '_' and '-' (1 to 64)");
  return {
    name: v.name,
    models: (v.models ?? "*").split(",").map((m) => m.trim()).filter(Boolean),
    maxPriority: priority.data,
    ...limits.data,
    perModel: (v["per-model"] ?? []).map(perModel),
    ...(v.expires ? { expiresAt: expiry(v.expires) } : {}),
  };
}

const flag = (field: string): string => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`broker keys create: ${name} takes a positive integer, got '${v}'`);
  return n;
}

/** `GLOB:rpm=N,tpm=N,max-concurrent=N,budget-tokens=N`. */
function perModel(spec: string): NewKey["perModel"][number] {
  const at = spec.lastIndexOf(":");
  if (at <= 0) throw new ConfigError(`--per-model '${spec}': expected GLOB:rpm=N,…`);
  const fields: Record<string, number | undefined> = {};
  for (const kv of spec.slice(at + 1).split(",")) {
    const [k, v] = kv.split("=");
    const key = { rpm: "rpm", tpm: "tpm", "max-concurrent": "maxConcurrent", "budget-tokens": "budgetTokens" }[k?.trim() ?? ""];
    if (!key) throw new ConfigError(`--per-model '${spec}': unknown limit '${k}' (rpm, tpm, max-concurrent, budget-tokens)`);
    fields[key] = int(v, `--per-model ${k}`);
  }
  const limits = KeyLimits.parse(fields);
  return { models: spec.slice(0, at), ...limits };
}

/** `90d`, `12h`, `30m` from now, or an ISO date. */
export function expiry(v: string, now = Date.now()): string {
  const rel = /^(\d+)([dhm])$/.exec(v);
  if (rel) return new Date(now + Number(rel[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[rel[2] as "d" | "h" | "m"]).toISOString();
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new ConfigError(`--expires '${v}': use 90d, 12h, 30m or an ISO date`);
  if (t <= now) throw new ConfigError(`--expires '${v}' is in the past`);
  return new Date(t).toISOString();
}

function announce(secret: string, r: KeyRecord, json: boolean): void {
  if (json) console.log(JSON.stringify({ ...r, secret }));
  else {
    console.log(secret);
    console.error(`key ${r.name} (${r.id}): the secret above is shown once; store it now. Clients send it as 'Authorization: Bearer <secret>'.`);
  }
}

function limitsOf(r: KeyLimitsLike): string {
  const parts = [
    r.rpm && `rpm ${r.rpm}`, r.tpm && `tpm ${r.tpm}`, r.maxConcurrent && `concurrent ${r.maxConcurrent}`,
    r.budgetTokens && `budget ${r.budgetTokens}/${r.budgetPeriod}`,
  ].filter(Boolean);
  return parts.join(", ") || "no limits";
}
type KeyLimitsLike = Pick<KeyRecord, "rpm" | "tpm" | "maxConcurrent" | "budgetTokens" | "budgetPeriod">;

function state(r: KeyRecord): string {
  if (r.revokedAt) return `revoked ${r.revokedAt}`;
  if (r.expiresAt && Date.parse(r.expiresAt) <= Date.now()) return `expired ${r.expiresAt}`;
  return r.expiresAt ? `active until ${r.expiresAt}` : "active";
}

function line(r: KeyRecord): string {
  const perModel = r.perModel.length > 0 ? `; per model: ${r.perModel.map((m) => `${m.models} ${limitsOf(m)}`).join("; ")}` : "";
  return `${r.id}  ${r.name.padEnd(16)}  ${r.hint.padEnd(12)}  ${state(r).padEnd(34)}  models ${r.models.join(",")}  ${limitsOf(r)}${perModel}`;
}

function describe(r: KeyRecord): string {
  return [
    `name          ${r.name}`, `id            ${r.id}`, `secret        ${r.hint} (only the hash is stored)`, `state         ${state(r)}`,
    `models        ${r.models.join(", ")}`, `max priority  ${r.maxPriority}`, `limits        ${limitsOf(r)}`,
    ...r.perModel.map((m) => `  on ${m.models}: ${limitsOf(m)}`), `created       ${r.createdAt}`, ...(r.rotatedAt ? [`rotated       ${r.rotatedAt}`] : []),
  ].join("\n");
}
