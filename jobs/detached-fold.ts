// A detached job's state, folded from its event log alone. Every reader
// (a gateway streaming it, one answering GET, one resuming a client from an
// event number) folds the same records in the same order, so all of them
// see the same output and the same end, with no process's memory involved.
//
// The log holds: one `opened` (the queuing gateway), a `claim` per run a
// gateway let start, the running worker's chunks (seq 1, 2, … per run,
// tagged with the run's delivery), and at most one ending written by a
// gateway (an error with delivery 0: cancelled, worker lost, timed out).
import { BrokerError, type Chunk, type Delta, type Final } from "../contract/mod.js";
import type { JobEvent } from "./job-stream.js";

/** Where a detached job stands, as its log says. */
export type DetachedStatus = "queued" | "running" | "completed" | "failed" | "cancelled";

export interface DetachedRun {
  workerId: string;
  control: string;
  delivery: number;
}

export class DetachedFold {
  /** The last record's stream sequence (0 before any): a gateway's write says it expects this one. */
  lastSeq = 0;
  model = "";
  jobId = "";
  deadline = 0;
  created = 0;
  /** The run whose chunks count now. */
  run: DetachedRun | undefined;
  /** Whether any output (a delta) has been logged: from then on the job can no longer start over. */
  output = false;
  final: Final | undefined;
  error: BrokerError | undefined;
  private nextSeq = 1;

  get over(): boolean {
    return this.final !== undefined || this.error !== undefined;
  }

  get status(): DetachedStatus {
    if (this.final) return "completed";
    if (this.error) return this.error.code === "cancelled" ? "cancelled" : "failed";
    return this.run ? "running" : "queued";
  }

  /**
   * Folds one record in and returns the events it adds to the answer (none
   * for bookkeeping records and for chunks of runs that no longer count).
   */
  push(seq: number, c: Chunk): JobEvent[] {
    this.lastSeq = seq;
    if (this.over) return [];
    if (c.opened) {
      this.model = c.opened.model ?? "";
      this.jobId = c.opened.jobId ?? "";
      this.deadline = Number(c.opened.deadlineUnixMs ?? 0);
      this.created = Number(c.opened.createdUnixMs ?? 0);
      return [];
    }
    if (c.claim) {
      // Gateways log a new run only while nothing was output (answerClaim); a record that
      // says otherwise is ignored, so every reader still agrees.
      if (!this.output && (c.claim.delivery ?? 0) > (this.run?.delivery ?? 0)) {
        this.run = { workerId: c.claim.workerId ?? "", control: c.claim.controlSubject ?? "", delivery: c.claim.delivery ?? 1 };
        this.nextSeq = 1;
      }
      return [];
    }
    // An ending a gateway wrote: it holds whatever the run is doing.
    if (!c.delivery) {
      if (c.error) this.error = BrokerError.fromChunk(c.error);
      return [];
    }
    if (!this.run || c.delivery !== this.run.delivery) return [];
    if (c.seq !== this.nextSeq) {
      this.error = new BrokerError("stream_interrupted", `Chunks of the answer were lost before they were stored (expected ${this.nextSeq}, got ${c.seq}).`);
      return [];
    }
    this.nextSeq++;
    if (c.deltas) {
      const items: Delta[] = c.deltas.items ?? [];
      if (items.length > 0) this.output = true;
      return [{ kind: "deltas", items }];
    }
    if (c.final) {
      this.final = c.final;
      const tail = c.final.deltas ?? [];
      const out: JobEvent[] = tail.length > 0 ? [{ kind: "deltas", items: tail }] : [];
      out.push({ kind: "final", final: c.final });
      return out;
    }
    if (c.error) this.error = BrokerError.fromChunk(c.error);
    return [];
  }
}
