// The embedded nats-server's users and their passwords: one file per user under
// `<dataDir>/credentials`, made on the first start and kept, so the `nats` CLI and
// processes started on their own keep working across restarts. A password travels
// as a file's path, never in env or argv.
import { randomBytes } from "node:crypto";
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Config, ConfigError, isLoopback, type NatsConfig } from "../config/mod.js";
import { roleUsers, type NatsUser } from "../nats/mod.js";

/** The operator's user, with no permissions block: for the `nats` CLI and `broker up`'s readiness probe. */
export const ADMIN_USER = "admin";

export interface EmbeddedCredentials {
  /** Every user with its password: gateway, worker-<name> per configured worker, admin. */
  users: NatsUser[];
  /** The file that holds `user`'s password. */
  passwordFile(user: string): string;
}

/** `<dataDir>/credentials/<user>.password`, absolute. */
export function passwordFile(dataDir: string, user: string): string {
  return join(resolve(dataDir), "credentials", `${user}.password`);
}

/**
 * Reads every user's password file, making the missing ones (24 random bytes, base64url):
 * all of them on the first start, a worker's when it is added to the config later.
 */
export function embeddedCredentials(cfg: Config): EmbeddedCredentials {
  const dataDir = cfg.embeddedNats.dataDir;
  const dir = join(resolve(dataDir), "credentials");
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const password = (user: string) => readOrCreate(passwordFile(dataDir, user));
  return {
    users: [...roleUsers(cfg, password), { user: ADMIN_USER, password: password(ADMIN_USER) }],
    passwordFile: (user) => passwordFile(dataDir, user),
  };
}

function readOrCreate(file: string): string {
  try {
    const v = firstLine(readFileSync(file, "utf8"));
    if (!v) throw new ConfigError(`${file} is empty: delete it, and broker up makes a new password`);
    return v;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw unreadable(file, e);
  }
  const pw = randomBytes(24).toString("base64url");
  // Written whole under another name, then linked into place: a crash never leaves an empty or
  // half-written password, and the file is born 0600 (umask only takes bits away).
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, `${pw}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  return pw;
}

/**
 * For a process started on its own against `broker up`'s server: when the config names no NATS
 * credentials and its url is that server's (one loopback URL on embeddedNats.port), it logs in
 * as `user` with the password file `broker up` made, if there is one; else the config is kept.
 */
export function withEmbeddedCredentials(cfg: Config, user: string): Config {
  if (hasCredentials(cfg.nats) || !isEmbeddedUrl(cfg.nats.url, cfg.embeddedNats.port)) return cfg;
  const file = passwordFile(cfg.embeddedNats.dataDir, user);
  try {
    readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return cfg;
    throw unreadable(file, e);
  }
  return { ...cfg, nats: loginAs(cfg.nats, user, file) };
}

/** The section with every other way to authenticate taken out, logging in as `user` with the password in `file`. */
export function loginAs(nats: NatsConfig, user: string, file: string): NatsConfig {
  const { user: _u, passwordEnv: _pe, passwordFile: _pf, tokenEnv: _te, tokenFile: _tf, nkeySeedFile: _n, credsFile: _c, ...rest } = nats;
  return { ...rest, user, passwordFile: file };
}

function hasCredentials(n: NatsConfig): boolean {
  return [n.user, n.passwordEnv, n.passwordFile, n.tokenEnv, n.tokenFile, n.nkeySeedFile, n.credsFile].some((v) => v !== undefined);
}

/** One server, on loopback, on `port` (4222 when the URL has none), with no user:password@ of its own. */
export function isEmbeddedUrl(url: string, port: number): boolean {
  if (url.includes(",")) return false;
  let u: URL;
  try {
    u = new URL(url.includes("://") ? url : `nats://${url}`);
  } catch {
    return false;
  }
  return u.username === "" && isLoopback(u.hostname) && (u.port === "" ? 4222 : Number(u.port)) === port;
}

function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0]?.trim() ?? "";
}

function unreadable(file: string, e: unknown): Error {
  if (e instanceof ConfigError) return e;
  const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new ConfigError(`cannot read ${file} (${why}), a password of broker up's nats-server: run as the user that ran broker up, or give nats.user and a password`);
}
