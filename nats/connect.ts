import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { NatsConfig } from "../config/mod.js";
import { ConfigError } from "../contract/mod.js";
import type { Logger } from "../ops/mod.js";
import { redactUrl, refusal, resolveNatsAuth } from "./auth.js";
import { serverVerifiesClients } from "./client-cert-probe.js";

const RETRY_MS = 250;

/**
 * Connects for the long haul, the same way in every process (credentials and
 * TLS from the `nats` section): waits for a server that is not up yet, but
 * stops at once, with one line, when the server refuses the credentials or
 * TLS fails, since waiting cannot fix those. Once connected it reconnects
 * forever (a NATS restart must not end a gateway or worker). Async stack
 * traces on requests are off: they cost 13% of the gateway's CPU in the
 * prototype's profile.
 */
export async function connectNats(nats: NatsConfig, name: string, log: Logger, opts: { once?: boolean; env?: NodeJS.ProcessEnv; inboxPrefix?: string } = {}): Promise<NatsConnection> {
  const auth = resolveNatsAuth(nats, opts.env);
  const options: NodeConnectionOptions = {
    servers: nats.url.split(","),
    name,
    noAsyncTraces: true,
    // A one-shot command (the CLI) fails at once with a clear message instead of waiting for a server.
    maxReconnectAttempts: opts.once ? 0 : -1,
    reconnectTimeWait: RETRY_MS,
    // The first connection is retried below, not by the client, which would retry a refusal forever.
    waitOnFirstConnect: false,
    timeout: 5000,
    ...(auth.authenticator ? { authenticator: auth.authenticator } : {}),
    ...(auth.tls ? { tls: auth.tls } : {}),
    // Per-role inboxes (nats/roles.ts), so a user can be granted its own answers only.
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
  };
  // Asked before the first dial: a server that wants a client certificate this process lacks
  // would only time out, like one that is not up yet, forever.
  if (auth.tls && auth.tls.cert === undefined && (await serverVerifiesClients(nats.url))) {
    throw new ConfigError(`TLS to NATS failed at ${redactUrl(nats.url)}: check nats.tls.certFile and keyFile (NATS_CERT, NATS_KEY): this server verifies client certificates`);
  }
  for (let waiting = false; ; waiting = true) {
    try {
      const nc = await connect(options);
      if (waiting) log.info({ nats: redactUrl(nats.url) }, "connected to NATS");
      void watchStatus(nc, log);
      return nc;
    } catch (e) {
      const refused = refusal(e, nats.url, auth);
      if (refused) throw refused;
      const why = e instanceof Error ? e.message : String(e);
      if (opts.once) throw new ConfigError(`cannot reach NATS at ${redactUrl(nats.url)} (${why}); set NATS_URL or nats.url`);
      if (!waiting) log.warn({ nats: redactUrl(nats.url), err: why }, "waiting for NATS");
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
      // An error's message names what failed, e.g. the subject of a permissions violation.
      const err = "error" in s && s.error instanceof Error ? s.error.message : undefined;
      log.warn({ nats: s.type, server: "server" in s && typeof s.server === "string" ? redactUrl(s.server) : undefined, err }, `nats ${s.type}`);
    }
  }
}

/** Whether a connection is up, and a way to wait for it to come back. */
export interface Connected {
  readonly up: boolean;
  /** Resolves true once the connection is up (at once when it is), false after `ms`. */
  whenUp(ms: number): Promise<boolean>;
  /** Calls `fn` each time the connection comes back. */
  onReconnect(fn: () => void): void;
}

/** Tracks whether the connection is up, so callers can fail fast with 503, or wait a bounded time for a reconnect. */
export function trackConnected(nc: NatsConnection): Connected {
  let up = true;
  const waiters = new Set<() => void>();
  const reconnected: (() => void)[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") up = false;
      else if (s.type === "reconnect") {
        up = true;
        for (const w of waiters) w();
        waiters.clear();
        for (const fn of reconnected) fn();
      }
    }
  })();
  return {
    get up() {
      return up;
    },
    whenUp: (ms) => {
      if (up) return Promise.resolve(true);
      if (ms <= 0) return Promise.resolve(false);
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(done);
          resolve(false);
        }, ms);
        waiters.add(done);
      });
    },
    onReconnect: (fn) => void reconnected.push(fn),
  };
}
