// Least-privilege NATS users for the broker's two roles, as nats-server
// `permissions` blocks, and a server config that carries them. Pure: nothing
// here connects; `broker nats-config` and the tests render what it returns.
import type { Config } from "../config/mod.js";
import { Lanes, subjects } from "../contract/mod.js";
import { BUCKETS, bucketName } from "./kv.js";

export type NatsRole = "gateway" | "worker";

/** One nats-server permissions block (server/opts.go's `permissions`). */
export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  /**
   * Lets the user answer requests it received (once each) without a publish
   * grant on the requester's inbox: the gateway answers workers' claims this way.
   */
  allow_responses?: boolean;
}

export interface NatsUser {
  user: string;
  /** Plain text or a bcrypt hash (`$2a$…`); nats-server takes either. */
  password: string;
  /** Absent: everything (an operator's user, such as `broker up`'s `admin`). */
  permissions?: NatsPermissions;
}

/** The user names of the roles, as `broker nats-config` and `broker up` create them. */
export const roleUser = {
  gateway: "gateway",
  /** A gateway with a fixed `gateway.id`: it may read that id's replies and inbox only. */
  gatewayWithId: (gatewayId: string) => `gateway-${gatewayId}`,
  worker: (workerName: string) => `worker-${workerName}`,
} as const;

/**
 * A `gateway` user (or, given gateway ids, one `gateway-<id>` user per id, each reading only its
 * own replies) and a `worker-<name>` user per configured worker, each with its role's permissions;
 * `password` gives each one's.
 */
export function roleUsers(cfg: Pick<Config, "nats" | "workers">, password: (user: string) => string, gatewayIds: readonly string[] = []): NatsUser[] {
  const { prefix, jsDomain } = cfg.nats;
  const user = (name: string, permissions: NatsPermissions): NatsUser => ({ user: name, password: password(name), permissions });
  const gateways = gatewayIds.length === 0
    ? [user(roleUser.gateway, natsPermissions(prefix, "gateway", { jsDomain }))]
    : gatewayIds.map((id) => user(roleUser.gatewayWithId(id), natsPermissions(prefix, "gateway", { jsDomain, gatewayId: id })));
  return [
    ...gateways,
    ...cfg.workers.map((w) => user(roleUser.worker(w.name), natsPermissions(prefix, "worker", { jsDomain, name: w.name, models: w.models.map((m) => m.id) }))),
  ];
}

/**
 * Inbox prefixes, one per role and process. nats.js answers requests on
 * `_INBOX.<nuid>` by default, and a user allowed `_INBOX.>` would read every
 * answer on the server, claim answers (which carry passthrough keys) included.
 * Two tokens, not `_INBOX_gw_<id>`: a gateway's id is random per process and
 * nats-server has no partial-token wildcard, so `_INBOX_gw.>` is the only way
 * to grant every gateway its own inbox.
 */
export const inboxPrefix = {
  gateway: (gatewayId: string) => `_INBOX_gw.${gatewayId}`,
  worker: (workerName: string) => `_INBOX_wk.${workerName}`,
} as const;

export interface RoleOptions {
  /** The JetStream domain the processes reach the jobs through (nats.jsDomain): its API is `$JS.<domain>.API`. */
  jsDomain?: string | undefined;
  /**
   * gateway: its fixed `gateway.id`, so it reads its own replies and inbox only; absent, the user
   * may read every gateway's (gateway ids are then random per process).
   */
  gatewayId?: string;
  /** worker: the config name of the worker (its inbox and nothing else). */
  name?: string;
  /** worker: the models it serves; it may bind to their consumers only. */
  models?: readonly string[];
}

/** The permissions of a gateway or of one configured worker under `prefix`. */
export function natsPermissions(prefix: string, role: NatsRole, opts: RoleOptions = {}): NatsPermissions {
  const domainApi = opts.jsDomain ? `$JS.${opts.jsDomain}.API` : undefined;
  const api = domainApi ?? "$JS.API";
  const perms = role === "gateway" ? gatewayPermissions(prefix, api, opts.gatewayId) : workerPermissions(prefix, api, opts);
  if (!domainApi) return perms;
  // A server of the domain maps `$JS.<domain>.API.>` to its own `$JS.API.>` before it checks the
  // publish (seen with nats-server 2.9.10): a process connected to the cluster itself needs both
  // forms; one behind a leaf node is checked by its leaf's server on the first.
  const local = perms.publish.allow.filter((g) => g.startsWith(`${domainApi}.`)).map((g) => `$JS.API.${g.slice(domainApi.length + 1)}`);
  return { ...perms, publish: { allow: [...perms.publish.allow, ...local] } };
}

/**
 * Ack subjects of a stream (or one consumer): `$JS.ACK.<stream>.…`, or the
 * newer form with domain and account hash first (workers/puller.ts reads both).
 */
const acks = (streamAndConsumer: string): string[] => [`$JS.ACK.${streamAndConsumer}.>`, `$JS.ACK.*.*.${streamAndConsumer}.>`];

