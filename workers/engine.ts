import type { Delta, InferenceJob, Usage } from "../contract/mod.js";

/**
 * Where an engine writes its output. Deltas may be emitted as often as tokens
 * arrive: the runtime coalesces them into few NATS messages.
 */
export interface DeltaSink {
  delta(d: Delta): void;
}

/** What an engine reports when a job is done. */
export interface RunResult {
  usage: Usage;
  /** The model that served the job, as the engine names it (defaults to the job's model). */
  model?: string;
  systemFingerprint?: string;
  /** The stop sequence that ended choice 0, when the engine knows which (Final.stop_sequence). */
  stopSequence?: string;
  /** Anthropic's own stop_reason, from an engine whose upstream speaks it (Final.stop_reason). */
  stopReason?: string;
}

/** Per-job context the runtime hands an engine. */
export interface RunContext {
  /** Aborted when the client cancels, the deadline passes or the worker stops. */
  signal: AbortSignal;
  /** A client's own upstream key, for passthrough routes; never logged. */
  upstreamKey?: string;
}

/** What an engine returns for an embedding job: one vector per input, in input order. */
export interface EmbedResult {
  vectors: Float32Array[] | number[][];
  usage: Usage;
  model?: string;
}

/**
 * One engine: a local runtime or a remote API. The worker runtime never looks
 * at which one it has. `run` serves `job.chat`: it streams deltas (every
 * choice's first delta carries `role`, its last carries `finishReason`) and
 * resolves with usage, or throws a BrokerError the client should see.
 * `complete` serves `job.completion` (legacy completions: raw prompt, no chat
 * template; choice index = prompt index * n + i, deltas carry no role) and
 * `embed` serves `job.embedding`; an engine without them refuses such jobs
 * with a 400 naming the model. `countTokens` serves `job.countTokens`: exactly
 * the prompt tokens `run` would report for that chat request; an engine that
 * cannot count exactly leaves it out, and the runtime answers with the
 * characters / 4 estimate admission uses.
 */
export interface EngineAdapter {
  readonly name: string;
  run(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult>;
  complete?(job: InferenceJob, sink: DeltaSink, ctx: RunContext): Promise<RunResult>;
  embed?(job: InferenceJob, ctx: RunContext): Promise<EmbedResult>;
  countTokens?(job: InferenceJob, ctx: RunContext): Promise<number>;
  close(): Promise<void>;
}

/** What an engine factory gets: its own options (validated by the engine with zod) and the model id it serves. */
export interface EngineSpec {
  model: string;
  options: unknown;
  /** The worker's slots: engines that run requests in parallel size themselves to it by default. */
  slots?: number;
}

/** Builds an engine; throws a BrokerError naming the bad option when `options` is invalid. */
export type EngineFactory = (spec: EngineSpec) => Promise<EngineAdapter>;
