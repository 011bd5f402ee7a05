// The conformance checks of embed(): one vector per input in input order, one
// size for all, `dimensions` where declared, usage, and abort. runEngineSuite
// registers them for engines that declare it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { EmbeddingRequest } from "../../contract/proto.js";
import type { EmbedResult, EngineAdapter } from "../../workers/engine.js";
import { makeJobOf } from "./engine-jobs.js";
import type { EngineSuiteOptions, WithEngine } from "./engine-suite.js";

const INPUTS = ["hello world", "the sea", "hello world"];

function embed(engine: EngineAdapter, model: string, e: EmbeddingRequest, signal = new AbortController().signal): Promise<EmbedResult> {
  return engine.embed!(makeJobOf(model, { embedding: { inputs: INPUTS, ...e } }), { signal });
}

/** Registers the embed() checks for an engine that declares it. */
export function embedSuite(opts: EngineSuiteOptions, withEngine: WithEngine): void {
  if (!opts.capabilities.embed) return;

  describe("embed()", () => {
    test("one vector per input, in input order, all of one size, with usage", () =>
      withEngine(async ({ engine, model }) => {
        const res = await embed(engine, model, {});
        const vectors = res.vectors.map((v) => Array.from(v));
        assert.equal(vectors.length, INPUTS.length);
        const dims = vectors[0]!.length;
        assert.ok(dims > 0);
        for (const v of vectors) {
          assert.equal(v.length, dims);
          assert.ok(v.every(Number.isFinite), "finite numbers");
        }
        // Inputs 0 and 2 are equal and 1 differs: the vectors are in input order.
        assert.deepEqual(vectors[2], vectors[0]);
        assert.notDeepEqual(vectors[1], vectors[0]);
        assert.ok((res.usage.promptTokens ?? 0) > 0);
        assert.equal(res.usage.completionTokens ?? 0, 0);
      }));

    // Only where declared: an engine without it has its own test of the 400 (no skipped test in the report).
    if (opts.capabilities.dimensions) {
      test("dimensions sets every vector's size", () =>
        withEngine(async ({ engine, model }) => {
          const res = await embed(engine, model, { dimensions: 16 });
          for (const v of res.vectors) assert.equal(v.length, 16);
        }));
    }

    test("an aborted signal rejects", () =>
      withEngine(async ({ engine, model }) => {
        const ac = new AbortController();
        ac.abort();
        await assert.rejects(embed(engine, model, {}, ac.signal), (err: Error) => err.name === "AbortError");
      }));
  });
}
