#!/usr/bin/env node
// The worker half of the raw JetStream floor: pull (consume, at most `slots`
// un-acked jobs, like a broker worker with that many slots) → ack → one core
// reply of the size of a small answer chunk. Prints "ready" once consuming.
//   node dist/bench/floor-worker.js NATS_URL [SLOTS] [REPLY_BYTES]
import { jetstream } from "@nats-io/jetstream";
import { subjects } from "../contract/subjects.js";
import { ensureFloor, floorConfig, floorConnect } from "./floor.js";

async function main(): Promise<void> {
  const url = process.argv[2];
  if (!url) throw new Error("usage: floor-worker NATS_URL [SLOTS] [REPLY_BYTES]");
  const slots = Number(process.argv[3] ?? 64);
  const reply = new Uint8Array(Number(process.argv[4] ?? 200));
  const cfg = floorConfig(url);
  const nc = await floorConnect(url, "bench-floor-worker");
  const name = await ensureFloor(nc, cfg);
  const consumer = await jetstream(nc).consumers.get(subjects(cfg.nats.prefix).stream, name);
  const decoder = new TextDecoder();
  const messages = await consumer.consume({
    max_messages: slots,
    callback: (msg) => {
      const nl = msg.data.indexOf(10);
      msg.ack();
      nc.publish(decoder.decode(msg.data.subarray(0, nl)), reply);
    },
  });
  console.log("ready");
  const stop = (): void => {
    messages.stop();
    void nc.drain().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
