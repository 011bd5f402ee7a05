// `broker usage`: the usage bucket as a table or CSV, read straight from NATS
// (no gateway needed), with the same filters as GET /admin/usage.
import { parseArgs } from "node:util";
import { UsageDay, usageCsv, USAGE_TTL_MS, UsageLedger, type UsageRow } from "../access/mod.js";
import { ConfigError, type Config } from "../config/mod.js";
import { bucketName, connectNats, inboxPrefix, openBucket } from "../nats/mod.js";
import { createLogger } from "../ops/mod.js";

const USAGE = `usage: broker usage [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--key NAME|ID] [--model ID] [--csv] [--config FILE]
  Requests and tokens per UTC day, key and model, from NATS (NATS_URL or nats.url, prefix BROKER_PREFIX or nats.prefix).
  --to defaults to today when --from is given.`;

/** Runs the command; resolves with the exit code. */
export async function runUsage(args: string[], readConfig: (path: string | undefined) => Config): Promise<number> {
  const { values } = parseOptions(args);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  for (const name of ["from", "to"] as const) {
    const v = values[name];
    if (v !== undefined && !UsageDay.safeParse(v).success) throw new ConfigError(`--${name}: expected a day as YYYY-MM-DD, got '${v}'`);
  }
  const cfg = readConfig(values.config ?? process.env.BROKER_CONFIG);
  // Silent: pino writes to stdout, which carries the table or the CSV.
  const log = createLogger("usage", "silent");
  // once: a command says at once that NATS is unreachable or refused it, instead of waiting.
  // The gateway's NATS user runs the admin commands (nats/roles.ts): under a gateway inbox.
  const nc = await connectNats(cfg.nats, "broker-usage", log, { once: true, inboxPrefix: inboxPrefix.gateway(cfg.gateway.id || "cli") });
  try {
    const kv = await openBucket(nc, bucketName(cfg.nats.prefix, "usage"), { replicas: cfg.queue.replicas, domain: cfg.nats.jsDomain, ttlMs: USAGE_TTL_MS });
    // A ledger only to read with: nothing is recorded, so stop() writes nothing.
    const ledger = new UsageLedger(kv, { flushMs: 60_000, log });
    const rows = await ledger.query({ from: values.from, to: values.to, key: values.key, model: values.model });
    await ledger.stop();
    process.stdout.write(values.csv ? usageCsv(rows) : table(rows));
  } finally {
    await nc.close();
  }
  return 0;
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        from: { type: "string" }, to: { type: "string" }, key: { type: "string" }, model: { type: "string" },
        csv: { type: "boolean" }, config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    // A mistyped option is for people: the message and the usage, not a stack.
    throw new ConfigError(`${(e as Error).message}\n${USAGE}`);
  }
}

/** Aligned columns, numbers to the right, and a total line. */
export function table(rows: readonly UsageRow[]): string {
  if (rows.length === 0) return "no usage recorded for this filter\n";
  const head = ["DAY", "KEY", "MODEL", "REQUESTS", "PROMPT", "COMPLETION", "TOTAL", "ERRORS"];
  const sum = { requests: 0, prompt: 0, completion: 0 };
  const body = rows.map((r) => {
    sum.requests += r.requests;
    sum.prompt += r.promptTokens;
    sum.completion += r.completionTokens;
    const errors = Object.entries(r.errors).map(([c, n]) => `${c}:${n}`).join(" ");
    return [r.day, r.keyName, r.model, r.requests, r.promptTokens, r.completionTokens, r.promptTokens + r.completionTokens, errors].map(String);
  });
  const total = ["total", "", "", sum.requests, sum.prompt, sum.completion, sum.prompt + sum.completion, ""].map(String);
  const all = [head, ...body, total];
  const width = head.map((_, i) => Math.max(...all.map((cells) => (cells[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 && i <= 6 ? c.padStart(width[i] ?? 0) : c.padEnd(width[i] ?? 0))).join("  ").trimEnd();
  return `${all.map(line).join("\n")}\n`;
}
