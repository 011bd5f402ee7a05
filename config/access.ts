// Whether a gateway asks for keys, derived once from its config: on whenever
// it listens beyond loopback, so the easy way to expose it is also the safe one.
import { ConfigError } from "../contract/mod.js";
import type { Config } from "./config.js";

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::ffff:127.0.0.1";
}

/** Whether the gateway requires a key on every API call. */
export function authEnabled(c: Config): boolean {
  const e = c.gateway.auth.enabled;
  return e === "auto" ? !isLoopback(c.gateway.host) : e;
}

/**
 * The safe-defaults rules, checked at parse time so a bad set-up stops before
 * it listens: auth off beyond loopback needs gateway.allowUnauthenticated, and
 * CORS "*" is only for an open gateway on loopback.
 */
export function checkAccess(c: Config): Config {
  const bad: string[] = [];
  const on = authEnabled(c);
  if (!on && !isLoopback(c.gateway.host) && !c.gateway.allowUnauthenticated) {
    bad.push(`  gateway.auth.enabled: auth is off while the gateway listens on ${c.gateway.host}, beyond loopback; anyone who reaches it may spend your upstream keys. Turn auth on, or set gateway.allowUnauthenticated: true to accept that`);
  }
  if (c.gateway.cors.origins === "*" && (on || !isLoopback(c.gateway.host))) {
    bad.push("  gateway.cors.origins: \"*\" is allowed only while auth is off on loopback; list the origins instead");
  }
  if (bad.length > 0) throw new ConfigError(`invalid config:\n${bad.join("\n")}`);
  return c;
}

/**
 * The one line a gateway logs at start while it takes calls without a key,
 * so nobody runs an open gateway unknowingly; undefined when auth is on.
 */
export function openAccessNotice(c: Config, url: string): string | undefined {
  if (authEnabled(c)) return undefined;
  const pages = c.gateway.cors.origins === "*" ? ", and so can any web page open in a browser here (gateway.cors.origins: \"*\")" : "";
  if (!isLoopback(c.gateway.host)) {
    return `auth is off beyond loopback (gateway.allowUnauthenticated: true): anyone who reaches ${url} can call the gateway and spend its upstream keys`;
  }
  const fix = c.gateway.auth.enabled === false
    ? "set gateway.auth.enabled to true or \"auto\", and drop --no-auth, to require keys"
    : "listen beyond loopback, or set gateway.auth.enabled: true, to require keys";
  return `auth is off: anyone on this machine can call the gateway at ${url}${pages} (${fix})`;
}
