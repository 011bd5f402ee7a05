// The input limits through a real gateway: the configured values reach both
// fronts, and a deeply nested body is a quick 400, never a 500 or a stalled
// event loop. No worker runs: every request here is refused before a job is
// queued.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { BrokerError } from "../../contract/errors.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { createInferenceClient } from "../../grpc/client.js";
import type { ErrorBody } from "../helpers/bodies.js";
import { postJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const DEEP = 100_000;
const deepArray = "[".repeat(DEEP) + "]".repeat(DEEP);

async function expect400(res: Response, param: string | null, message: RegExp): Promise<void> {
  const body = (await res.json()) as ErrorBody;
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.deepEqual([body.error.type, body.error.code, body.error.param], ["invalid_request_error", "invalid_request", param]);
  assert.match(body.error.message, message);
}

describe("input limits through the gateway", () => {
  const harness = useHarness();
  let gw: GatewayHandle;
  let chat: string;

  before(async () => {
    const cfg = harness.config({ gateway: { grpcPort: 0, models: [{ id: "m" }], inputLimits: { maxMessages: 2, maxN: 3 } } });
    gw = await harness.gateway(cfg);
    chat = `${gw.url}/v1/chat/completions`;
  });

  test("a 100,000-deep nested array body is a quick 400 naming maxJsonDepth", async () => {
    const t0 = performance.now();
    await expect400(await postJson(chat, deepArray), null, /JSON nested too deeply\. Expected at most 64 levels .*gateway\.inputLimits\.maxJsonDepth/);
    const ms = performance.now() - t0;
    console.log(`# a ${DEEP}-deep body refused in ${ms.toFixed(1)} ms`);
    assert.ok(ms < 2000, `refused after ${ms} ms`);
  });

  test("deep nesting in a field the gateway passes on is a 400, not a 500", async () => {
    // Unmodelled fields travel to engines as JSON text: stringifying this one overflowed the stack.
    const body = `{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":${deepArray}}`;
    await expect400(await postJson(chat, body), null, /maxJsonDepth/);
    await expect400(await postJson(`${gw.url}/v1/embeddings`, `{"model":"m","input":"hi","x":${deepArray}}`), null, /maxJsonDepth/);
    // The gateway goes on answering as before.
    const after = await postJson(chat, { model: "m", messages: [{ role: "user", content: "hi" }] });
    assert.equal(after.status, 503);
  });

  test("configured limits reach the HTTP front, for every endpoint", async () => {
    const user = { role: "user", content: "hi" };
    await expect400(await postJson(chat, { model: "m", messages: [user, user, user] }), "messages",
      /^Invalid 'messages': array too long\. Expected an array with maximum length 2, but got an array with length 3 instead\. This gateway's limit is set by gateway\.inputLimits\.maxMessages\.$/);
    await expect400(await postJson(chat, { model: "m", messages: [user], n: 4 }), "n", /<= 3, but got 4 .*maxN/);
    await expect400(await postJson(`${gw.url}/v1/completions`, { model: "m", prompt: ["a", "b", "c"] }), "prompt", /maxMessages/);
    await expect400(await postJson(`${gw.url}/v1/completions`, { model: "m", prompt: "a", max_tokens: 1_000_001 }), "max_tokens", /<= 1000000, .*maxTokens/);
  });

  test("configured limits reach the gRPC front", async () => {
    const client = createInferenceClient(gw.grpcAddress as string);
    try {
      const user = { role: "user", content: "hi" };
      const read = async (): Promise<void> => {
        for await (const _ of client.chat("m", { messages: [user, user, user] })) assert.fail("no output expected");
      };
      await assert.rejects(read(), (e: unknown) => {
        assert.ok(e instanceof BrokerError, String(e));
        assert.deepEqual([e.status, e.code, e.param], [400, "invalid_request", "request.messages"]);
        assert.match(e.message, /maximum length 2, but got an array with length 3 .*gateway\.inputLimits\.maxMessages/);
        return true;
      });
    } finally {
      client.close();
    }
  });
});
