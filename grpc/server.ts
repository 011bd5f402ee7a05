// The gRPC front: Inference and Admin from proto/inference/v1/service.proto,
// the standard grpc.health.v1 service, and server reflection (grpcurl,
// grpcui and Postman work without the .proto), on its own port next to the
// HTTP facade, through the same JobClient.
import { readFileSync } from "node:fs";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Logger } from "../ops/mod.js";
import type { WorkerRegistry } from "../jobs/mod.js";
import { adminHandlers } from "./admin.js";
import type { CallDeps } from "./call.js";
import { AdminViews, Guard, InferenceService, type InputLimits, type JobOwner, type ModelDirectory } from "../core/mod.js";
import { loadPackage, serviceDefinitions } from "./definitions.js";
import { inferenceHandlers, type CallTracker } from "./inference.js";

export type { ModelDirectory, RoutePlan, RouteTarget } from "../core/mod.js";

export interface GrpcFrontDeps {
  jobs: JobOwner;
  /** Model resolution and listing: the gateway's one routing table (core ModelCatalog). */
  catalog: ModelDirectory;
  registry: Pick<WorkerRegistry, "list">;
  jsm: JetStreamManager;
  /** The NATS subject prefix (config nats.prefix). */
  prefix: string;
  log: Logger;
  /** Metadata key that picks a priority lane; default "x-priority", "" ignores it. */
  priorityHeader?: string;
  onFailure?: (code: string) => void;
  /** Keys, limits and the admin key; absent: an open front (tests of the transport alone). */
  guard?: Guard;
  /** The bounds every request is checked against (config gateway.inputLimits), as on the HTTP front. */
  limits: InputLimits;
}

export interface GrpcFrontOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM files; without them the port speaks plaintext (h2c). */
  tls?: { certFile: string; keyFile: string; caFile?: string; requireClientCert?: boolean };
  /** Longest job life (gateway.requestTimeoutMs): caps a call's deadline, and is the deadline of a call without one. */
  maxTimeoutMs?: number;
  /** close(): how long calls holding a job may finish (gateway.drainTimeoutMs). Default 30 s. */
  drainTimeoutMs?: number;
  /** Largest request message; default 8 MiB, as the HTTP body limit. */
  maxMessageBytes?: number;
}

export interface GrpcFront {
  readonly port: number;
  /** Stops accepting, lets calls with a job finish (up to drainTimeoutMs), then closes every connection. */
  close(): Promise<void>;
}

const HEALTH_SERVICES = ["", "inference.v1.Inference", "inference.v1.Admin"] as const;

// Keepalive for streams that stay open for minutes: ping every minute so a
// client that vanished without a FIN is noticed (its call is cancelled and
// so its job) within about 80 s, and so idle NAT and load-balancer entries
// stay open. grpc-js servers do not police client pings, so clients may ping
// as often as every 10 s.
const KEEPALIVE = {
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 20_000,
  "grpc.keepalive_permit_without_calls": 1,
} as const;

/**
 * Starts the gRPC front. Keys come as `authorization: Bearer <key>` metadata
 * and are checked by the core's guard, as for HTTP; health and reflection
 * stay open.
 */
export async function startGrpcFront(deps: GrpcFrontDeps, opts: GrpcFrontOptions): Promise<GrpcFront> {
  const pkg = loadPackage();
  const defs = serviceDefinitions(pkg);
  const server = new Server({ ...KEEPALIVE, "grpc.max_receive_message_length": opts.maxMessageBytes ?? 8 * 1024 * 1024 });
  const tracker: CallTracker = { active: 0 };
  const guard = deps.guard ?? new Guard({ upstreamKeyHeader: "x-upstream-authorization" });
  const callDeps: CallDeps = {
    service: new InferenceService(deps.jobs, deps.catalog, guard),
    guard,
    log: deps.log,
    priorityHeader: deps.priorityHeader ?? "x-priority",
    maxTimeoutMs: opts.maxTimeoutMs,
    limits: deps.limits,
    ...(deps.onFailure ? { onFailure: deps.onFailure } : {}),
  };
  const inference = { ChatCompletion: defs.chat.server, Completion: defs.completion.server, Embed: defs.embed.server, ListModels: defs.listModels.server };
  const admin = { ListWorkers: defs.listWorkers.server, QueueStats: defs.queueStats.server };
  // The handlers are typed per method; grpc-js takes them untyped.
  server.addService(inference as ServiceDefinition, inferenceHandlers(callDeps, tracker) as UntypedServiceImplementation);
  server.addService(
    admin as ServiceDefinition,
    adminHandlers(new AdminViews({ registry: deps.registry, routes: deps.catalog, jsm: deps.jsm, prefix: deps.prefix, jobs: deps.jobs }), guard, deps.log) as UntypedServiceImplementation,
  );

  let closing = false;
  const status = (): ServingStatus => (!closing && deps.jobs.connected ? "SERVING" : "NOT_SERVING");
  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, status()])));
  health.addToServer(server);
  // Watchers hear of a NATS outage within a second.
  let last = status();
  const poll = setInterval(() => {
    const now = status();
    if (now === last) return;
    last = now;
    for (const s of HEALTH_SERVICES) health.setStatus(s, now);
  }, 1000);
  poll.unref();
  new ReflectionService(pkg).addToServer(server);

  const creds = opts.tls
    ? ServerCredentials.createSsl(
        opts.tls.caFile ? readFileSync(opts.tls.caFile) : null,
        [{ private_key: readFileSync(opts.tls.keyFile), cert_chain: readFileSync(opts.tls.certFile) }],
        opts.tls.requireClientCert ?? false,
      )
    : ServerCredentials.createInsecure();
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port}`, creds, (err, p) => (err ? reject(err) : resolve(p))));
  deps.log.info({ host: opts.host, port, tls: Boolean(opts.tls) }, "grpc front listening");

  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    closing = true;
    clearInterval(poll);
    for (const s of HEALTH_SERVICES) health.setStatus(s, "NOT_SERVING");
    // No new calls or connections from here on; open calls go on.
    server.tryShutdown(() => undefined);
    const until = Date.now() + (opts.drainTimeoutMs ?? 30_000);
    while (tracker.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    // Health watchers never end by themselves, and calls past the drain time are cut.
    server.forceShutdown();
    deps.log.info("grpc front stopped");
  };
  return { port, close: () => (closed ??= close()) };
}
