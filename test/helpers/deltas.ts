// The delta contract of EngineAdapter, checked on what one job produced.
import assert from "node:assert/strict";
import type { Delta } from "../../contract/proto.js";

/**
 * Asserts per choice: finishReason on the last delta and only there; for chat,
 * role on the first delta; for a legacy completion (`completion`), no role at all.
 */
export function checkDeltas(deltas: Delta[], completion = false): { texts: string[]; finish: string[] } {
  const texts: string[] = [];
  const finish: string[] = [];
  for (const d of deltas) {
    const i = d.index ?? 0;
    if (completion) assert.ok(!d.role, `choice ${i}: a completion delta carries no role`);
    else if (texts[i] === undefined) assert.equal(d.role, "assistant", `choice ${i}: the first delta carries role`);
    texts[i] ??= "";
    assert.equal(finish[i], undefined, `choice ${i}: a delta came after finish_reason`);
    texts[i] += d.content ?? "";
    if (d.finishReason) finish[i] = d.finishReason;
  }
  texts.forEach((_, i) => assert.ok(finish[i], `choice ${i}: the last delta carries finishReason`));
  return { texts, finish };
}
