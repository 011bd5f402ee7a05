import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type OpenAI from "openai";
import type { GatewayHandle } from "../../gateway/main.js";
import { messageText, usageOf, type ModelList } from "../helpers/bodies.js";
import { spawnWorker, startTestGateway, testConfig, waitForModel, type WorkerProcess } from "../helpers/broker.js";
import { joinChoices, postJson, postSse, readJson } from "../helpers/http.js";
import { startNats, type TestNats } from "../helpers/nats.js";

// One gateway in this process and one real `broker worker` process serving the sim engine.
describe("chat completions through NATS with the sim engine", () => {
  let nats: TestNats;
  let gw: GatewayHandle;
  let worker: WorkerProcess;
  let chat: string;

  before(async () => {
    nats = await startNats();
    const cfg = testConfig(nats.url, {
      workers: [{ name: "sim", slots: 4, models: [{ id: "org/sim-1:latest", engine: "sim", options: { outputTokens: 12 } }] }],
    });
    worker = spawnWorker(cfg, "sim");
    gw = await startTestGateway(cfg);
    chat = `${gw.url}/v1/chat/completions`;
    await waitForModel(gw.url, "org/sim-1:latest");
  });
  after(async () => {
    await gw?.close();
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await nats?.close();
  });

  const base = { model: "org/sim-1:latest", messages: [{ role: "user", content: "Say something" }] };

  test("non-stream answers a chat.completion with usage", async () => {
    const res = await postJson(chat, { ...base, seed: 7 });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("x-request-id") ?? "", /.+/);
    const body = await readJson<OpenAI.ChatCompletion>(res);
    assert.equal(body.object, "chat.completion");
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.model, "org/sim-1:latest");
    assert.equal(body.choices.length, 1);
    assert.equal(body.choices[0]?.message.role, "assistant");
    assert.ok(messageText(body).length > 0);
    assert.equal(body.choices[0]?.finish_reason, "stop");
    const usage = usageOf(body);
    assert.equal(usage.completion_tokens, 12);
    assert.equal(usage.total_tokens, usage.prompt_tokens + 12);
    // Same seed, same text: the sim is deterministic.
    const again = await readJson<OpenAI.ChatCompletion>(postJson(chat, { ...base, seed: 7 }));
    assert.equal(again.choices[0]?.message.content, body.choices[0]?.message.content);
  });

  test("stream is OpenAI SSE: role first, finish_reason, [DONE], same text as non-stream", async () => {
    const r = await postSse<OpenAI.ChatCompletionChunk>(chat, { ...base, seed: 7, stream: true });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.match(r.headers.get("x-request-id") ?? "", /.+/);
    assert.ok(r.done, "ends with data: [DONE]");
    assert.ok(r.raw.endsWith("data: [DONE]\n\n"));
    const first = r.events[0];
    assert.equal(first?.object, "chat.completion.chunk");
    assert.equal(first?.choices[0]?.delta.role, "assistant");
    assert.ok(r.events.every((e) => !("usage" in e)), "no usage field without include_usage");
    const nonStream = await readJson<OpenAI.ChatCompletion>(postJson(chat, { ...base, seed: 7 }));
    const c = joinChoices(r.events).get(0);
    assert.equal(c?.text, nonStream.choices[0]?.message.content);
    assert.equal(c?.finish, "stop");
  });

  test("include_usage adds usage: null to chunks and a final usage chunk", async () => {
    const r = await postSse<OpenAI.ChatCompletionChunk>(chat, { ...base, stream: true, stream_options: { include_usage: true } });
    const last = r.events[r.events.length - 1];
    assert.deepEqual(last?.choices, []);
    assert.equal(last?.usage?.completion_tokens, 12);
    for (const e of r.events.slice(0, -1)) assert.equal(e.usage, null);
  });

  test("n=3 gives three choices, each finished", async () => {
    const body = await readJson<OpenAI.ChatCompletion>(postJson(chat, { ...base, n: 3 }));
    assert.deepEqual(body.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(body.usage?.completion_tokens, 36);
    const r = await postSse(chat, { ...base, n: 3, stream: true });
    const choices = joinChoices(r.events);
    assert.equal(choices.size, 3);
    for (const c of choices.values()) {
      assert.equal(c.role, "assistant");
      assert.equal(c.finish, "stop");
    }
  });

  test("max_tokens and max_completion_tokens cut with finish_reason length", async () => {
    for (const key of ["max_tokens", "max_completion_tokens"]) {
      const body = await readJson<OpenAI.ChatCompletion>(postJson(chat, { ...base, [key]: 3 }));
      assert.equal(body.choices[0]?.finish_reason, "length", key);
      assert.equal(body.usage?.completion_tokens, 3, key);
    }
  });

  test("stop cuts the text before the stop sequence", async () => {
    const full = await readJson<OpenAI.ChatCompletion>(postJson(chat, { ...base, seed: 3 }));
    const text = messageText(full);
    const stop = text.split(" ").slice(2, 4).join(" ");
    const cut = await readJson<OpenAI.ChatCompletion>(postJson(chat, { ...base, seed: 3, stop: [stop] }));
    assert.equal(cut.choices[0]?.message.content, text.slice(0, text.indexOf(stop)));
    assert.equal(cut.choices[0]?.finish_reason, "stop");
    const r = await postSse(chat, { ...base, seed: 3, stop, stream: true });
    assert.equal(joinChoices(r.events).get(0)?.text, text.slice(0, text.indexOf(stop)));
  });

  test("models list and retrieve, with / in the id", async () => {
    const list = await readJson<ModelList>(fetch(`${gw.url}/v1/models`));
    assert.equal(list.object, "list");
    assert.ok(list.data.some((m) => m.id === "org/sim-1:latest" && m.object === "model"));
    for (const path of ["org%2Fsim-1%3Alatest", "org/sim-1:latest"]) {
      const res = await fetch(`${gw.url}/v1/models/${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(((await res.json()) as { id: string }).id, "org/sim-1:latest");
    }
  });

  test("health and readiness", async () => {
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    const ready = await fetch(`${gw.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.match(ready.headers.get("x-request-id") ?? "", /.+/);
  });

  test("a client's x-request-id is echoed", async () => {
    const res = await postJson(chat, base, { "x-request-id": "abc-123" });
    assert.equal(res.headers.get("x-request-id"), "abc-123");
    const r = await postSse(chat, { ...base, stream: true }, { "x-request-id": "abc-456" });
    assert.equal(r.headers.get("x-request-id"), "abc-456");
  });
});
