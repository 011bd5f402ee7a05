// A stopgap until nats/auth.ts (nats.user + NATS_PASSWORD, creds, nkeys) lands:
// nats.js v3 ignores `user:password@` in a server URL (observed: the server
// answers "Authorization Violation"), so it is taken out here and passed as
// the client's user/pass options. Only the first URL's are used, as every
// server of one cluster takes the same users.

/** The user and password in the first `nats://user:pass@host` of a server list, if any. */
export function urlCredentials(servers: string): { user: string; pass: string } | undefined {
  const first = servers.split(",")[0] ?? "";
  const m = /^[a-z]+:\/\/([^:@/]+):([^@/]*)@/i.exec(first.trim());
  if (!m?.[1]) return undefined;
  return { user: decodeURIComponent(m[1]), pass: decodeURIComponent(m[2] ?? "") };
}
