import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../ops/mod.js";
import { urlCredentials } from "./url-credentials.js";

/**
 * Connects for the long haul: reconnects forever (a NATS restart must not end
 * a gateway or worker), and skips async stack traces on requests, which cost
 * 13% of the gateway's CPU in the prototype's profile.
 */
export async function connectNats(url: string, name: string, log: Logger, opts: { once?: boolean; inboxPrefix?: string } = {}): Promise<NatsConnection> {
  const nc = await connect({
    servers: url.split(","),
    name,
    noAsyncTraces: true,
    // A one-shot command (the CLI) fails at once with a clear message instead of waiting for a server.
    maxReconnectAttempts: opts.once ? 0 : -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: !opts.once,
    timeout: 5000,
    // Per-role inboxes (nats/roles.ts), so a user can be granted its own answers only.
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    ...urlCredentials(url),
  });
  void watchStatus(nc, log);
  return nc;
}

async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
      log.warn({ nats: s.type, server: "server" in s ? s.server : undefined }, `nats ${s.type}`);
    }
  }
}

/** Tracks whether the connection is up, so callers can fail fast with 503 instead of waiting for a timeout. */
export function trackConnected(nc: NatsConnection): { readonly up: boolean } {
  const state = { up: true };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") state.up = false;
      else if (s.type === "reconnect") state.up = true;
    }
  })();
  return state;
}
