import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type OpenAI from "openai";
import type { GatewayHandle } from "../../gateway/main.js";
import { last, nth, usageOf, type Base64EmbeddingResponse, type ErrorBody } from "../helpers/bodies.js";
import { spawnWorker, startTestGateway, testConfig, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";
import { fakeVector } from "../helpers/fake-openai-legacy.js";
import { postJson, postSse, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

// Legacy completions and embeddings, served by sim and relayed by openai-http, in real worker processes.
describe("/v1/completions and /v1/embeddings", () => {
  let nats: TestNats;
  let fake: FakeOpenAI;
  let gw: GatewayHandle;
  const workers: WorkerProcess[] = [];

  before(async () => {
    nats = await startNats();
    fake = await startFakeOpenAI();
    const cfg = testConfig(nats.url, {
      workers: [
        { name: "sim", slots: 2, models: [{ id: "sim", engine: "sim", options: { outputTokens: 6, embeddingDims: 16 } }] },
        { name: "relay", slots: 2, models: [{ id: "relay", engine: "openai-http", options: { baseUrl: fake.url } }] },
      ],
    });
    workers.push(spawnWorker(cfg, "sim"), spawnWorker(cfg, "relay"));
    gw = await startTestGateway(cfg);
    await waitForModel(gw.url, "sim");
    await waitForModel(gw.url, "relay");
  });
  after(async () => {
    await gw?.close();
    for (const w of workers) {
      w.child.kill("SIGTERM");
      await w.exited;
    }
    await fake?.close();
    await nats?.close();
  });

  for (const model of ["sim", "relay"]) {
    test(`${model}: legacy completion, non-stream and stream`, async () => {
      const body = await readJson<OpenAI.Completion>(postJson(`${gw.url}/v1/completions`, { model, prompt: ["alpha beta", "gamma"], n: 2, max_tokens: 3 }));
      assert.equal(body.object, "text_completion");
      assert.match(body.id, /^cmpl-/);
      assert.deepEqual(body.choices.map((c) => c.index), [0, 1, 2, 3], "n choices per prompt");
      for (const c of body.choices) {
        assert.equal(typeof c.text, "string");
        assert.ok(c.text.length > 0);
        assert.equal(c.finish_reason, "length");
        assert.equal(c.logprobs, null);
      }
      assert.ok(usageOf(body).completion_tokens >= 12);
      const r = await postSse<OpenAI.Completion>(`${gw.url}/v1/completions`, { model, prompt: "alpha beta", stream: true, stream_options: { include_usage: true } });
      assert.equal(r.status, 200);
      assert.ok(r.done);
      const chunks = r.events.filter((e) => e.choices.length > 0);
      assert.ok(chunks.every((e) => e.object === "text_completion"));
      const text = chunks.map((e) => nth(e.choices).text).join("");
      assert.ok(text.length > 0);
      assert.equal(chunks[chunks.length - 1]?.choices[0]?.finish_reason, "stop");
      assert.ok(usageOf(last(r.events)).completion_tokens > 0);
    });
  }

  test("sim: echo prepends the prompt", async () => {
    const body = await readJson<OpenAI.Completion>(postJson(`${gw.url}/v1/completions`, { model: "sim", prompt: "Once upon", echo: true, max_tokens: 2 }));
    assert.ok(nth(body.choices).text.startsWith("Once upon"));
  });

  test("sim: embeddings as floats and as base64 float32", async () => {
    const f = await readJson<OpenAI.CreateEmbeddingResponse>(postJson(`${gw.url}/v1/embeddings`, { model: "sim", input: ["a cat", "a dog"] }));
    assert.equal(f.object, "list");
    assert.equal(f.data.length, 2);
    assert.equal(f.data[0]?.object, "embedding");
    assert.equal(f.data[1]?.index, 1);
    assert.equal(f.data[0]?.embedding.length, 16);
    assert.ok(f.usage.prompt_tokens > 0);
    const b = await readJson<Base64EmbeddingResponse>(postJson(`${gw.url}/v1/embeddings`, { model: "sim", input: ["a cat", "a dog"], encoding_format: "base64" }));
    const bytes = Buffer.from(nth(b.data).embedding, "base64");
    const decoded = Array.from(new Float32Array(Uint8Array.from(bytes).buffer));
    assert.deepEqual(decoded, f.data[0]?.embedding, "base64 decodes to the same float32 values");
  });

  test("relay: embeddings come back from the upstream in input order", async () => {
    const f = await readJson<OpenAI.CreateEmbeddingResponse>(postJson(`${gw.url}/v1/embeddings`, { model: "relay", input: ["hello", "world"] }));
    assert.deepEqual(f.data.map((d) => d.index), [0, 1]);
    const want = fakeVector("world").map((x) => Math.fround(x));
    assert.deepEqual(f.data[1]?.embedding, want);
  });

  test("bad inputs are 400s that name the field", async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["/v1/completions", { model: "sim", prompt: [1, 2, 3] }, "prompt"],
      ["/v1/completions", { model: "sim" }, "prompt"],
      ["/v1/completions", { model: "sim", prompt: "x", best_of: 3 }, "best_of"],
      ["/v1/embeddings", { model: "sim", input: "" }, "input"],
      ["/v1/embeddings", { model: "sim", input: ["ok", ""] }, "input[1]"],
      ["/v1/embeddings", { model: "sim", input: "x", encoding_format: "int8" }, "encoding_format"],
    ];
    for (const [path, body, param] of cases) {
      const res = await postJson(`${gw.url}${path}`, body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal((await readJson<ErrorBody>(res)).error.param, param);
    }
    const unknown = await postJson(`${gw.url}/v1/embeddings`, { model: "nope", input: "x" });
    assert.equal(unknown.status, 404);
  });
});
