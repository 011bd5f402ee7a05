// The gateway's composition root: config in, one NATS connection, one job
// owner, one routing table, one guard (keys, limits, usage) and one inference
// service, handed to both fronts (HTTP/OpenAI and gRPC).
import type { FastifyInstance } from "fastify";
import { nuid } from "@nats-io/transport-node";
import { bucketName, connectNats, ensureJobStream, inboxPrefix, openBucket } from "../nats/mod.js";
import { GatewayMetrics, type Logger } from "../ops/mod.js";
import { DetachedJobs, EventLog, JobClient, WorkerRegistry } from "../jobs/mod.js";
import { subjects } from "../contract/mod.js";
import { authEnabled, type Config } from "../config/mod.js";
import { KeyStore, LIMITS_TTL_MS, Limiter, USAGE_TTL_MS, UsageLedger } from "../access/mod.js";
import { startGrpcFront, type GrpcFront } from "../grpc/mod.js";
import { AdminViews, Guard, InferenceService, ModelCatalog } from "../core/mod.js";
import { buildMetricsServer, buildServer, ResponseStore } from "../http/mod.js";
import { adminKeyOf } from "./admin-key.js";

export interface GatewayHandle {
  /** http://host:port the facade listens on. */
  readonly url: string;
  /** host:port of the gRPC front; undefined when gateway.grpcPort is not set. */
  readonly grpcAddress: string | undefined;
  /** http://host:port of the metrics-only listener; undefined when gateway.metricsPort is not set. */
  readonly metricsUrl: string | undefined;
  readonly app: FastifyInstance;
  /** The usage ledger requests are recorded in (shared by every gateway through NATS KV). */
  readonly usage: UsageLedger;
  /** Stops accepting, lets open requests finish (up to drainTimeoutMs), then disconnects. */
  close(): Promise<void>;
}

