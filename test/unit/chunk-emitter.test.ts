import assert from "node:assert/strict";
import { test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeChunk, type Chunk } from "../../contract/proto.js";
import { ChunkEmitter } from "../../workers/chunk-emitter.js";

test("coalescing joins text with text and thinking with thinking, never across a signature or a redacted block", () => {
  const sent: Chunk[] = [];
  // Only publish is used: the emitter's one call on the connection.
  const nc = { publish: (_subject: string, data: Uint8Array) => void sent.push(decodeChunk(data)) } as unknown as NatsConnection;
  const e = new ChunkEmitter(nc, "reply", "job-1", 1, 0);
  e.delta({ index: 0, role: "assistant", reasoning: "Let " });
  e.delta({ index: 0, reasoning: "me." });
  e.delta({ index: 0, reasoningSignature: "sig" });
  e.delta({ index: 0, reasoning: "Again." });
  e.delta({ index: 0, redactedReasoning: "opaque" });
  e.delta({ index: 0, content: "Hel" });
  e.delta({ index: 0, content: "lo" });
  e.final({});
  const items = sent.flatMap((c) => c.final?.deltas ?? c.deltas?.items ?? []);
  assert.deepEqual(items.map((d) => [d.reasoning, d.reasoningSignature, d.redactedReasoning, d.content]), [
    ["Let me.", "", "", ""],
    ["", "sig", "", ""],
    ["Again.", "", "", ""],
    ["", "", "opaque", ""],
    ["", "", "", "Hello"],
  ]);
});