function gatewayPermissions(prefix: string, api: string, gatewayId: string | undefined): NatsPermissions {
  if (gatewayId !== undefined && !/^[A-Za-z0-9_-]+$/.test(gatewayId)) throw new Error(`a gateway id is letters, digits, _ and - (got '${gatewayId}')`);
  const s = subjects(prefix);
  const buckets = BUCKETS.map((w) => bucketName(prefix, w));
  // The KV buckets' streams and the detached jobs' events stream: gateways read and write them whole.
  const kvStreams = [...buckets.map((b) => `KV_${b}`), s.eventsStream];
  return {
    publish: {
      allow: [
        `${prefix}.jobs.>`,
        `${prefix}.wake.>`,
        s.controlAll,
        s.heartbeatAsk,
        `${api}.INFO`,
        // Gateways provision the jobs stream and cancel queued jobs (MSG.DELETE). On
        // its consumers they may only look (queue depth): a gateway that could create
        // one could have jobs pushed to its own inbox and act as a worker.
        `${api}.STREAM.*.${s.stream}`,
        `${api}.STREAM.MSG.*.${s.stream}`,
        `${api}.DIRECT.GET.${s.stream}`,
        `${api}.DIRECT.GET.${s.stream}.>`,
        `${api}.CONSUMER.INFO.${s.stream}.*`,
        `${api}.CONSUMER.NAMES.${s.stream}`,
        `${api}.CONSUMER.LIST.${s.stream}`,
        // The buckets are the gateways' alone: the whole API for their streams.
        ...kvStreams.flatMap((st) => [
          `${api}.STREAM.*.${st}`,
          `${api}.STREAM.MSG.*.${st}`,
          `${api}.DIRECT.GET.${st}`,
          `${api}.DIRECT.GET.${st}.>`,
          `${api}.CONSUMER.*.${st}`,
          `${api}.CONSUMER.*.${st}.>`,
          ...acks(st),
          `$JS.FC.${st}.>`,
        ]),
        ...buckets.map((b) => `$KV.${b}.>`),
        // Bookkeeping records (opened, a run's claim, an ending) in detached jobs' logs, and reading
        // them through ordered pull consumers.
        s.eventsAll,
        `${api}.CONSUMER.MSG.NEXT.${s.eventsStream}.>`,
      ],
    },
    subscribe: {
      allow: [s.replyAll(gatewayId ?? "*"), s.heartbeatAll, `${inboxPrefix.gateway(gatewayId ?? "*")}.>`, s.detachedClaimAll],
    },
    allow_responses: true,
  };
}

function workerPermissions(prefix: string, api: string, opts: RoleOptions): NatsPermissions {
  if (!opts.name) throw new Error("a worker's permissions need its name");
  const s = subjects(prefix);
  const models = opts.models ?? [];
  const consumers = models.flatMap((m) => Lanes.map((l) => s.consumer(m, l)));
  return {
    publish: {
      allow: [
        // Chunks and claim requests both go to a gateway's reply subject.
        `${prefix}.out.>`,
        // A detached job's claim goes to every gateway, its chunks into its event log.
        s.detachedClaimAll,
        s.eventsAll,
        // Its own name's heartbeats only (gateways check that a beat's worker id matches its subject).
        s.heartbeatOf(opts.name),
        `${api}.INFO`,
        `${api}.STREAM.INFO.${s.stream}`,
        ...consumers.flatMap((c) => [
          `${api}.CONSUMER.INFO.${s.stream}.${c}`,
          // 2.9 clients create with the filter in the subject; older ones by durable name.
          `${api}.CONSUMER.CREATE.${s.stream}.${c}`,
          `${api}.CONSUMER.CREATE.${s.stream}.${c}.>`,
          `${api}.CONSUMER.DURABLE.CREATE.${s.stream}.${c}`,
          `${api}.CONSUMER.MSG.NEXT.${s.stream}.${c}`,
          // ack, nak, in-progress and term all go to the message's reply subject.
          ...acks(`${s.stream}.${c}`),
        ]),
      ],
    },
    subscribe: {
      allow: [
        `${inboxPrefix.worker(opts.name)}.>`,
        s.controlOf(opts.name),
        s.heartbeatAsk,
        ...models.map((m) => s.wakeAll(m)),
      ],
    },
  };
}

/**
 * The `authorization` block for these users. Passwords are written as given:
 * plain text works, and a bcrypt hash (`nats server passwd`) keeps the file
 * free of secrets; `broker nats-config` writes plain ones.
 */
export function natsAuthorization(users: readonly NatsUser[]): string {
  const rendered = users.map((u) => `    ${JSON.stringify({ user: u.user, password: u.password, permissions: u.permissions })}`);
  // JSON is valid nats-server config syntax, so no escaping rules of our own.
  return `authorization {\n  users = [\n${rendered.join(",\n")}\n  ]\n}\n`;
}

/** A whole nats-server config: the users above and JetStream on (store_dir and listen left to the operator). */
export function natsServerConfig(users: readonly NatsUser[]): string {
  return `# Generated by broker nats-config: one user per role, least privilege.\n${natsAuthorization(users)}jetstream {}\n`;
}
