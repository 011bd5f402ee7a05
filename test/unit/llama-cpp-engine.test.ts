// The llama-cpp engine on the generated demo model (random weights, so only
// the mechanics are checked: streaming, sampling, grammars, slots, errors).
import assert from "node:assert/strict";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BrokerError } from "../../contract/errors.js";
import { decodeJob, encodeJob, type ChatRequest, type Delta, type JobInit } from "../../contract/proto.js";
import type { EngineAdapter } from "../../workers/engine.js";
import { buildDemoModel } from "../../workers/engines/llama-cpp/demo-model.js";
import { writeGguf } from "../../workers/engines/llama-cpp/gguf-writer.js";
import { createLlamaCppEngine, writeDemoModel } from "../../workers/engines/llama-cpp/index.js";
import { checkDeltas, configError, makeJob, runEngineSuite, runJob } from "../helpers/engine-suite.js";

const dir = await mkdtemp(join(tmpdir(), "llama-cpp-test-"));
const modelPath = join(dir, "demo.gguf");
await writeDemoModel(modelPath);
after(() => rm(dir, { recursive: true, force: true }));

const base = { modelPath, gpu: false, threads: 1, contextSize: 1024 };
const make = (options: Record<string, unknown> = {}): Promise<EngineAdapter> => createLlamaCppEngine({ model: "demo", options: { ...base, ...options } });

runEngineSuite("llama-cpp", {
  // Vectors have the model's n_embd; another dimensions is a 400 (tested below).
  capabilities: { complete: true, embed: true, n: true, dimensions: false },
  // A random model never ends on its own at temperature 0: the suite's runs go to max_tokens or the context's end.
  makeEngine: async () => {
    const engine = await make({ sequences: 2 });
    return { engine, model: "demo", cleanup: () => engine.close() };
  },
});

const PROMPT = "Tell me about the sea and the sky and the wind please";
const chat = (extra: ChatRequest = {}): ChatRequest => ({ messages: [{ role: "user", content: PROMPT }], seed: 7, temperature: 0.9, maxTokens: 40, ...extra });
const job = (init: Omit<JobInit, "id" | "model">) => decodeJob(encodeJob({ id: `j-${Math.random()}`, model: "demo", ...init }));

async function brokerError(p: Promise<unknown>): Promise<BrokerError> {
  const err = await p.then(() => assert.fail("expected a rejection"), (e: unknown) => e);
  assert.ok(err instanceof BrokerError, `not a BrokerError: ${String(err)}`);
  return err;
}

/** The tool calls of choice 0, with each call's argument pieces joined. */
function toolCalls(deltas: Delta[]): { id: string; type: string; name: string; arguments: string; pieces: number }[] {
  const calls: { id: string; type: string; name: string; arguments: string; pieces: number }[] = [];
  for (const d of deltas) {
    for (const c of d.toolCalls ?? []) {
      const i = c.index ?? 0;
      calls[i] ??= { id: c.id ?? "", type: c.type ?? "", name: c.name ?? "", arguments: "", pieces: 0 };
      calls[i].arguments += c.arguments ?? "";
      calls[i].pieces++;
    }
  }
  return calls;
}

