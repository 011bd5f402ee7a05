// The routing table: which workers' queue a public model id reaches, and
// the fallback chain. One instance per gateway, shared by every front.
import { BrokerError } from "../contract/mod.js";
import { type Config, type GatewayModelConfig } from "../config/mod.js";
import { type WorkerRegistry } from "../jobs/mod.js";

/** One place a request may go. */
export interface RouteTarget {
  publicId: string;
  model: string;
  upstreamModel: string;
  passthroughKey: boolean;
  queueWithoutWorkers: boolean;
  maxQueueWaitMs: number;
  live: boolean;
}

/** A route's targets in order, and when to move on. */
export interface RoutePlan {
  route: string;
  targets: RouteTarget[];
  fallback: { onNoWorker: boolean; onQueueWaitMs: number; onError: boolean };
}

/** The routing table as the core uses it; ModelCatalog is the one in production, tests may fake it. */
export interface ModelDirectory {
  /** @throws BrokerError 404 for ids nothing routes. */
  plan(model: string): RoutePlan;
  /** Models to list: usable routes and models live workers serve. */
  list(): { id: string; owned_by: string; created: number }[];
  /** The models workers are asked for: the queues that exist. */
  servedModels(): string[];
}

export interface ModelCard {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/** The 404 for a model id nothing routes, and for one a key may not use: the two must look the same. */
export const notFound = (model: string): BrokerError =>
  new BrokerError("model_not_found", `The model '${model}' does not exist or you do not have access to it.`, { param: "model" });

/**
 * The routing table: exact ids, aliases, prefixes and fallback chains from
 * config, plus any model a live worker serves under its own name.
 */
export class ModelCatalog implements ModelDirectory {
  private readonly exact = new Map<string, GatewayModelConfig>();
  private readonly prefixes: GatewayModelConfig[];
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(cfg: Config, private readonly registry: WorkerRegistry) {
    for (const m of cfg.gateway.models) if (m.id !== undefined) this.exact.set(m.id, m);
    // Longest prefix first, so "openai/gpt-4o/" beats "openai/".
    this.prefixes = cfg.gateway.models.filter((m) => m.prefix !== undefined).sort((a, b) => (b.prefix ?? "").length - (a.prefix ?? "").length);
  }

  /** The targets for a public model id; throws 404 for ids nothing routes. */
  plan(model: string): RoutePlan {
    const route = this.exact.get(model);
    if (route?.chain) {
      const targets = route.chain.map((id) => this.target(id, 1));
      return { route: model, targets, fallback: route.fallback };
    }
    const t = this.target(model, 0);
    return { route: model, targets: [t], fallback: route?.fallback ?? { onNoWorker: false, onQueueWaitMs: 0, onError: false } };
  }

  private target(publicId: string, depth: number): RouteTarget {
    const route = this.exact.get(publicId) ?? this.prefixes.find((p) => publicId.startsWith(p.prefix ?? "\0"));
    if (route?.chain) {
      if (depth > 0) throw new BrokerError("invalid_request", `The route '${publicId}' is a chain inside a chain; the config must name plain targets.`);
      return this.target(route.chain[0] ?? publicId, depth + 1);
    }
    let model = publicId;
    let upstreamModel = route?.upstreamModel ?? "";
    if (route?.prefix !== undefined) {
      model = route.model ?? route.prefix;
      upstreamModel ||= publicId.slice(route.prefix.length);
    } else if (route?.model) {
      model = route.model;
    }
    const live = this.registry.isLive(model);
    if (!route && !live) throw notFound(publicId);
    return {
      publicId,
      model,
      upstreamModel,
      passthroughKey: route?.passthroughKey ?? false,
      queueWithoutWorkers: route?.queueWithoutWorkers ?? false,
      maxQueueWaitMs: route?.maxQueueWaitMs ?? 0,
      live,
    };
  }

  /** Listed: exact routes and aliases that are live or may queue, and models live workers serve. */
  card(id: string): ModelCard | undefined {
    const route = this.exact.get(id);
    let usable: boolean;
    try {
      usable = this.plan(id).targets.some((t) => t.live || t.queueWithoutWorkers);
    } catch {
      usable = false;
    }
    if (!usable) return undefined;
    return { id, object: "model", created: this.created, owned_by: route?.ownedBy ?? "broker" };
  }

  /** Every public id this gateway can name (prefix routes cannot be listed). */
  modelIds(): string[] {
    return [...new Set([...this.exact.keys(), ...this.registry.liveModels().keys()])].sort();
  }

  /** The models workers are asked for: what queues exist. */
  servedModels(): string[] {
    const served = new Set(this.registry.liveModels().keys());
    for (const [id, r] of this.exact) if (!r.chain) served.add(r.model ?? id);
    for (const r of this.prefixes) served.add(r.model ?? r.prefix ?? "");
    return [...served].filter(Boolean).sort();
  }

  list(): ModelCard[] {
    return this.modelIds().flatMap((id) => this.card(id) ?? []);
  }
}
