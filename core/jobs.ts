// Job ownership behind one interface. Everything about a job after it is
// handed over (the claim answer, cancel, deadline, a lost worker, restart or
// error) lives behind `submit`. Today that state is the gateway process's
// memory (jobs/submit.ts JobClient); background responses that outlive the
// process will need an owner that keeps it in NATS, and only this seam changes.
import type { JobRequest, SubmitOptions, JobStream } from "../jobs/mod.js";

/** Who runs a job for the core: queues it, answers its claim, streams its events, cancels it. */
export interface JobOwner {
  /** Queues the job; the stream yields its events. Rejects with 429/503/413 before anything is queued. */
  submit(model: string, request: JobRequest, opts?: SubmitOptions): Promise<JobStream>;
  /** Whether jobs can be submitted now (the NATS connection is up). */
  readonly connected: boolean;
}
