// The conformance checks of complete() (legacy completions): raw prompts,
// choice index = prompt index * n + i, no role on any delta, max_tokens, stop,
// echo and usage. runEngineSuite registers them for engines that declare it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CompletionRequest, Delta } from "../../contract/proto.js";
import type { EngineAdapter } from "../../workers/engine.js";
import { checkDeltas } from "./deltas.js";
import { makeJobOf } from "./engine-jobs.js";
import { cutTests } from "./engine-suite-cuts.js";
import type { EngineSuiteOptions, Outcome, WithEngine } from "./engine-suite.js";

const PROMPTS = ["Tell me about the sea and the sky and the wind please", "The sea"];

async function complete(engine: EngineAdapter, model: string, c: CompletionRequest): Promise<Outcome> {
  const deltas: Delta[] = [];
  const job = makeJobOf(model, { completion: { prompts: [PROMPTS[0]!], seed: 42, temperature: 0, stream: true, includeUsage: true, ...c } });
  const result = await engine.complete!(job, { delta: (d) => void deltas.push(d) }, { signal: new AbortController().signal });
  return { deltas, result, ...checkDeltas(deltas, true) };
}

/** Registers the complete() checks for an engine that declares it. */
export function completeSuite(opts: EngineSuiteOptions, withEngine: WithEngine): void {
  if (!opts.capabilities.complete) return;
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

    cutTests(opts, withEngine, ({ engine, model }, fields) => complete(engine, model, fields));

    test("echo: each choice's text starts with its prompt", () =>
      withEngine(async ({ engine, model }) => {
        const out = await complete(engine, model, { prompts: PROMPTS, n, maxTokens: 3, echo: true });
        out.texts.forEach((t, i) => assert.ok(t.startsWith(PROMPTS[Math.floor(i / n)]!), `choice ${i}: "${t}"`));
      }));
  });
}
