import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { Config } from "../../config/config.js";
import { collect, createInferenceClient, type InferenceClient } from "../../grpc/client.js";
import type { GatewayHandle } from "../../gateway/main.js";
import { waitForModel } from "../helpers/broker.js";
import { startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fake-openai.js";
import { postJson, postSse } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const UPSTREAM = "x-broker-upstream-model";

/** The `model` of a JSON answer. */
async function modelOf(res: Response): Promise<string> {
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { model?: unknown };
  return String(body.model);
}

/** The one `model` every event of a stream names (it fails when events disagree). */
function streamedModel(events: Record<string, unknown>[]): string {
  const models = new Set(events.map((e) => String(e.model)));
  assert.equal(models.size, 1, `every event names one model: ${[...models].join(", ")}`);
  return [...models][0] as string;
}

interface Case {
  what: string;
  /** The public id the client asks for, and the model every answer must name. */
  ask: string;
  answers: string;
  /** The upstream's own name, when it differs from `answers`. */
  upstream: string | null;
  /** Runs before each request (a chain's first target failing). */
  arrange?: () => void;
}

// `model` is the public id of the route target that served the request, stream or not, on every front.
describe("the model field names the route target, stream and non-stream alike", () => {
  const h = useHarness();
  let cloud: FakeOpenAI;
  let broken: FakeOpenAI;
  let claude: FakeAnthropic;
  let gw: GatewayHandle;
  let grpcClient: InferenceClient;

  before(async () => {
    cloud = await startFakeOpenAI();
    broken = await startFakeOpenAI();
    claude = await startFakeAnthropic();
    h.defer(() => cloud.close());
    h.defer(() => broken.close());
    h.defer(() => claude.close());
    process.env.FAKE_ANTHROPIC_KEY = "sk-ant-model-field-test";
    const cfg: Config = h.config({
      gateway: {
        grpcPort: 0,
        models: [
          { id: "local" },
          { id: "fast", model: "local" },
          { prefix: "openai/", model: "cloud" },
          { id: "claude", model: "claude-worker", upstreamModel: "claude-sonnet-4-6" },
          { id: "broken" },
          { id: "chain", chain: ["broken", "openai/gpt-4o-mini"], fallback: { onError: true } },
        ],
      },
      // One model per worker process: a worker serving several models here spun its CPU and lost heartbeats.
      workers: [
        { name: "local", slots: 2, models: [{ id: "local", engine: "sim", options: { outputTokens: 4 } }] },
        { name: "cloud", slots: 2, models: [{ id: "cloud", engine: "openai-http", options: { baseUrl: cloud.url } }] },
        { name: "broken", slots: 2, models: [{ id: "broken", engine: "openai-http", options: { baseUrl: broken.url } }] },
        { name: "claude", slots: 2, models: [{ id: "claude-worker", engine: "anthropic", options: { baseUrl: claude.url, apiKeyEnv: "FAKE_ANTHROPIC_KEY" } }] },
      ],
    });
    for (const name of ["local", "cloud", "broken", "claude"]) h.worker(cfg, name);
    gw = await h.gateway(cfg);
    for (const m of ["local", "cloud", "broken", "claude-worker"]) await waitForModel(gw.url, m);
    assert.ok(gw.grpcAddress);
    grpcClient = createInferenceClient(gw.grpcAddress);
    h.defer(async () => grpcClient.close());
  });

  const cases: Case[] = [
    { what: "sim", ask: "local", answers: "local", upstream: null },
    { what: "an alias", ask: "fast", answers: "fast", upstream: "local" },
    { what: "openai-http through a prefix route", ask: "openai/gpt-4o-mini", answers: "openai/gpt-4o-mini", upstream: "gpt-4o-mini" },
    { what: "anthropic with an upstreamModel", ask: "claude", answers: "claude", upstream: "claude-sonnet-4-6" },
    {
      what: "a chain whose first target fails over to the second", ask: "chain", answers: "openai/gpt-4o-mini", upstream: "gpt-4o-mini",
      arrange: () => broken.failNext({ status: 500 }),
    },
  ];
  const messages = [{ role: "user", content: "which model are you" }];

  for (const c of cases) {
    test(`chat completions, ${c.what}: '${c.answers}' stream and non-stream`, async () => {
      c.arrange?.();
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model: c.ask, messages });
      assert.equal(res.headers.get(UPSTREAM), c.upstream, "the upstream's own name is in a header, only when it differs");
      assert.equal(await modelOf(res), c.answers);
      c.arrange?.();
      const s = await postSse(`${gw.url}/v1/chat/completions`, { model: c.ask, messages, stream: true, stream_options: { include_usage: true } });
      assert.equal(s.status, 200, s.raw);
      assert.equal(streamedModel(s.events), c.answers);
    });

    test(`gRPC chat, ${c.what}: '${c.answers}'`, async () => {
      c.arrange?.();
      const { final } = await collect(grpcClient.chat(c.ask, { messages }));
      assert.equal(final.model, c.answers);
    });
  }

  // Anthropic serves neither legacy completions nor embeddings. The fake OpenAI fails only chat on
  // request, so there a chain's first target answers, and the chain names it.
  const legacyCases: Case[] = [
    ...cases.filter((x) => x.ask !== "claude" && x.ask !== "chain"),
    { what: "a chain whose first target answers", ask: "chain", answers: "broken", upstream: null },
  ];
  for (const c of legacyCases) {
    test(`legacy completions and embeddings, ${c.what}: '${c.answers}'`, async () => {
      const res = await postJson(`${gw.url}/v1/completions`, { model: c.ask, prompt: "which model" });
      assert.equal(res.headers.get(UPSTREAM), c.upstream);
      assert.equal(await modelOf(res), c.answers);
      const s = await postSse(`${gw.url}/v1/completions`, { model: c.ask, prompt: "which model", stream: true });
      assert.equal(s.status, 200, s.raw);
      assert.equal(streamedModel(s.events), c.answers);
      const { final } = await collect(grpcClient.completion(c.ask, { prompts: ["which model"] }));
      assert.equal(final.model, c.answers, "gRPC completion");
      const e = await postJson(`${gw.url}/v1/embeddings`, { model: c.ask, input: "which model" });
      assert.equal(e.headers.get(UPSTREAM), c.upstream);
      assert.equal(await modelOf(e), c.answers);
      assert.equal((await grpcClient.embed(c.ask, { inputs: ["which model"] })).model, c.answers, "gRPC embed");
    });
  }
});
