import { type ConsumerInfo, type JetStreamManager, type SeqMsgRequest, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Lanes, subjects } from "../contract/mod.js";

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

/**
 * Every lane of every given model, counted from the job stream itself: one
 * stream info with per-subject counts, plus each lane's consumer when one
 * exists. On a work-queue stream a subject's count holds queued and
 * delivered-but-unacked jobs, so waiting = count − ack pending. Reading the
 * stream rather than only the consumers keeps the figure right for a model no
 * worker has served yet (no consumer exists): jobs queued with
 * `queueWithoutWorkers` must show, or an autoscaler can never scale from zero.
 */
export async function queueStats(jsm: JetStreamManager, prefix: string, models: readonly string[]): Promise<QueueStats[]> {
  const s = subjects(prefix);
  const info = await jsm.streams.info(s.stream, { subjects_filter: s.jobsAll });
  const counts = info.state.subjects ?? {};
  return Promise.all(models.flatMap((model) => Lanes.map(async (lane): Promise<QueueStats> => {
    const subject = s.job(model, lane);
    const count = counts[subject] ?? 0;
    const out: QueueStats = { model, lane, waiting: 0, running: 0, oldestWaitingMs: 0 };
    if (count === 0) return out;
    const consumer = await consumerInfo(jsm, s.stream, s.consumer(model, lane));
    out.running = Math.min(count, consumer?.num_ack_pending ?? 0);
    out.waiting = count - out.running;
    if (out.waiting > 0) out.oldestWaitingMs = await oldestWaitingMs(jsm, s.stream, subject, consumer);
    return out;
  })));
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
    throw e;
  }
}

/**
 * The first job on the subject past what the consumer has delivered; with no
 * consumer, the first job on the subject. (A redelivery waiting after a nak is
 * counted as waiting but is older than this: the age is a lower bound then.)
 */
async function oldestWaitingMs(jsm: JetStreamManager, stream: string, subject: string, consumer: ConsumerInfo | undefined): Promise<number> {
  // STREAM.MSG.GET has taken next_by_subj since nats-server 2.9; the v3 client's type does not list it.
  const query: SeqMsgRequest & { next_by_subj: string } = { seq: (consumer?.delivered.stream_seq ?? 0) + 1, next_by_subj: subject };
  try {
    const msg = await jsm.streams.getMessage(stream, query);
    return msg ? Math.max(0, Date.now() - msg.time.getTime()) : 0;
  } catch (e) {
    // Taken by a worker between the two reads: nothing older waits.
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) return 0;
    throw e;
  }
}
