// Putting a job on the queue: a JetStream publish by hand (the PubAck comes
// back as the reply of a plain request), so that NATS being away for a moment
// is a wait, not an error.
import { headers } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { Connected, Requester } from "../nats/mod.js";

const PUBLISH_TIMEOUT_MS = 5000;
const DECODER = new TextDecoder();

/** The gateway's connection to NATS stayed down for as long as a job could wait. */
export class Disconnected extends Error {}

/** JetStream's refusal of a publish (a plain object, not an Error): a full queue, a bad subject. */
export interface JetStreamRefusal {
  code: number;
  err_code?: number;
  description: string;
}

/** JetStream's answer to a publish. */
interface PubAck {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: JetStreamRefusal;
}

/**
 * Publishes `data` durably, retried until `until` while NATS cannot take it:
 * a reconnect to another server, or a clustered stream electing a new leader
 * (no responders meanwhile), is a wait of a few seconds. Nats-Msg-Id makes a
 * publish that landed but whose ack was lost count once. JetStream's own
 * refusals are thrown as they are, not retried. Resolves with the stream sequence.
 * @throws Disconnected, the last NATS error, or a JetStreamRefusal.
 */
export async function publishJob(nats: Connected, requester: Requester, subject: string, id: string, data: Uint8Array, until: number): Promise<number> {
  const h = headers();
  h.set("Nats-Msg-Id", id);
  for (let pause = 50; ; pause = Math.min(2 * pause, 1000)) {
    try {
      if (!(await nats.whenUp(until - Date.now()))) throw new Disconnected();
      const res = await requester.request(subject, data, PUBLISH_TIMEOUT_MS, h);
      const ack = JSON.parse(DECODER.decode(res.data)) as PubAck;
      if (ack.error) throw ack.error;
      return ack.seq ?? 0;
    } catch (e) {
      // JetStream's refusals are plain objects; every Error is NATS not taking the message (yet).
      if (!(e instanceof Error) || e instanceof Disconnected || Date.now() + pause >= until) throw e;
      await sleep(pause);
    }
  }
}
