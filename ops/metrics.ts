import { Counter, Gauge, Histogram, Registry } from "prom-client";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The gateway's Prometheus metrics. Label children are looked up once per job
 * (`forModel`), not per chunk, since chunks are the hot path.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly queueWait = new Histogram({ name: "broker_queue_wait_seconds", help: "Time from submit until a worker claimed the job.", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly ttft = new Histogram({ name: "broker_time_to_first_token_seconds", help: "Time from submit until the first output reached the gateway.", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly itl = new Histogram({ name: "broker_inter_token_seconds", help: "Gap between output chunks of a job (a chunk may carry several coalesced tokens).", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly tokens = new Counter({ name: "broker_completion_tokens_total", help: "Completion tokens served; rate() gives tokens/s.", labelNames: ["model"], registers: [this.registry] });
  readonly jobs = new Counter({ name: "broker_jobs_total", help: "Jobs finished, by outcome (ok, error, cancelled).", labelNames: ["model", "outcome"], registers: [this.registry] });
  readonly rejections = new Counter({ name: "broker_rejections_total", help: "Requests refused or failed before their first token, by reason (the error code).", labelNames: ["reason"], registers: [this.registry] });
  readonly claimsAbandoned = new Counter({ name: "broker_claims_abandoned_total", help: "Claims answered 'cancelled' or 'expired': jobs dropped before running.", labelNames: ["model", "verdict"], registers: [this.registry] });
  readonly inFlight = new Gauge({ name: "broker_jobs_in_flight", help: "Jobs this gateway waits on (queued or running).", registers: [this.registry] });
  readonly queueWaiting = new Gauge({ name: "broker_queue_waiting_jobs", help: "Jobs waiting in JetStream for a worker: the autoscaling signal.", labelNames: ["model", "lane"], registers: [this.registry] });
  readonly queueRunning = new Gauge({ name: "broker_queue_running_jobs", help: "Jobs taken by workers and not yet acked.", labelNames: ["model", "lane"], registers: [this.registry] });
  readonly queueOldest = new Gauge({ name: "broker_queue_oldest_job_age_seconds", help: "Age of the oldest waiting job.", labelNames: ["model", "lane"], registers: [this.registry] });
  readonly workerSlots = new Gauge({ name: "broker_worker_slots", help: "Slots of each live worker.", labelNames: ["worker"], registers: [this.registry] });
  readonly workerInFlight = new Gauge({ name: "broker_worker_in_flight", help: "Jobs running on each live worker.", labelNames: ["worker"], registers: [this.registry] });
  readonly workerFree = new Gauge({ name: "broker_worker_free_slots", help: "Free slots of each live worker.", labelNames: ["worker"], registers: [this.registry] });

  readonly keyRequests = new Counter({ name: "broker_key_requests_total", help: "Requests per client key (its name) and public model, by code (ok or the error code).", labelNames: ["key", "model", "code"], registers: [this.registry] });
  readonly keyTokens = new Counter({ name: "broker_key_tokens_total", help: "Tokens per client key (its name) and public model, by kind (prompt, completion).", labelNames: ["key", "model", "kind"], registers: [this.registry] });

  private readonly models = new Map<string, ModelMetrics>();
  private readonly keyModels = new Map<string, Map<string, KeyModelMetrics>>();

  /**
   * Counts one request of a client key: the usage ledger's onRecord. Label
   * children are cached per key and model, so a request builds no label
   * objects. Labelled by the key's name: the secret never reaches metrics.
   */
  countKeyUsage(e: KeyUsage): void {
    let byModel = this.keyModels.get(e.keyName);
    if (!byModel) this.keyModels.set(e.keyName, (byModel = new Map()));
    let m = byModel.get(e.model);
    if (!m) {
      m = { codes: new Map(), prompt: this.keyTokens.labels(e.keyName, e.model, "prompt"), completion: this.keyTokens.labels(e.keyName, e.model, "completion") };
      byModel.set(e.model, m);
    }
    const code = e.errorCode ?? "ok";
    let requests = m.codes.get(code);
    if (!requests) m.codes.set(code, (requests = this.keyRequests.labels(e.keyName, e.model, code)));
    requests.inc();
    // prom-client refuses negative increments by throwing; a caller's bad count must not fail a request.
    if (e.promptTokens > 0) m.prompt.inc(e.promptTokens);
    if (e.completionTokens > 0) m.completion.inc(e.completionTokens);
  }

  forModel(model: string): ModelMetrics {
    let m = this.models.get(model);
    if (!m) {
      m = { queueWait: this.queueWait.labels(model), ttft: this.ttft.labels(model), itl: this.itl.labels(model), tokens: this.tokens.labels(model) };
      this.models.set(model, m);
    }
    return m;
  }
}

export interface ModelMetrics {
  queueWait: { observe(v: number): void };
  ttft: { observe(v: number): void };
  itl: { observe(v: number): void };
  tokens: { inc(v: number): void };
}

/** What countKeyUsage reads of a request (a UsageEvent is one). */
export interface KeyUsage {
  keyName: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  errorCode?: string;
}

interface KeyModelMetrics {
  codes: Map<string, { inc(): void }>;
  prompt: { inc(v: number): void };
  completion: { inc(v: number): void };
}

/** A worker's own metrics, on its metrics port. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly slots = new Gauge({ name: "broker_worker_slots", help: "Slots of this worker.", registers: [this.registry] });
  readonly inFlight = new Gauge({ name: "broker_worker_in_flight", help: "Jobs running on this worker.", registers: [this.registry] });
  readonly jobs = new Counter({ name: "broker_worker_jobs_total", help: "Jobs taken, by outcome (ok, error, cancelled, dropped_at_claim, claim_timeout).", labelNames: ["model", "outcome"], registers: [this.registry] });
  readonly duration = new Histogram({ name: "broker_worker_job_seconds", help: "Time the engine spent on a job.", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly tokens = new Counter({ name: "broker_worker_completion_tokens_total", help: "Completion tokens generated; rate() gives tokens/s.", labelNames: ["model"], registers: [this.registry] });
}
