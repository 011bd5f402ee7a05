// The contract every engine adapter must keep, as one node:test suite that
// each engine's test file runs with its own factory: run() always, complete()
// and embed() where the engine declares them.
import assert from "node:assert/strict";
import { BrokerError, ConfigError } from "../../contract/errors.js";
import { describe, test } from "node:test";
import type { ChatRequest, Delta, InferenceJob } from "../../contract/proto.js";
import type { EngineAdapter, RunContext, RunResult } from "../../workers/engine.js";
import { checkDeltas } from "./deltas.js";
import { makeJob } from "./engine-jobs.js";
import { completeSuite } from "./engine-suite-complete.js";
import { cutTests } from "./engine-suite-cuts.js";
import { embedSuite } from "./engine-suite-embed.js";

export { checkDeltas } from "./deltas.js";
export { makeJob, makeJobOf } from "./engine-jobs.js";

export interface EngineUnderTest {
  engine: EngineAdapter;
  model: string;
  cleanup(): Promise<void>;
}

/**
 * What an engine serves besides chat. The suite checks each declared one, and
 * that an undeclared complete() or embed() is absent, so the runtime refuses
 * such jobs with a 400 instead of the engine failing some other way.
 */
export interface EngineCapabilities {
  /** complete(): legacy completions. */
  complete: boolean;
  /** embed(): embeddings. */
  embed: boolean;
  /** n > 1 choices in one job (chat, and per prompt in completions). */
  n: boolean;
  /** embed() honours `dimensions`; otherwise vectors have the model's own size. */
  dimensions: boolean;
}

export interface EngineSuiteOptions {
  /** `slow`: an engine that takes seconds per answer, for the abort test. */
  makeEngine(opts?: { slow?: boolean }): Promise<EngineUnderTest>;
  capabilities: EngineCapabilities;
  /** The engine is deterministic and counts tokens exactly (a simulator, not a remote model). */
  exact?: boolean;
}

/** Runs `fn` on a fresh engine and cleans up after it. */
export type WithEngine = <T>(fn: (e: EngineUnderTest) => Promise<T>, slow?: boolean) => Promise<T>;

/** What one run produced, per choice index. */
export interface Outcome {
  deltas: Delta[];
  result: RunResult;
  texts: string[];
  finish: string[];
}

/** Runs a job, checks the delta contract and returns the text per choice. */
export async function runJob(engine: EngineAdapter, job: InferenceJob, ctx: Partial<RunContext> = {}): Promise<Outcome> {
  const deltas: Delta[] = [];
  const result = await engine.run(job, { delta: (d) => void deltas.push(d) }, { signal: new AbortController().signal, ...ctx });
  return { deltas, result, ...checkDeltas(deltas) };
}

/** Builds an engine, runs one chat job on it under `model`, and closes it. */
export async function runOnce(build: Promise<EngineAdapter>, model: string, chat: ChatRequest, upstreamKey?: string): Promise<Outcome> {
  const e = await build;
  try {
    return await runJob(e, makeJob(model, chat), upstreamKey ? { upstreamKey } : {});
  } finally {
    await e.close();
  }
}

/** Asserts that `p` rejects with a BrokerError and returns it. */
export async function brokerError(p: Promise<unknown>): Promise<BrokerError> {
  const err = await p.then(() => assert.fail("expected a rejection"), (e: unknown) => e);
  assert.ok(err instanceof BrokerError, `not a BrokerError: ${String(err)}`);
  return err;
}

/** Asserts that `p` rejects with a ConfigError (a startup mistake) and returns it. */
export async function configError(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(() => assert.fail("expected a rejection"), (e: unknown) => e);
  assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
  return err;
}

const PROMPT = "Tell me about the sea and the sky and the wind please";

function chat(extra: ChatRequest = {}): ChatRequest {
  return { messages: [{ role: "user", content: PROMPT }], seed: 42, temperature: 0, stream: true, includeUsage: true, ...extra };
}

/** Registers the conformance tests for one engine. */
export function runEngineSuite(name: string, opts: EngineSuiteOptions): void {
  const withEngine: WithEngine = async (fn, slow = false) => {
    const e = await opts.makeEngine({ slow });
    try {
      return await fn(e);
    } finally {
      await e.cleanup();
    }
  };

  describe(`engine conformance: ${name}`, () => {
    test("stream: role first, then content, then finish_reason", () =>
      withEngine(async ({ engine, model }) => {
        const out = await runJob(engine, makeJob(model, chat()));
        assert.equal(out.texts.length, 1);
        assert.ok(out.texts[0]!.length > 0, "some content");
        assert.ok(out.deltas.some((d) => (d.content ?? "") !== ""), "content arrives in deltas");
        assert.ok(["stop", "length"].includes(out.finish[0]!));
      }));

    test("non-stream: the same delta shape", () =>
      withEngine(async ({ engine, model }) => {
        const out = await runJob(engine, makeJob(model, chat({ stream: false })));
        assert.equal(out.texts.length, 1);
        assert.ok(out.texts[0]!.length > 0);
        assert.ok(["stop", "length"].includes(out.finish[0]!));
      }));

    cutTests(opts, withEngine, ({ engine, model }, fields) => runJob(engine, makeJob(model, chat(fields))));

    test("n=2 gives choices 0 and 1", { skip: !opts.capabilities.n && "the engine declares no n" }, () =>
      withEngine(async ({ engine, model }) => {
        const out = await runJob(engine, makeJob(model, chat({ n: 2 })));
        assert.deepEqual(new Set(out.deltas.map((d) => d.index ?? 0)), new Set([0, 1]));
        assert.equal(out.finish.length, 2);
      }));


    test("usage is reported", () =>
      withEngine(async ({ engine, model }) => {
        const out = await runJob(engine, makeJob(model, chat()));
        assert.ok((out.result.usage.completionTokens ?? 0) > 0);
        assert.ok((out.result.usage.promptTokens ?? 0) > 0);
      }));

    test("an aborted signal stops the run promptly", { timeout: 10_000 }, () =>
      withEngine(async ({ engine, model }) => {
        const ac = new AbortController();
        let firstDelta!: () => void;
        const started = new Promise<void>((resolve) => (firstDelta = resolve));
        const run = engine.run(makeJob(model, chat()), { delta: () => firstDelta() }, { signal: ac.signal });
        run.catch(() => {}); // observed below; avoids an unhandled rejection while we wait
        await started;
        const t0 = performance.now();
        ac.abort();
        await assert.rejects(run, (err: Error) => err.name === "AbortError");
        assert.ok(performance.now() - t0 < 2000, "rejected within 2 s");
      }, true));

    test("complete() and embed() exist exactly where declared", () =>
      withEngine(async ({ engine }) => {
        assert.equal(typeof engine.complete === "function", opts.capabilities.complete, "complete()");
        assert.equal(typeof engine.embed === "function", opts.capabilities.embed, "embed()");
      }));

    completeSuite(opts, withEngine);
    embedSuite(opts, withEngine);
  });
}