export async function startGateway(cfg: Config, log: Logger): Promise<GatewayHandle> {
  // Fixed before connecting: the inbox prefix carries it (nats/roles.ts), and the job client takes it from cfg.
  cfg = { ...cfg, gateway: { ...cfg.gateway, id: cfg.gateway.id || nuid.next() } };
  const nc = await connectNats(cfg.nats, "gateway", log, { inboxPrefix: inboxPrefix.gateway(cfg.gateway.id) });
  const jsm = await ensureJobStream(nc, cfg, log);
  const registry = new WorkerRegistry(nc, subjects(cfg.nats.prefix), log);
  await registry.start();
  const metrics = new GatewayMetrics();
  const usageKv = await openBucket(nc, bucketName(cfg.nats.prefix, "usage"), { replicas: cfg.queue.replicas, domain: cfg.nats.jsDomain, ttlMs: USAGE_TTL_MS, log });
  const usage = new UsageLedger(usageKv, { flushMs: cfg.gateway.auth.usageFlushMs, log, onRecord: (e) => metrics.countKeyUsage(e) });
  const responses = new ResponseStore(
    await openBucket(nc, bucketName(cfg.nats.prefix, "responses"), { replicas: cfg.queue.replicas, domain: cfg.nats.jsDomain, ttlMs: cfg.responses.retentionMs, log }),
  );
  const jobs = new JobClient(nc, jsm, cfg, registry, log, metrics);
  jobs.start();
  const detached = new DetachedJobs(nc, await EventLog.open(nc, jsm, cfg, log), jobs, registry, cfg, log);
  detached.start();
  const catalog = new ModelCatalog(cfg, registry);
  const keys = authEnabled(cfg) ? await KeyStore.open(nc, cfg, log) : undefined;
  const limiter = keys && new Limiter(
    await openBucket(nc, bucketName(cfg.nats.prefix, "limits"), { replicas: cfg.queue.replicas, domain: cfg.nats.jsDomain, ttlMs: LIMITS_TTL_MS, log }),
    { gatewayId: jobs.gatewayId, log },
  );
  const adminKey = keys ? adminKeyOf(cfg) : undefined;
  if (keys && !adminKey) log.warn(`no admin key (${cfg.gateway.adminKeyEnv} or gateway.adminKeyFile): /admin/*, /metrics and the gRPC Admin service refuse every caller`);
  const guard = new Guard({
    upstreamKeyHeader: cfg.gateway.auth.upstreamKeyHeader, usage, ...(keys ? { keys } : {}), ...(limiter ? { limits: limiter } : {}), ...(adminKey ? { adminKey } : {}),
  });
  const service = new InferenceService(jobs, catalog, guard, detached);
  const admin = new AdminViews({ registry, routes: catalog, jsm, prefix: cfg.nats.prefix, jobs });
  let draining = false;
  const views = { admin, registry, inFlight: () => jobs.inFlight, metrics };
  const app = buildServer(cfg, {
    service,
    catalog,
    ...views,
    log,
    usage,
    responses,
    readiness: {
      notReadyReason: () => (draining ? "shutting down" : jobs.connected ? null : "no connection to NATS"),
      capacity: () => ({ workers: registry.list().filter((w) => !w.draining).length, models: [...registry.liveModels().keys()].sort() }),
    },
  });
  const metricsApp = cfg.gateway.metricsPort === undefined ? undefined : buildMetricsServer(views, log);
  let grpcFront: GrpcFront | undefined;

  const close = async (): Promise<void> => {
    draining = true;
    const serverClosed = app.close();
    const grpcClosed = grpcFront?.close();
    // A scraper may read the drain's last numbers until the API is closed too.
    const metricsClosed = metricsApp?.close();
    await jobs.drain(cfg.gateway.drainTimeoutMs);
    await grpcClosed;
    // Background jobs run on without this process; it only stops answering their claims and following them.
    detached.stop();
    service.background?.close();
    jobs.stop();
    // Keep-alive sockets that went idle after their last response would hold close() for the keep-alive timeout.
    app.server.closeIdleConnections();
    await Promise.race([serverClosed, new Promise((r) => setTimeout(r, 1000))]);
    app.server.closeAllConnections();
    await serverClosed;
    metricsApp?.server.closeAllConnections();
    await metricsClosed;
    registry.stop();
    keys?.stop();
    // After the drain: leases and concurrency holds go back for the other gateways.
    await limiter?.stop();
    // After the drain, so the requests that finished during it are in the last flush.
    await usage.stop();
    await nc.drain();
    log.info("gateway stopped");
  };

  try {
    await app.listen({ host: cfg.gateway.host, port: cfg.gateway.port });
    grpcFront = cfg.gateway.grpcPort === undefined ? undefined : await startGrpcFront(
      {
        jobs, catalog, registry, jsm, prefix: cfg.nats.prefix, log, priorityHeader: cfg.gateway.priorityHeader, guard, limits: cfg.gateway.inputLimits,
        onFailure: (code) => metrics.rejections.labels(code).inc(),
      },
      { host: cfg.gateway.host, port: cfg.gateway.grpcPort, tls: cfg.gateway.grpcTls, maxTimeoutMs: cfg.gateway.requestTimeoutMs, drainTimeoutMs: cfg.gateway.drainTimeoutMs, maxMessageBytes: cfg.gateway.bodyLimitBytes },
    );
    await metricsApp?.listen({ host: cfg.gateway.metricsHost, port: cfg.gateway.metricsPort });
  } catch (e) {
    // A port in use must not leave the listeners that did start, or the NATS connection, behind.
    await close();
    throw e;
  }
  const url = urlOf(cfg.gateway.host, app, cfg.gateway.port);
  const metricsUrl = metricsApp && urlOf(cfg.gateway.metricsHost, metricsApp, cfg.gateway.metricsPort ?? 0);
  log.info({ url, grpcPort: grpcFront?.port, metricsUrl, gateway: jobs.gatewayId }, "gateway listening");

  let closed: Promise<void> | undefined;
  const grpcAddress = grpcFront ? `${cfg.gateway.host}:${grpcFront.port}` : undefined;
  return { url, grpcAddress, metricsUrl, app, usage, close: () => (closed ??= close()) };
}

/** http://host:port of a listening server, with the port it really got (config port 0). */
function urlOf(host: string, app: FastifyInstance, configured: number): string {
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : configured;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
