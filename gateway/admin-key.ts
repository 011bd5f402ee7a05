// The admin key (/admin/*, /metrics, gRPC Admin while auth is on): from its
// env var, else the first line of its file; never from the config itself.
import { readFileSync } from "node:fs";
import { ConfigError, type Config } from "../config/mod.js";

export function adminKeyOf(cfg: Config, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env[cfg.gateway.adminKeyEnv];
  if (fromEnv?.trim()) return fromEnv.trim();
  if (!cfg.gateway.adminKeyFile) return undefined;
  try {
    return readFileSync(cfg.gateway.adminKeyFile, "utf8").split("\n")[0]?.trim() || undefined;
  } catch (e) {
    throw new ConfigError(`gateway.adminKeyFile: cannot read ${cfg.gateway.adminKeyFile}: ${(e as Error).message}`);
  }
}
