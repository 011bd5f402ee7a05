import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../contract/errors.js";
import type { ChatRequest } from "../../contract/proto.js";
import { createSimEngine } from "../../workers/engines/sim/index.js";
import { makeJob, runEngineSuite, runJob } from "../helpers/engine-suite.js";

runEngineSuite("sim", {
  exact: true,
  capabilities: { complete: true, embed: true, n: true, dimensions: true },
  makeEngine: async (opts) => ({
    engine: await createSimEngine({ model: "sim", options: opts?.slow ? { itlMs: 50, outputTokens: 100 } : {} }),
    model: "sim",
    cleanup: async () => {},
  }),
});

const user = (content: string): ChatRequest["messages"] => [{ role: "user", content }];

async function text(chat: ChatRequest, options: unknown = {}): Promise<{ text: string; finish: string; tokens: number }> {
  const engine = await createSimEngine({ model: "sim", options });
  const out = await runJob(engine, makeJob("sim", { messages: user("hello there"), ...chat }));
  return { text: out.texts[0]!, finish: out.finish[0]!, tokens: out.result.usage.completionTokens ?? 0 };
}

describe("sim engine", () => {
  test("the same seed gives the same text; another seed differs", async () => {
    const a = await text({ seed: 7 });
    assert.equal((await text({ seed: 7 })).text, a.text);
    assert.notEqual((await text({ seed: 8 })).text, a.text);
    assert.match(a.text, /^[A-Za-z]+( [A-Za-z]+){15}$/, "16 words, the first without a leading space");
  });

  test("without a seed, the prompt picks the text", async () => {
    assert.equal((await text({})).text, (await text({})).text);
    assert.notEqual((await text({ messages: user("hello") })).text, (await text({ messages: user("bye") })).text);
  });

  test("choice i uses seed + i", async () => {
    const engine = await createSimEngine({ model: "sim", options: {} });
    const out = await runJob(engine, makeJob("sim", { messages: user("x"), seed: 5, n: 2 }));
    assert.equal(out.texts[1], (await text({ seed: 6 })).text);
    assert.equal(out.result.usage.completionTokens, 32);
    // Interleaved token by token: choice 0, choice 1, choice 0, ...
    assert.deepEqual(out.deltas.slice(0, 4).map((d) => d.index), [0, 1, 0, 1]);
  });

  test("max_tokens gives exactly that many tokens", async () => {
    const r = await text({ seed: 1, maxTokens: 5 });
    assert.equal(r.text.split(" ").length, 5);
    assert.equal(r.tokens, 5);
    assert.equal(r.finish, "length");
    const atLimit = await text({ seed: 1, maxTokens: 16 });
    assert.equal(atLimit.finish, "stop", "max_tokens equal to the answer's length does not cut it");
    assert.equal((await text({ seed: 1, maxTokens: 3 }, { outputTokens: 2 })).finish, "stop");
  });

  // Deltas only append, so the joined text being the exact prefix proves no byte of the stop went out.
  test("a stop string spanning tokens cuts before it", async () => {
    const full = (await text({ seed: 3 })).text;
    const words = full.split(" ");
    const stop = `${words[3]!.slice(1)} ${words[4]!.slice(0, 2)}`; // ends token 4, starts token 5
    const engine = await createSimEngine({ model: "sim", options: {} });
    const out = await runJob(engine, makeJob("sim", { messages: user("hello there"), seed: 3, stop: ["zzz", stop] }));
    assert.equal(out.texts[0], full.slice(0, full.indexOf(stop)));
    assert.equal(out.finish[0], "stop");
    assert.equal(out.result.stopSequence, stop, "the final names the sequence that matched");
  });

  test("a stop string that never completes is flushed at the end", async () => {
    const full = (await text({ seed: 4 })).text;
    const last = full.split(" ").at(-1)!;
    const r = await text({ seed: 4, stop: [`${last}!!`] });
    assert.equal(r.text, full);
    assert.equal(r.finish, "stop");
    const engine = await createSimEngine({ model: "sim", options: {} });
    const out = await runJob(engine, makeJob("sim", { messages: user("hello there"), seed: 4, stop: [`${last}!!`] }));
    assert.equal(out.result.stopSequence, undefined, "no sequence matched");
  });

  const weather = JSON.stringify([
    { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } },
    { type: "function", function: { name: "get_weather", parameters: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" }, unit: { enum: ["c", "f"] }, tags: { type: "array", items: { type: "string" } } },
    } } },
  ]);

  test("a forced tool is called with arguments shaped by its schema, the same for the same seed", async () => {
    const engine = await createSimEngine({ model: "sim", options: {} });
    const named = JSON.stringify({ type: "function", function: { name: "get_weather" } });
    const call = async (toolChoiceJson: string, seed: number) =>
      runJob(engine, makeJob("sim", { messages: user("weather?"), seed, toolsJson: weather, toolChoiceJson }));
    const out = await call(named, 9);
    assert.equal(out.finish[0], "tool_calls");
    assert.equal(out.texts[0] ?? "", "");
    const calls = out.deltas.flatMap((d) => d.toolCalls ?? []);
    assert.ok(calls.length > 2, "the arguments come in several fragments");
    assert.deepEqual([calls[0]!.id, calls[0]!.type, calls[0]!.name], [`call_sim${(9).toString(16)}`, "function", "get_weather"]);
    const args = JSON.parse(calls.map((c) => c.arguments ?? "").join("")) as Record<string, unknown>;
    assert.equal(typeof args.city, "string");
    assert.ok(Number.isInteger(args.days));
    assert.ok(["c", "f"].includes(String(args.unit)));
    assert.ok(Array.isArray(args.tags));
    assert.equal(out.result.usage.completionTokens, calls.length - 1);
    assert.deepEqual((await call(named, 9)).deltas, out.deltas);
    // "required" calls the first tool; "auto" answers text.
    assert.equal((await call(JSON.stringify("required"), 9)).deltas[0]!.toolCalls?.[0]?.name, "get_time");
    const auto = await call(JSON.stringify("auto"), 9);
    assert.equal(auto.finish[0], "stop");
    assert.ok(auto.texts[0]);
  });

  test("usage counts prompt words plus 3 per message", async () => {
    const engine = await createSimEngine({ model: "sim", options: {} });
    const job = makeJob("sim", { messages: [{ role: "system", content: "be brief" }, { role: "user", parts: [{ type: "text", text: "a b c" }] }] });
    assert.equal((await runJob(engine, job)).result.usage.promptTokens, 2 + 3 + 3 + 3);
  });

  test("zero delay is fast: 100k tokens well under a second", async () => {
    const t0 = performance.now();
    const r = await text({ seed: 1 }, { outputTokens: 100_000 });
    assert.equal(r.tokens, 100_000);
    assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
  });

  test("ttftMs delays the first token", async () => {
    const t0 = performance.now();
    await text({}, { ttftMs: 50 });
    assert.ok(performance.now() - t0 >= 45);
  });

  test("invalid options name the field", async () => {
    const bad = async (options: unknown, field: string): Promise<void> => {
      await assert.rejects(createSimEngine({ model: "sim", options }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, new RegExp(`^sim engine: option ${field}: `));
        return true;
      });
    };
    await bad({ itlMs: -1 }, "itlMs");
    await bad({ outputTokens: "many" }, "outputTokens");
    await bad({ tokensPerSecond: 5 }, "tokensPerSecond");
  });
});