describe("llama-cpp engine", () => {
  let engine: EngineAdapter;
  before(async () => (engine = await make({ sequences: 2 })));
  after(() => engine.close());

  test("the same seed gives the same text, on either sequence; another seed differs", async () => {
    const [a, b] = await Promise.all([runJob(engine, makeJob("demo", chat())), runJob(engine, makeJob("demo", chat()))]);
    assert.ok(a.texts[0]!.length > 0);
    assert.equal(b.texts[0], a.texts[0]);
    assert.notEqual((await runJob(engine, makeJob("demo", chat({ seed: 8 })))).texts[0], a.texts[0]);
  });

  test("max_tokens: exactly that many tokens, finish_reason length", async () => {
    const out = await runJob(engine, makeJob("demo", chat({ temperature: 0, maxTokens: 7 })));
    assert.equal(out.finish[0], "length");
    assert.equal(out.result.usage.completionTokens, 7);
    assert.ok((out.result.usage.promptTokens ?? 0) > 10);
  });

  test("stop: the text ends right before the stop string, finish_reason stop", async () => {
    const full = (await runJob(engine, makeJob("demo", chat({ temperature: 0 })))).texts[0]!;
    const words = full.split(" ");
    const stop = `${words[3]} ${words[4]!.slice(0, 2)}`; // spans two tokens
    const out = await runJob(engine, makeJob("demo", chat({ temperature: 0, stop: ["zzzz", stop] })));
    assert.equal(out.texts[0], full.slice(0, full.indexOf(stop)));
    assert.equal(out.finish[0], "stop");
    assert.equal(out.result.stopSequence, stop, "node-llama-cpp's customStopTrigger names the one that matched");
  });

  test("response_format json_schema: the answer parses and has the schema's shape", async () => {
    const schema = { type: "object", properties: { title: { type: "string", maxLength: 20 }, count: { type: "integer" } }, required: ["title", "count"] };
    const responseFormatJson = JSON.stringify({ type: "json_schema", json_schema: { name: "t", schema } });
    for (const seed of [1, 2, 3]) {
      const out = await runJob(engine, makeJob("demo", chat({ seed, maxTokens: 200, responseFormatJson })));
      assert.equal(out.finish[0], "stop", out.texts[0]);
      const value = JSON.parse(out.texts[0]!) as { title: unknown; count: unknown };
      assert.equal(typeof value.title, "string");
      assert.equal(typeof value.count, "number");
    }
  });

  test("a forced tool call streams as tool-call deltas that join into valid arguments", async () => {
    const params = (props: Record<string, unknown>) => ({ type: "object", properties: props, required: Object.keys(props) });
    const toolsJson = JSON.stringify([
      { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: params({ city: { type: "string", maxLength: 16 }, days: { type: "integer" } }) } },
      { type: "function", function: { name: "get_time", parameters: params({ zone: { type: "string", maxLength: 8 } }) } },
    ]);
    const named = JSON.stringify({ type: "function", function: { name: "get_weather" } });
    for (const [toolChoiceJson, seed] of [[named, 1], [named, 2], ['"required"', 3]] as const) {
      const out = await runJob(engine, makeJob("demo", chat({ seed, maxTokens: 200, toolsJson, toolChoiceJson })));
      assert.equal(out.finish[0], "tool_calls");
      assert.equal(out.texts[0], "", "no content beside the call");
      const calls = toolCalls(out.deltas);
      assert.equal(calls.length, 1);
      const call = calls[0]!;
      assert.match(call.id, /^call_[0-9a-f]{24}$/);
      assert.equal(call.type, "function");
      assert.ok(call.pieces > 2, "the arguments arrive in several pieces");
      const args = JSON.parse(call.arguments) as Record<string, unknown>;
      if (toolChoiceJson === named) assert.equal(call.name, "get_weather");
      if (call.name === "get_weather") assert.deepEqual([typeof args.city, typeof args.days], ["string", "number"]);
      else assert.deepEqual([call.name, typeof args.zone], ["get_time", "string"]);
    }
  });

  test("tool_choice none and auto answer text with the random model; bad tool_choice or an image is a 400", async () => {
    const toolsJson = JSON.stringify([{ type: "function", function: { name: "f", parameters: { type: "object", properties: {} } } }]);
    // A past call and its result are part of the history the template renders.
    const messages: ChatRequest["messages"] = [
      { role: "developer", content: "be brief" },
      { role: "user", content: PROMPT },
      { role: "assistant", toolCalls: [{ id: "call_1", type: "function", name: "f", arguments: "{}" }] },
      { role: "tool", toolCallId: "call_1", content: "42" },
      { role: "user", parts: [{ type: "text", text: "and now?" }] },
    ];
    for (const toolChoiceJson of ['"none"', '"auto"']) {
      const out = await runJob(engine, makeJob("demo", chat({ messages, toolsJson, toolChoiceJson })));
      assert.ok(["stop", "length"].includes(out.finish[0]!));
    }
    const image = await brokerError(runJob(engine, makeJob("demo", chat({ messages: [{ role: "user", parts: [{ type: "image_url", imageUrl: "https://x/y.png" }] }] }))));
    assert.equal(image.param, "messages[0].content");
    const err = await brokerError(runJob(engine, makeJob("demo", chat({ toolsJson, toolChoiceJson: JSON.stringify({ type: "function", function: { name: "g" } }) }))));
    assert.deepEqual([err.status, err.param], [400, "tool_choice"]);
  });

  test("n=2: two choices from seed and seed+1", async () => {
    const out = await runJob(engine, makeJob("demo", chat({ n: 2 })));
    assert.equal(out.texts.length, 2);
    assert.equal(out.texts[1], (await runJob(engine, makeJob("demo", chat({ seed: 8 })))).texts[0]);
  });

  test("countTokens: the prompt tokens run reports, for a plain, a tool-documenting and a forced-call prompt", async () => {
    const toolsJson = JSON.stringify([{ type: "function", function: { name: "f", description: "Does f.", parameters: { type: "object", properties: { x: { type: "string" } } } } }]);
    const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: PROMPT }];
    for (const c of [chat({ messages }), chat({ messages, toolsJson, toolChoiceJson: '"auto"' }), chat({ messages, toolsJson, toolChoiceJson: '"required"' })]) {
      const ran = await runJob(engine, makeJob("demo", c));
      const counted = await engine.countTokens?.(job({ countTokens: { chat: c } }), { signal: new AbortController().signal });
      assert.equal(counted, ran.result.usage.promptTokens, c.toolChoiceJson ?? "no tools");
    }
  });

  test("embeddings: one vector of n_embd floats per input, deterministic", async () => {
    const res = await engine.embed!(job({ embedding: { inputs: ["hello world", "the sea", "hello world"] } }), { signal: new AbortController().signal });
    assert.equal(res.vectors.length, 3);
    for (const v of res.vectors) assert.equal(v.length, 64);
    assert.deepEqual(res.vectors[2], res.vectors[0]);
    assert.notDeepEqual(res.vectors[1], res.vectors[0]);
    assert.ok((res.usage.promptTokens ?? 0) >= 4);
    const err = await brokerError(engine.embed!(job({ embedding: { inputs: ["x"], dimensions: 32 } }), { signal: new AbortController().signal }));
    assert.equal(err.param, "dimensions");
  });

  test("legacy completions: raw prompts, index = prompt * n + i, no role, echo", async () => {
    const deltas: Delta[] = [];
    const res = await engine.complete!(
      job({ completion: { prompts: ["Once upon a time", "The sea"], n: 2, seed: 3, echo: true, maxTokens: 5 } }),
      { delta: (d) => void deltas.push(d) },
      { signal: new AbortController().signal },
    );
    assert.ok(deltas.every((d) => !d.role));
    const texts: string[] = [];
    for (const d of deltas) texts[d.index ?? 0] = (texts[d.index ?? 0] ?? "") + (d.content ?? "");
    assert.equal(texts.length, 4);
    assert.ok(texts[0]!.startsWith("Once upon a time") && texts[3]!.startsWith("The sea"));
    assert.equal(deltas.filter((d) => d.finishReason).length, 4);
    assert.ok((res.usage.completionTokens ?? 0) <= 20 && (res.usage.promptTokens ?? 0) >= 6);
  });

  test("a prompt longer than the context is context_length_exceeded, in OpenAI's words, before any output", async () => {
    // llama.cpp rounds the context up (to 256 here): the message names the size it got.
    const small = await make({ contextSize: 64, sequences: 1 });
    const long = "the sea ".repeat(1000);
    const signal = new AbortController().signal;
    try {
      const deltas: Delta[] = [];
      let err = await brokerError(small.run(makeJob("demo", chat({ messages: [{ role: "user", content: long }] })), { delta: (d) => void deltas.push(d) }, { signal }));
      assert.deepEqual([err.status, err.code, err.type, err.param], [400, "context_length_exceeded", "invalid_request_error", "messages"]);
      assert.match(err.message, /^This model's maximum context length is \d+ tokens\. However, your messages resulted in \d{3,} tokens\. Please reduce the length of the messages\.$/);
      // The second prompt is the long one: the first must not have generated yet.
      err = await brokerError(small.complete!(job({ completion: { prompts: ["Once", long], maxTokens: 3 } }), { delta: (d) => void deltas.push(d) }, { signal }));
      assert.deepEqual([err.code, err.param], ["context_length_exceeded", "prompt"]);
      assert.match(err.message, /^This model's maximum context length is \d+ tokens\. However, your prompt\[1\] resulted in \d{3,} tokens\. Please reduce the length of the prompt\.$/);
      assert.equal(deltas.length, 0, "nothing generated before the error");
      err = await brokerError(small.complete!(job({ completion: { prompts: [long] } }), { delta: (d) => void deltas.push(d) }, { signal }));
      assert.match(err.message, /However, your prompt resulted in \d+ tokens/);
      err = await brokerError(small.embed!(job({ embedding: { inputs: [long] } }), { signal }));
      assert.deepEqual([err.code, err.param], ["context_length_exceeded", "input"]);
      assert.match(err.message, /^This model's maximum context length is 64 tokens\. However, your input resulted in \d+ tokens\. Please reduce the length of the input\.$/);
    } finally {
      await small.close();
    }
  });

  test("abort mid-generation frees the sequence at once", async () => {
    const one = await make({ sequences: 1 });
    try {
      const ac = new AbortController();
      let seen = 0;
      const run = one.run(makeJob("demo", chat({ maxTokens: 100_000 })), { delta: () => (++seen === 5 ? ac.abort() : undefined) }, { signal: ac.signal });
      await assert.rejects(run, (err: Error) => err.name === "AbortError");
      const t0 = performance.now();
      let first = 0;
      await one.run(makeJob("demo", chat({ maxTokens: 3 })), { delta: () => void (first ||= performance.now() - t0) }, { signal: new AbortController().signal });
      console.log(`llama-cpp: first delta ${first.toFixed(1)} ms after an aborted run`);
      assert.ok(first < 1000, `first delta after ${first} ms`);
    } finally {
      await one.close();
    }
  });

  test("4 concurrent runs on 2 sequences all finish", async () => {
    const t0 = performance.now();
    let active = 0;
    let most = 0;
    const sink = {
      delta: (d: Delta): void => {
        if (d.role) most = Math.max(most, ++active);
        if (d.finishReason) active--;
      },
    };
    const results = await Promise.all([1, 2, 3, 4].map((seed) => engine.run(makeJob("demo", chat({ seed, maxTokens: 200 })), sink, { signal: new AbortController().signal })));
    const tokens = results.reduce((n, r) => n + (r.usage.completionTokens ?? 0), 0);
    console.log(`llama-cpp: 4 runs on 2 sequences, ${tokens} tokens in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(most, 2, "two runs at a time");
    assert.equal(active, 0);
    for (const r of results) assert.ok((r.usage.completionTokens ?? 0) > 0);
  });
});

describe("llama-cpp engine start-up errors", () => {
  const startError = async (options: Record<string, unknown>, pattern: RegExp): Promise<void> => {
    const err = await configError(make(options));
    assert.match(err.message, pattern);
  };
  const variant = async (name: string, edit: (m: ReturnType<typeof buildDemoModel>) => void): Promise<string> => {
    const path = join(dir, name);
    const m = buildDemoModel();
    edit(m);
    await writeGguf(path, m.metadata, m.tensors);
    return path;
  };

  test("a truncated file, a wrong magic, a missing key: clear errors naming the file, no crash", async () => {
    const cut = join(dir, "cut.gguf");
    await writeDemoModel(cut);
    await truncate(cut, 400_000);
    await startError({ modelPath: cut }, /^llama-cpp engine: option modelPath: model file .*cut\.gguf is truncated: tensor data needs \d+ bytes/);
    await truncate(cut, 1000);
    await startError({ modelPath: cut }, /cut\.gguf is truncated/);
    const magic = join(dir, "magic.gguf");
    await writeFile(magic, Buffer.from("GGML not really a model at all"));
    await startError({ modelPath: magic }, /magic\.gguf not a GGUF file \(starts with "GGML"/);
    const noFfn = await variant("noffn.gguf", (m) => m.metadata.delete("llama.feed_forward_length"));
    await startError({ modelPath: noFfn }, /noffn\.gguf metadata key llama\.feed_forward_length is missing/);
    const noMerges = await variant("nomerges.gguf", (m) => m.metadata.delete("tokenizer.ggml.merges"));
    await startError({ modelPath: noMerges }, /tokenizer\.ggml\.merges is missing/);
    await startError({ modelPath: join(dir, "absent.gguf") }, /absent\.gguf does not exist/);
    // Past the checks, llama.cpp's own loader throws; its logged reason reaches the message.
    const noTensor = await variant("notensor.gguf", (m) => void m.tensors.splice(5, 1));
    await startError({ modelPath: noTensor }, /llama\.cpp could not load .*notensor\.gguf: .*tensor 'blk\.0\.attn_output\.weight'/);
  });

  test("no chat template: an error unless chatTemplate is set", async () => {
    const bare = await variant("bare.gguf", (m) => m.metadata.delete("tokenizer.chat_template"));
    await startError({ modelPath: bare }, /^llama-cpp engine: option chatTemplate: model file .*bare\.gguf has no chat template/);
    const e = await make({ modelPath: bare, chatTemplate: "chatML", sequences: 1 });
    try {
      checkDeltas((await runJob(e, makeJob("demo", chat({ maxTokens: 3 })))).deltas);
    } finally {
      await e.close();
    }
  });

  test("options: unknown, wrong type, no model; modelsDir serves <model id>.gguf", async () => {
    await startError({ temperature: 1 }, /option temperature: /);
    await startError({ gpu: "rocm" }, /option gpu: /);
    await startError({ modelPath: undefined }, /option modelPath: give modelPath or modelsDir/);
    const e = await createLlamaCppEngine({ model: "demo", options: { modelsDir: dir, gpu: false, threads: 1, sequences: 1 } });
    await e.close();
    await assert.rejects(createLlamaCppEngine({ model: "../demo", options: { modelsDir: dir, gpu: false } }), /not a plain file name/);
  });
});
