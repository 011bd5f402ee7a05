// The checks chat and legacy completions share: max_tokens and stop end a
// choice early, each with its finish_reason.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RunResult } from "../../workers/engine.js";
import type { EngineSuiteOptions, EngineUnderTest, WithEngine } from "./engine-suite.js";

/** One choice-0 answer to a request with these extra fields. */
export type Answerer = (e: EngineUnderTest, fields: { maxTokens?: number; stop?: string[] }) => Promise<{ texts: string[]; finish: string[]; result: RunResult }>;

export function cutTests(opts: EngineSuiteOptions, withEngine: WithEngine, answer: Answerer): void {
  test("max_tokens cuts the answer with finish_reason length", () =>
    withEngine(async (e) => {
      const out = await answer(e, { maxTokens: 3 });
      assert.equal(out.finish[0], "length");
      if (opts.exact) assert.equal(out.result.usage.completionTokens, 3);
      else assert.ok((out.result.usage.completionTokens ?? 0) <= 3);
    }));

  test("stop cuts the text before the stop string, finish_reason stop", () =>
    withEngine(async (e) => {
      const full = (await answer(e, {})).texts[0]!;
      const stop = full.split(" ")[2];
      assert.ok(stop, `the answer has three words: ${full}`);
      const out = await answer(e, { stop: [stop] });
      assert.equal(out.finish[0], "stop");
      assert.ok(!out.texts[0]!.includes(stop), `"${out.texts[0]}" contains "${stop}"`);
      // An engine that says which stop sequence matched (Final.stop_sequence) says the right one.
      if (out.result.stopSequence !== undefined) assert.equal(out.result.stopSequence, stop);
      if (opts.exact) assert.equal(out.texts[0], full.slice(0, full.indexOf(stop)));
    }));
}
