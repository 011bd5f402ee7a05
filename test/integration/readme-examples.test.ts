import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { parseConfig } from "../../config/config.js";
import { waitForModel } from "../helpers/broker.js";
import { startFakeOpenAI } from "../helpers/fake-openai.js";
import { postJson } from "../helpers/http.js";
import { useHarness } from "../helpers/stack.js";

const README = fileURLToPath(new URL("../../../README.md", import.meta.url));

/** The yaml blocks of the README section under `heading`, in order. */
function yamlBlocks(heading: string): Record<string, unknown>[] {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has a section '${heading}'`);
  const next = text.slice(start + heading.length + 2).search(/\n#{1,3} /);
  const section = text.slice(start, next < 0 ? undefined : start + heading.length + 2 + next);
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] as string) as Record<string, unknown>);
}

/** Points every relay `baseUrl` in a README config at local stand-ins, keeping everything else as written. */
function withBaseUrls(cfg: Record<string, unknown>, urls: Record<string, string>): Record<string, unknown> {
  const text = JSON.stringify(cfg).replace(/"baseUrl":"([^"]+)"/g, (whole, url: string) => (urls[url] ? `"baseUrl":"${urls[url]}"` : whole));
  return JSON.parse(text) as Record<string, unknown>;
}

interface Completion {
  model: string;
  choices: { message: { content: string } }[];
  error?: { code: string };
}

// The README's configuration examples, run as written: a config a new user copies must work.
describe("README examples", () => {
  const harness = useHarness();

  test("the configuration reference parses", () => {
    const [reference] = yamlBlocks("## Configuration");
    assert.ok(reference, "the section has a yaml block");
    const cfg = parseConfig(reference);
    assert.ok(cfg.workers.length > 0);
  });

  test("routes, the fallback chain and the two-model cloud worker answer as the README says", async () => {
    const [example] = yamlBlocks("### Routes, fallback chains and credentials");
    assert.ok(example, "the section has a yaml block");
    const openai = await startFakeOpenAI();
    const openrouter = await startFakeOpenAI();
    harness.defer(() => openai.close());
    harness.defer(() => openrouter.close());
    process.env.OPENAI_API_KEY = "sk-readme-openai";
    const raw = withBaseUrls(example, { "https://api.openai.com/v1": openai.url, "https://openrouter.ai/api/v1": openrouter.url });
    const cfg = harness.config(raw);
    const gw = await harness.gateway(cfg);
    harness.worker(cfg, "cloud");
    await waitForModel(gw.url, "openai");
    await waitForModel(gw.url, "openrouter");
    const chat = `${gw.url}/v1/chat/completions`;
    const messages = [{ role: "user", content: "hello readme" }];

    const viaPrefix = await postJson(chat, { model: "openai/gpt-4o-mini", messages });
    const prefixBody = (await viaPrefix.json()) as Completion;
    assert.equal(viaPrefix.status, 200, JSON.stringify(prefixBody));
    assert.equal((openai.requests.at(-1)?.body as { model: string }).model, "gpt-4o-mini", "the rest of the id goes upstream");
    assert.equal(openai.requests.at(-1)?.headers.authorization, "Bearer sk-readme-openai", "the worker's own key");

    const noKey = await postJson(chat, { model: "byok/meta-llama/llama-3.1-8b-instruct", messages });
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as Completion).error?.code, "invalid_api_key");
    const byok = await postJson(chat, { model: "byok/meta-llama/llama-3.1-8b-instruct", messages }, { authorization: "Bearer sk-client-own" });
    assert.equal(byok.status, 200);
    assert.equal(openrouter.requests.at(-1)?.headers.authorization, "Bearer sk-client-own", "the client's key goes upstream");

    // llama-3.1-8b has no worker in this example: the chain spills to the cloud at once.
    const smart = await postJson(chat, { model: "smart", messages });
    assert.equal(smart.status, 200);
    assert.equal(smart.headers.get("x-broker-route"), "smart>openai/gpt-4o-mini");
  });
});
