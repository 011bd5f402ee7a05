import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError, pb, type Chunk, type ChunkInit } from "../../contract/mod.js";
import { DetachedFold } from "../../jobs/mod.js";

const rec = (c: ChunkInit): Chunk => pb.Chunk.fromObject({ jobId: "j", seq: 0, ...c });
const opened = rec({ opened: { model: "m", deadlineUnixMs: 5000, createdUnixMs: 1000, jobId: "j" } });
const claim = (delivery: number): Chunk => rec({ claim: { workerId: `w${delivery}`, controlSubject: `ctl.w${delivery}`, delivery } });
const text = (delivery: number, seq: number, content: string): Chunk => rec({ seq, delivery, deltas: { items: [{ index: 0, content }] } });
const final = (delivery: number, seq: number): Chunk => rec({ seq, delivery, final: { usage: { promptTokens: 1, completionTokens: 2 } } });

/** Folds the records in order; returns the fold and the text its answer events carry. */
function fold(...records: Chunk[]): { f: DetachedFold; out: string; kinds: string[] } {
  const f = new DetachedFold();
  let out = "";
  const kinds: string[] = [];
  records.forEach((c, i) => {
    for (const ev of f.push(i + 1, c)) {
      kinds.push(ev.kind);
      if (ev.kind === "deltas") out += ev.items.map((d) => d.content ?? "").join("");
    }
  });
  return { f, out, kinds };
}

describe("DetachedFold: a detached job's state from its log alone", () => {
  test("opened, claimed, output, final: completed, with the run's text once", () => {
    const { f, out, kinds } = fold(opened, claim(1), text(1, 1, "a"), text(1, 2, "b"), final(1, 3));
    assert.equal(f.status, "completed");
    assert.equal(out, "ab");
    assert.deepEqual(kinds, ["deltas", "deltas", "final"]);
    assert.equal(f.deadline, 5000);
    assert.equal(f.lastSeq, 5);
  });

  test("queued, then running, before any output", () => {
    assert.equal(fold(opened).f.status, "queued");
    const { f } = fold(opened, claim(1));
    assert.equal(f.status, "running");
    assert.equal(f.output, false);
    assert.equal(f.run?.control, "ctl.w1");
  });

  test("a second run after a silent first one counts; the first run's late chunks do not", () => {
    const { f, out } = fold(opened, claim(1), claim(2), text(1, 1, "stale"), text(2, 1, "fresh"), final(2, 2));
    assert.equal(out, "fresh");
    assert.equal(f.status, "completed");
  });

  test("a claim logged after output is ignored (gateways never write one; every reader still agrees)", () => {
    const { f, out } = fold(opened, claim(1), text(1, 1, "a"), claim(2), text(2, 1, "b"), final(1, 2));
    assert.equal(out, "a");
    assert.equal(f.status, "completed");
  });

  test("a gateway's ending (delivery 0) holds the run: cancelled, and later chunks are ignored", () => {
    const cancel = rec({ error: new BrokerError("cancelled", "The response was cancelled.").toChunk() });
    const { f, out } = fold(opened, claim(1), text(1, 1, "a"), cancel, text(1, 2, "b"), final(1, 3));
    assert.equal(f.status, "cancelled");
    assert.equal(out, "a");
    assert.equal(f.final, undefined);
  });

  test("a lost chunk (a gap in the run's sequence) fails the job for every reader", () => {
    const { f } = fold(opened, claim(1), text(1, 1, "a"), text(1, 3, "c"));
    assert.equal(f.status, "failed");
    assert.equal(f.error?.code, "stream_interrupted");
  });

  test("the worker's own error ends the job as failed", () => {
    const { f } = fold(opened, claim(1), rec({ seq: 1, delivery: 1, error: new BrokerError("timeout", "late").toChunk() }));
    assert.equal(f.status, "failed");
    assert.equal(f.error?.code, "timeout");
  });
});
