// `broker nats-config`: a nats-server config with one least-privilege user for
// the gateways and one per configured worker (nats/roles.ts), with fresh passwords.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ConfigError, type Config } from "../config/mod.js";
import { natsServerConfig, roleUsers } from "../nats/mod.js";

const USAGE = `usage: broker nats-config [--config FILE] [--json]
  Prints a nats-server config (authorization + jetstream) to stdout: user "gateway" for every
  gateway and the CLI, and one user per configured worker, named after it, allowed its own models only.
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
  const users = roleUsers(cfg, password);
  const config = natsServerConfig(users);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ config, users: users.map(({ user, password }) => ({ user, password })) }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(config);
  const runs = ["broker gateway, broker keys, broker usage", ...cfg.workers.map((w) => `broker worker --name ${w.name}`)];
  users.forEach((u, i) => process.stderr.write(`NATS_USER=${u.user} NATS_PASSWORD=${u.password}  # ${runs[i] ?? ""}\n`));
  return 0;
}

/** 24 random bytes as URL-safe base64: no character that needs escaping in a NATS URL or the config. */
function password(): string {
  return randomBytes(24).toString("base64url");
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, options: { config: { type: "string", short: "c" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n${USAGE}`);
  }
}
