// `broker nats-config`: a nats-server config with one least-privilege user for
// the gateways and one per configured worker (nats/roles.ts), with fresh passwords.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ConfigError, type Config } from "../config/mod.js";
import { natsServerConfig, roleUsers } from "../nats/mod.js";

const USAGE = `usage: broker nats-config [--config FILE] [--gateway-id ID]... [--json]
  Prints a nats-server config (authorization + jetstream) to stdout: user "gateway" for every
  gateway and the CLI, and one user per configured worker, named after it, allowed its own models only.
  --gateway-id ID (repeatable): instead of "gateway", one user "gateway-ID" per id, which reads only
  its own replies and inbox; run that gateway (and the CLI) with gateway.id ID (or GATEWAY_ID=ID).
  The passwords are new at each run and appear nowhere else: they go to stderr, one line per
  process as NATS_USER=… NATS_PASSWORD=… (or nats.user + nats.passwordFile), or with --json,
  stdout carries {"config": "...", "users": [{"user", "password"}]} instead.`;

/** Runs the command; resolves with the exit code. */
export async function runNatsConfig(args: string[], readConfig: (path: string | undefined) => Config): Promise<number> {
  const { values } = parseOptions(args);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const cfg = readConfig(values.config ?? process.env.BROKER_CONFIG);
  const ids = values["gateway-id"] ?? [];
  const bad = ids.find((id) => !/^[A-Za-z0-9_-]+$/.test(id));
  if (bad !== undefined) throw new ConfigError(`--gateway-id '${bad}': letters, digits, _ and - only`);
  const users = roleUsers(cfg, password, ids);
  const config = natsServerConfig(users);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ config, users: users.map(({ user, password }) => ({ user, password })) }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(config);
  const gateways = ids.length === 0 ? ["broker gateway, broker keys, broker usage"] : ids.map((id) => `GATEWAY_ID=${id} broker gateway (and broker keys, broker usage)`);
  const runs = [...gateways, ...cfg.workers.map((w) => `broker worker --name ${w.name}`)];
  users.forEach((u, i) => process.stderr.write(`NATS_USER=${u.user} NATS_PASSWORD=${u.password}  # ${runs[i] ?? ""}\n`));
  return 0;
}

/** 24 random bytes as URL-safe base64: no character that needs escaping in a NATS URL or the config. */
function password(): string {
  return randomBytes(24).toString("base64url");
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, options: { config: { type: "string", short: "c" }, "gateway-id": { type: "string", multiple: true }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n${USAGE}`);
  }
}
