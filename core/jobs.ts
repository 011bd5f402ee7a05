// Job ownership behind one interface. Everything about a job after it is
// handed over (the claim answer, cancel, deadline, a lost worker, restart or
// error) lives behind `submit`, in the gateway process's memory
// (jobs/submit.ts JobClient). Detached jobs (background responses) have an
// owner that keeps all of it in NATS instead (jobs/detached.ts), so they
// outlive the process that queued them.
import type { DetachedFold, DetachedOptions, JobEvent, JobRequest, SubmitOptions, JobStream } from "../jobs/mod.js";

/** Who runs a job for the core: queues it, answers its claim, streams its events, cancels it. */
export interface JobOwner {
  /** Queues the job; the stream yields its events. Rejects with 429/503/413 before anything is queued. */
  submit(model: string, request: JobRequest, opts?: SubmitOptions): Promise<JobStream>;
  /** Whether jobs can be submitted now (the NATS connection is up). */
  readonly connected: boolean;
}

/** Who runs detached jobs: their claims, events, cancel and endings live in a NATS log keyed by the front's id. */
export interface DetachedOwner {
  /** Opens the log under `key` and queues the job. Rejects with 429/503/413 before anything is queued. */
  submit(key: string, model: string, request: JobRequest, opts?: DetachedOptions): Promise<void>;
  /** The log folded up to now; undefined for an unknown (or aged-out) key. */
  fold(key: string): Promise<DetachedFold | undefined>;
  /** The answer's events from the start, folded into `fold`: to the log's current end, or live to the job's end. */
  events(key: string, fold: DetachedFold, opts: { live: boolean; signal?: AbortSignal }): AsyncGenerator<JobEvent>;
  /** Ends the job as cancelled wherever it is (idempotent); undefined for an unknown key. */
  cancel(key: string): Promise<DetachedFold | undefined>;
}
