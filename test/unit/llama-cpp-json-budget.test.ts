// Grammar-constrained answers (forced tool calls, json_schema, json_object) on
// the demo model must be whole JSON within max_tokens. The model's weights are
// random, so left alone it opens a string and never closes it: every answer
// here ends only because the grammar's bounds leave it no other way.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ChatRequest, Delta } from "../../contract/proto.js";
import type { EngineAdapter } from "../../workers/engine.js";
import { createLlamaCppEngine, writeDemoModel } from "../../workers/engines/llama-cpp/index.js";
import { makeJob, runJob, type Outcome } from "../helpers/engine-suite.js";

const dir = await mkdtemp(join(tmpdir(), "llama-cpp-budget-"));
const modelPath = join(dir, "demo.gguf");
await writeDemoModel(modelPath);
after(() => rm(dir, { recursive: true, force: true }));

const params = (props: Record<string, unknown>) => ({ type: "object", properties: props, required: Object.keys(props) });
// No maxLength anywhere: the bounds come from max_tokens alone.
const WEATHER = { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: params({ city: { type: "string" }, days: { type: "integer" } }) } };
const TIME = { type: "function", function: { name: "get_time", parameters: params({ zone: { type: "string" }, tags: { type: "array", items: { type: "string" } } }) } };
const NAMED = JSON.stringify({ type: "function", function: { name: "get_weather" } });
const SCHEMA = params({ title: { type: "string" }, score: { type: "number" }, notes: { type: "array", items: { type: "string" } }, meta: { type: "object", additionalProperties: true } });

const chat = (extra: ChatRequest): ChatRequest => ({ messages: [{ role: "user", content: "Tell me about the sea and the sky" }], temperature: 1, ...extra });

/** Choice 0's tool-call argument pieces joined, as a streaming client accumulates them. */
function callOf(deltas: Delta[]): { name: string; arguments: string } {
  let name = "";
  let args = "";
  for (const d of deltas) for (const c of d.toolCalls ?? []) (name += c.name ?? ""), (args += c.arguments ?? "");
  return { name, arguments: args };
}

function withinBudget(out: Outcome, maxTokens: number): void {
  const used = out.result.usage.completionTokens ?? 0;
  assert.ok(used <= maxTokens, `${used} tokens for max_tokens ${maxTokens}`);
}

describe("llama-cpp grammar-constrained answers fit max_tokens", () => {
  let engine: EngineAdapter;
  before(async () => (engine = await createLlamaCppEngine({ model: "demo", options: { modelPath, gpu: false, threads: 1, contextSize: 1024, sequences: 1 } })));
  after(() => engine.close());

  test("a forced tool call (named, or required) is whole JSON and finishes tool_calls", async () => {
    const cases: [string, string, number][] = [
      [JSON.stringify([WEATHER, TIME]), NAMED, 128],
      [JSON.stringify([WEATHER, TIME]), NAMED, 32],
      // The least that always fits: `{"city": "", "days": -0}` is 24 bytes, and a token may be one byte; then the newline.
      [JSON.stringify([WEATHER, TIME]), NAMED, 25],
      [JSON.stringify([WEATHER, TIME]), '"required"', 128],
      [JSON.stringify([WEATHER, TIME]), '"required"', 80],
      [JSON.stringify([TIME]), '"required"', 32],
    ];
    for (const [toolsJson, toolChoiceJson, maxTokens] of cases) {
      for (const seed of [1, 2, 3, 4]) {
        const out = await runJob(engine, makeJob("demo", chat({ seed, maxTokens, toolsJson, toolChoiceJson })));
        const call = callOf(out.deltas);
        const what = `${toolChoiceJson} max_tokens ${maxTokens} seed ${seed}: ${call.name} ${call.arguments}`;
        assert.equal(out.finish[0], "tool_calls", what);
        assert.equal(out.texts[0], "", what);
        const args = JSON.parse(call.arguments) as Record<string, unknown>;
        if (call.name === "get_weather") assert.deepEqual([typeof args.city, Number.isInteger(args.days)], ["string", true], what);
        else assert.deepEqual([call.name, typeof args.zone, Array.isArray(args.tags)], ["get_time", "string", true], what);
        withinBudget(out, maxTokens);
      }
    }
  });

  test("json_schema without bounds parses and finishes stop", async () => {
    const responseFormatJson = JSON.stringify({ type: "json_schema", json_schema: { name: "t", schema: SCHEMA } });
    for (const maxTokens of [128, 48]) {
      for (const seed of [1, 2, 3, 4]) {
        const out = await runJob(engine, makeJob("demo", chat({ seed, maxTokens, responseFormatJson })));
        assert.equal(out.finish[0], "stop", `max_tokens ${maxTokens} seed ${seed}: ${out.texts[0]}`);
        const v = JSON.parse(out.texts[0]!) as Record<string, unknown>;
        assert.deepEqual([typeof v.title, typeof v.score, Array.isArray(v.notes), typeof v.meta], ["string", "number", true, "object"]);
        withinBudget(out, maxTokens);
      }
    }
  });

  test("json_object answers a bounded JSON object and finishes stop", async () => {
    const responseFormatJson = JSON.stringify({ type: "json_object" });
    for (const maxTokens of [128, 32, 8]) {
      for (const seed of [1, 2, 3, 4]) {
        const out = await runJob(engine, makeJob("demo", chat({ seed, maxTokens, responseFormatJson })));
        assert.equal(out.finish[0], "stop", `max_tokens ${maxTokens} seed ${seed}: ${out.texts[0]}`);
        const v: unknown = JSON.parse(out.texts[0]!);
        assert.ok(v !== null && typeof v === "object" && !Array.isArray(v), out.texts[0]);
        withinBudget(out, maxTokens);
      }
    }
  });

  test("when even the shortest valid JSON cannot fit, finish_reason is length", async () => {
    const responseFormatJson = JSON.stringify({ type: "json_schema", json_schema: { name: "t", schema: SCHEMA } });
    const json = await runJob(engine, makeJob("demo", chat({ seed: 1, maxTokens: 2, responseFormatJson })));
    assert.equal(json.finish[0], "length");
    assert.equal(json.result.usage.completionTokens, 2);
    const call = await runJob(engine, makeJob("demo", chat({ seed: 1, maxTokens: 2, toolsJson: JSON.stringify([WEATHER]), toolChoiceJson: NAMED })));
    assert.equal(call.finish[0], "length");
    assert.equal(callOf(call.deltas).name, "get_weather");
  });
});
