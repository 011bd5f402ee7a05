// The conformance checks of complete() (legacy completions): raw prompts,
// choice index = prompt index * n + i, no role on any delta, max_tokens, stop,
// echo and usage. runEngineSuite registers them for engines that declare it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CompletionRequest, Delta } from "../../broker/proto.js";
import type { EngineAdapter, RunResult } from "../../workers/engine.js";
import { makeJobOf } from "./engine-jobs.js";
import type { EngineSuiteOptions, WithEngine } from "./engine-suite.js";

const PROMPTS = ["Tell me about the sea and the sky and the wind please", "The sea"];

interface Completed {
  deltas: Delta[];
  result: RunResult;
  texts: string[];
  finish: string[];
}

/** Asserts per choice: no role anywhere, finishReason on the last delta and only there. */
export function checkCompletionDeltas(deltas: Delta[]): { texts: string[]; finish: string[] } {
  const texts: string[] = [];
  const finish: string[] = [];
  for (const d of deltas) {
    const i = d.index ?? 0;
    assert.ok(!d.role, `choice ${i}: a completion delta carries no role`);
    assert.equal(finish[i], undefined, `choice ${i}: a delta came after finish_reason`);
    texts[i] = (texts[i] ?? "") + (d.content ?? "");
    if (d.finishReason) finish[i] = d.finishReason;
  }
  texts.forEach((_, i) => assert.ok(finish[i], `choice ${i}: the last delta carries finishReason`));
  return { texts, finish };
}

async function complete(engine: EngineAdapter, model: string, c: CompletionRequest): Promise<Completed> {
  const deltas: Delta[] = [];
  const job = makeJobOf(model, { completion: { prompts: [PROMPTS[0]!], seed: 42, temperature: 0, stream: true, includeUsage: true, ...c } });
  const result = await engine.complete!(job, { delta: (d) => void deltas.push(d) }, { signal: new AbortController().signal });
  return { deltas, result, ...checkCompletionDeltas(deltas) };
}

/** Registers the complete() checks, or where the engine declares none, that it has no complete(). */
export function completeSuite(opts: EngineSuiteOptions, withEngine: WithEngine): void {
  if (!opts.capabilities.complete) {
    test("complete(): not declared, and absent", () => withEngine(async ({ engine }) => assert.equal(engine.complete, undefined)));
    return;
  }
  const n = opts.capabilities.n ? 2 : 1;

  describe("complete()", () => {
    for (const stream of [true, false]) {
      test(`${stream ? "stream" : "non-stream"}: choice = prompt * n + i, each with text and a finish_reason`, () =>
        withEngine(async ({ engine, model }) => {
          const out = await complete(engine, model, { prompts: PROMPTS, n, maxTokens: 5, stream });
          assert.equal(out.texts.length, PROMPTS.length * n);
          out.texts.forEach((t, i) => assert.ok(t.length > 0, `choice ${i} has text`));
          assert.ok(out.finish.every((f) => ["stop", "length"].includes(f)));
          const tokens = out.result.usage.completionTokens ?? 0;
          if (opts.exact) assert.equal(tokens, 5 * PROMPTS.length * n);
          else assert.ok(tokens > 0 && tokens <= 5 * PROMPTS.length * n, `${tokens} completion tokens`);
          assert.ok((out.result.usage.promptTokens ?? 0) > 0);
        }));
    }

    test("max_tokens cuts the answer with finish_reason length", () =>
      withEngine(async ({ engine, model }) => {
        const out = await complete(engine, model, { maxTokens: 3 });
        assert.equal(out.finish[0], "length");
        if (opts.exact) assert.equal(out.result.usage.completionTokens, 3);
        else assert.ok((out.result.usage.completionTokens ?? 0) <= 3);
      }));

    test("stop cuts the text before the stop string, finish_reason stop", () =>
      withEngine(async ({ engine, model }) => {
        const full = (await complete(engine, model, {})).texts[0]!;
        const stop = full.trim().split(" ")[2];
        assert.ok(stop, `the answer has three words: ${full}`);
        const out = await complete(engine, model, { stop: [stop] });
        assert.equal(out.finish[0], "stop");
        assert.ok(!out.texts[0]!.includes(stop), `"${out.texts[0]}" contains "${stop}"`);
        if (opts.exact) assert.equal(out.texts[0], full.slice(0, full.indexOf(stop)));
      }));

    test("echo: each choice's text starts with its prompt", () =>
      withEngine(async ({ engine, model }) => {
        const out = await complete(engine, model, { prompts: PROMPTS, n, maxTokens: 3, echo: true });
        out.texts.forEach((t, i) => assert.ok(t.startsWith(PROMPTS[Math.floor(i / n)]!), `choice ${i}: "${t}"`));
      }));
  });
}
