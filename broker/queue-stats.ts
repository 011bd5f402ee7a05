import type { JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiError } from "@nats-io/jetstream";
import type { MsgRequest } from "@nats-io/jetstream";
import { Lane, subjects } from "./subjects.js";

export interface QueueStats {
  model: string;
  lane: string;
  /** Jobs no worker has taken yet: the autoscaling signal. */
  waiting: number;
  /** Jobs taken by a worker and not yet finished. */
  running: number;
  /** Age of the oldest waiting job, 0 when none waits. */
  oldestWaitingMs: number;
}

/** Reads a model's queue from its durable consumer; a model nobody has served yet has an empty queue. */
export async function queueStats(jsm: JetStreamManager, prefix: string, model: string, lane: Lane = Lane.normal): Promise<QueueStats> {
  const s = subjects(prefix);
  const out: QueueStats = { model, lane, waiting: 0, running: 0, oldestWaitingMs: 0 };
  try {
    const info = await jsm.consumers.info(s.stream, s.consumer(model, lane));
    out.waiting = info.num_pending;
    out.running = info.num_ack_pending;
    if (info.num_pending > 0) {
      // STREAM.MSG.GET has taken next_by_subj since nats-server 2.9; the v3 client's type does not list it.
      const query = { seq: info.delivered.stream_seq + 1, next_by_subj: s.job(model, lane) } as unknown as MsgRequest;
      const msg = await jsm.streams.getMessage(s.stream, query);
      if (msg) out.oldestWaitingMs = Math.max(0, Date.now() - msg.time.getTime());
    }
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || (e.code !== 10014 && e.code !== 10037)) throw e;
  }
  return out;
}
