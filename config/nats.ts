// The `nats` section: where NATS is, and how every process (gateway, worker,
// CLI) proves who it is. Secrets are named, never held: the config says which
// env var or file carries a password, token or key, so the parsed config can
// be printed or logged without leaking one.
import { z } from "zod";
import { ConfigError } from "../contract/mod.js";

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name");
const file = z.string().min(1);

const NatsTls = z.strictObject({
  /** PEM CA that signed the server's certificate (default: the system's CAs). */
  caFile: file.optional(),
  /** Client certificate and key, for a server that verifies clients (mutual TLS). */
  certFile: file.optional(),
  keyFile: file.optional(),
  /** The name the server's certificate must carry, when it differs from the URL's host. */
  serverName: z.string().min(1).optional(),
}).refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
  message: "give certFile and keyFile together (mutual TLS), or neither",
  path: ["certFile"],
});

/** The auth fields, one group per method; a config names at most one group. */
const METHODS = {
  "user + passwordEnv or passwordFile": ["user", "passwordEnv", "passwordFile"],
  "tokenEnv or tokenFile": ["tokenEnv", "tokenFile"],
  nkeySeedFile: ["nkeySeedFile"],
  credsFile: ["credsFile"],
} as const;
type AuthField = (typeof METHODS)[keyof typeof METHODS][number];
const AUTH_FIELDS: readonly AuthField[] = Object.values(METHODS).flat();

export const NatsSection = z.strictObject({
  url: z.string().default("nats://127.0.0.1:4222"),
  /** Subject and stream prefix: lets several brokers share one NATS. */
  prefix: z.string().regex(/^[a-z][a-z0-9_-]*$/, "lowercase letters, digits, _ and -").default("infer"),
  /**
   * The JetStream domain of the cluster that holds the jobs (NATS_JS_DOMAIN): needed by a process
   * that connects through a leaf node, whose server has no JetStream of its own.
   */
  jsDomain: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and -").optional(),
  /** User name; the password comes from passwordEnv or passwordFile. */
  user: z.string().min(1).optional(),
  passwordEnv: envName.optional(),
  passwordFile: file.optional(),
  /** A token; from an env var or a file (first line). */
  tokenEnv: envName.optional(),
  tokenFile: file.optional(),
  /** An nkey user's seed (SU…), as `nsc` or `nk -gen user` writes it. */
  nkeySeedFile: file.optional(),
  /** A decentralized-auth `.creds` file (user JWT and seed). */
  credsFile: file.optional(),
  /** TLS options for tls:// URLs or a server that requires TLS. */
  tls: NatsTls.optional(),
}).superRefine((n, ctx) => {
  const used = Object.entries(METHODS).filter(([, fields]) => fields.some((f) => n[f] !== undefined));
  if (used.length > 1) {
    const found = AUTH_FIELDS.filter((f) => n[f] !== undefined).join(", ");
    ctx.addIssue({ code: "custom", path: [], message: `give one way to authenticate: ${Object.keys(METHODS).join(", or ")} (found ${found})` });
    return;
  }
  const hasPassword = n.passwordEnv !== undefined || n.passwordFile !== undefined;
  if (n.user !== undefined && !hasPassword) ctx.addIssue({ code: "custom", path: ["passwordEnv"], message: "user needs passwordEnv or passwordFile" });
  if (n.user === undefined && hasPassword) ctx.addIssue({ code: "custom", path: ["user"], message: "a password needs a user" });
  if (n.passwordEnv !== undefined && n.passwordFile !== undefined) {
    ctx.addIssue({ code: "custom", path: ["passwordFile"], message: "give passwordEnv or passwordFile, not both" });
  }
  if (n.tokenEnv !== undefined && n.tokenFile !== undefined) {
    ctx.addIssue({ code: "custom", path: ["tokenFile"], message: "give tokenEnv or tokenFile, not both" });
  }
});

export type NatsConfig = z.infer<typeof NatsSection>;

/**
 * The env vars the `nats` CLI reads, so one shell set-up serves both, and
 * NATS_PASSWORD_FILE (ours: the path of a file holding the password). Each
 * names the secret's place (an env var name or a file path), never the
 * secret, and replaces whatever way to authenticate the file gave.
 */
export function applyNatsEnv(nats: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const groups = [
    env.NATS_USER || env.NATS_PASSWORD || env.NATS_PASSWORD_FILE ? "NATS_USER/NATS_PASSWORD" : "",
    env.NATS_TOKEN ? "NATS_TOKEN" : "",
    env.NATS_NKEY ? "NATS_NKEY" : "",
    env.NATS_CREDS ? "NATS_CREDS" : "",
  ].filter(Boolean);
  if (groups.length > 1) throw new ConfigError(`invalid config:\n  ${groups.join(", ")}: set only one way to authenticate to NATS`);
  if (env.NATS_PASSWORD && env.NATS_PASSWORD_FILE) throw new ConfigError("invalid config:\n  NATS_PASSWORD, NATS_PASSWORD_FILE: set the password or the file that holds it, not both");
  const clearExcept = (keep: readonly AuthField[]): void => {
    for (const f of AUTH_FIELDS) if (!keep.includes(f)) delete nats[f];
  };
  if (env.NATS_USER || env.NATS_PASSWORD || env.NATS_PASSWORD_FILE) {
    // Either half alone keeps the file's other half (its user, or its password source).
    clearExcept(METHODS["user + passwordEnv or passwordFile"]);
    if (env.NATS_USER) nats.user = env.NATS_USER;
    if (env.NATS_PASSWORD) {
      delete nats.passwordFile;
      nats.passwordEnv = "NATS_PASSWORD";
    }
    // The path of a file holding the password: what `broker up` gives its workers, so the secret is in neither env nor argv.
    if (env.NATS_PASSWORD_FILE) {
      delete nats.passwordEnv;
      nats.passwordFile = env.NATS_PASSWORD_FILE;
    }
  }
  if (env.NATS_TOKEN) {
    clearExcept([]);
    nats.tokenEnv = "NATS_TOKEN";
  }
  if (env.NATS_NKEY) {
    clearExcept([]);
    nats.nkeySeedFile = env.NATS_NKEY;
  }
  if (env.NATS_CREDS) {
    clearExcept([]);
    nats.credsFile = env.NATS_CREDS;
  }
  const tlsEnv = { caFile: env.NATS_CA, certFile: env.NATS_CERT, keyFile: env.NATS_KEY };
  if (Object.values(tlsEnv).some(Boolean)) {
    const tls = typeof nats.tls === "object" && nats.tls !== null && !Array.isArray(nats.tls) ? (nats.tls as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(tlsEnv)) if (v) tls[k] = v;
    nats.tls = tls;
  }
}
