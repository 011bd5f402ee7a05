// Turns the config's `nats` section into the client's credentials and TLS
// options, reading every secret and certificate once, before the first dial,
// so a missing file or env var is a config error that names the field.
import { readFileSync } from "node:fs";
import {
  AuthorizationError,
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  tokenAuthenticator,
  UserAuthenticationExpiredError,
  usernamePasswordAuthenticator,
  type Authenticator,
  type TlsOptions,
} from "@nats-io/transport-node";
import type { NatsConfig } from "../config/mod.js";
import { ConfigError } from "../contract/mod.js";

/** What connectNats hands the client, and where to point a person when the server says no. */
export interface NatsAuth {
  authenticator?: Authenticator;
  /** `servername` is Node's tls.connect option; the transport passes every field on to it. */
  tls?: TlsOptions & { servername?: string };
  /** The fields and env vars that gave the credentials, for a refusal's message. */
  authHint: string;
}

/** Reads the secrets and certificates the section names (never the config's own text: it holds none). */
export function resolveNatsAuth(n: NatsConfig, env: NodeJS.ProcessEnv = process.env): NatsAuth {
  return { ...credentials(n, env), ...(n.tls ? { tls: tlsOptions(n.tls) } : {}) };
}

function credentials(n: NatsConfig, env: NodeJS.ProcessEnv): Omit<NatsAuth, "tls"> {
  if (n.user !== undefined) {
    const pass = secret(n, "passwordEnv", "passwordFile", env);
    return { authenticator: usernamePasswordAuthenticator(n.user, pass.value), authHint: `nats.user and ${pass.from}` };
  }
  if (n.tokenEnv !== undefined || n.tokenFile !== undefined) {
    const token = secret(n, "tokenEnv", "tokenFile", env);
    return { authenticator: tokenAuthenticator(token.value), authHint: token.from };
  }
  if (n.nkeySeedFile !== undefined) {
    const seed = new TextEncoder().encode(readText(n.nkeySeedFile, "nats.nkeySeedFile").trim());
    try {
      nkeys.fromSeed(seed);
    } catch {
      throw new ConfigError(`invalid config:\n  nats.nkeySeedFile: ${n.nkeySeedFile} holds no nkey seed (SU…)`);
    }
    return { authenticator: nkeyAuthenticator(seed), authHint: "nats.nkeySeedFile (NATS_NKEY): is its public key a user on the server?" };
  }
  if (n.credsFile !== undefined) {
    const creds = readText(n.credsFile, "nats.credsFile");
    if (!creds.includes("BEGIN NATS USER JWT")) throw new ConfigError(`invalid config:\n  nats.credsFile: ${n.credsFile} is not a .creds file (no user JWT)`);
    return { authenticator: credsAuthenticator(new TextEncoder().encode(creds)), authHint: "nats.credsFile (NATS_CREDS)" };
  }
  return { authHint: "nats.user + NATS_PASSWORD, NATS_TOKEN, NATS_NKEY or NATS_CREDS (none is set)" };
}

/** A password or token from its env var, or from the first line of its file. */
function secret(n: NatsConfig, envField: "passwordEnv" | "tokenEnv", fileField: "passwordFile" | "tokenFile", env: NodeJS.ProcessEnv): { value: string; from: string } {
  const name = n[envField];
  if (name !== undefined) {
    const v = env[name];
    if (!v) throw new ConfigError(`invalid config:\n  nats.${envField}: the environment variable ${name} is not set`);
    return { value: v, from: name };
  }
  const path = n[fileField] ?? "";
  const v = readText(path, `nats.${fileField}`).split(/\r?\n/, 1)[0]?.trim() ?? "";
  if (!v) throw new ConfigError(`invalid config:\n  nats.${fileField}: ${path} is empty`);
  return { value: v, from: `nats.${fileField} (${path})` };
}

function tlsOptions(t: NonNullable<NatsConfig["tls"]>): NonNullable<NatsAuth["tls"]> {
  return {
    ...(t.caFile ? { ca: readText(t.caFile, "nats.tls.caFile") } : {}),
    ...(t.certFile ? { cert: readText(t.certFile, "nats.tls.certFile") } : {}),
    ...(t.keyFile ? { key: readText(t.keyFile, "nats.tls.keyFile") } : {}),
    ...(t.serverName ? { servername: t.serverName } : {}),
  };
}

function readText(path: string, field: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`invalid config:\n  ${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

// Node's certificate-check codes (X509_V_ERR_* by OpenSSL's short names) and its own TLS codes.
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)/;

/**
 * A first-connect failure that waiting will not fix (the server refused the
 * credentials, or TLS failed), as one line for a person; undefined for one
 * worth retrying (no server yet, a reset, a timeout).
 */
export function refusal(e: unknown, url: string, auth: NatsAuth): ConfigError | undefined {
  if (!(e instanceof Error)) return undefined;
  const at = redactUrl(url);
  if (e instanceof AuthorizationError || e instanceof UserAuthenticationExpiredError) {
    return new ConfigError(`NATS refused the credentials (${e.message}) at ${at}: check ${auth.authHint}`);
  }
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code === "string" && TLS_CODE.test(code)) {
    const hint = code === "ERR_TLS_CERT_ALTNAME_INVALID" ? "nats.tls.serverName and the URL's host" : "nats.tls.caFile (NATS_CA), or the URL";
    return new ConfigError(`TLS to NATS failed at ${at} (${e.message}): check ${hint}`);
  }
  // The client's own words when one side wants TLS and the other has none.
  if (/\btls\b/i.test(e.message)) return new ConfigError(`TLS to NATS failed at ${at} (${e.message}): check the URL (tls://) and nats.tls`);
  return undefined;
}

/** A server list (or one host:port) with any user:password@ taken out, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/(^|\/\/|,)[^/@,]*@/g, "$1");
}
