// Operators' views, served alike by every front (HTTP /admin/*, gRPC Admin):
// the live workers, and queue depth per model and lane. Depth comes from
// JetStream, so every gateway replica reports the same numbers. Fronts only
// rename fields into their wire format.
import type { JetStreamManager } from "@nats-io/jetstream";
import { BrokerError } from "../contract/mod.js";
import { queueStats, type QueueStats, type WorkerRegistry } from "../jobs/mod.js";
import type { JobOwner } from "./jobs.js";
import type { ModelDirectory } from "./routes.js";

export interface AdminDeps {
  registry: Pick<WorkerRegistry, "list">;
  routes: Pick<ModelDirectory, "servedModels">;
  jsm: JetStreamManager;
  /** The NATS subject prefix (config nats.prefix). */
  prefix: string;
  jobs: Pick<JobOwner, "connected">;
}

/** One live worker, as the gRPC Admin service's WorkerInfo names its fields. */
export interface WorkerView {
  id: string;
  hostname: string;
  models: { model: string; engine: string; completed: number; jobsPerS: number }[];
  slots: number;
  inFlight: number;
  draining: boolean;
  lastHeartbeatUnixMs: number;
}

export class AdminViews {
  constructor(private readonly deps: AdminDeps) {}

  workers(): WorkerView[] {
    return this.deps.registry.list().map((w) => ({
      id: w.id,
      hostname: w.hostname,
      models: w.models.map((m) => ({ model: m.model, engine: m.engine, completed: m.completed, jobsPerS: Number(m.ratePerS.toFixed(3)) })),
      slots: w.slots,
      inFlight: w.inFlight,
      draining: w.draining,
      lastHeartbeatUnixMs: w.lastSeenMs,
    }));
  }

  /**
   * Every lane of the given model, or of every model workers are asked for.
   * @throws BrokerError 503 when the gateway has lost NATS; other failures as they come.
   */
  async queues(model?: string): Promise<QueueStats[]> {
    const models = model ? [model] : this.deps.routes.servedModels();
    try {
      return await queueStats(this.deps.jsm, this.deps.prefix, models);
    } catch (e) {
      if (this.deps.jobs.connected) throw e;
      throw new BrokerError("nats_unavailable", "The broker has lost its connection to NATS; retry shortly.", { retryAfterS: 1 });
    }
  }
}
