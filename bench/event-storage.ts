// What background responses left in JetStream: the events stream's state,
// read once after a scenario, so the disk a persisted stream costs is
// reported beside its CPU.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

/** The events stream's contents when read: records, stored bytes and logs (one subject per response). */
export interface EventStorage {
  messages: number;
  bytes: number;
  responses: number;
}

export async function eventStorage(natsUrl: string, stream: string): Promise<EventStorage> {
  const nc = await connect({ servers: natsUrl, name: "bench-event-storage" });
  try {
    const { state } = await (await jetstreamManager(nc)).streams.info(stream);
    return { messages: state.messages, bytes: state.bytes, responses: state.num_subjects ?? 0 };
  } finally {
    await nc.close();
  }
}
