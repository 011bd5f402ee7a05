import type { Config, GatewayModelConfig } from "../broker/config.js";
import { BrokerError } from "../broker/errors.js";
import type { WorkerRegistry } from "../broker/registry.js";

export interface ModelCard {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/**
 * Which model ids this gateway answers for: configured ones and any a live
 * worker serves. The routing table of a later issue replaces this.
 */
export class ModelCatalog {
  private readonly configured = new Map<string, GatewayModelConfig>();
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(cfg: Config, private readonly registry: WorkerRegistry) {
    for (const m of cfg.gateway.models) this.configured.set(m.id, m);
  }

  /** Throws 404 for unknown ids and 503 for known ones that nobody serves and that may not queue. */
  resolve(model: string): { maxQueueWaitMs: number } {
    const conf = this.configured.get(model);
    const found = { maxQueueWaitMs: conf?.maxQueueWaitMs ?? 0 };
    if (this.registry.isLive(model)) return found;
    if (!conf) {
      throw new BrokerError("model_not_found", `The model '${model}' does not exist or you do not have access to it.`, { param: "model" });
    }
    if (!conf.queueWithoutWorkers) {
      throw new BrokerError("model_unavailable", `No worker is serving the model '${model}' right now. Retry later.`, { retryAfterS: 5 });
    }
    return found;
  }

  /** Listed: live models, and configured ones that accept jobs while no worker is up. */
  card(id: string): ModelCard | undefined {
    const conf = this.configured.get(id);
    if (!this.registry.isLive(id) && !conf?.queueWithoutWorkers) return undefined;
    return { id, object: "model", created: this.created, owned_by: conf?.ownedBy ?? "broker" };
  }

  /** Every model id this gateway knows: configured or served by a live worker. */
  modelIds(): string[] {
    return [...new Set([...this.configured.keys(), ...this.registry.liveModels().keys()])].sort();
  }

  list(): ModelCard[] {
    return this.modelIds().flatMap((id) => this.card(id) ?? []);
  }
}
