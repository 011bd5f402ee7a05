// The llama-cpp engine's cost: tokens/s through the broker (HTTP → NATS →
// worker → llama.cpp → chunks → HTTP) against node-llama-cpp called directly
// in one process, on the same generated model with the same settings (CPU,
// 1 thread, 1 sequence), the same prompts, seeds and max_tokens.
// Usage: node dist/bench/llama.js [requests=20] [rounds=3]   (target: ≥ 0.95×)
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaCompletion } from "node-llama-cpp";
import { writeDemoModel } from "../workers/engines/llama-cpp/demo-model.js";
import { freePort, installCleanup, spawnProc, startNats, stopAll, tempDir, waitUntil } from "./procs.js";
import { BROKER_CLI } from "./systems.js";

const REQUESTS = Number(process.argv[2] ?? 20);
const ROUNDS = Number(process.argv[3] ?? 3);
const MAX_TOKENS = 200;
const PROMPT = "Once upon a time, in a land far away, there lived";
const SETTINGS = { gpu: false as const, threads: 1, contextSize: 1024 };

interface Run {
  tokens: number;
  seconds: number;
}

async function direct(modelPath: string): Promise<() => Promise<Run>> {
  const llama = await getLlama({ gpu: false });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: SETTINGS.contextSize, sequences: 1, threads: SETTINGS.threads });
  const sequence = context.getSequence();
  return async () => {
    let tokens = 0;
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      await sequence.clearHistory();
      const completion = new LlamaCompletion({ contextSequence: sequence });
      const text = await completion.generateCompletion(PROMPT, { maxTokens: MAX_TOKENS, seed: i, temperature: 0.8 });
      tokens += model.tokenize(text).length;
      completion.dispose();
    }
    return { tokens, seconds: (performance.now() - t0) / 1000 };
  };
}

async function broker(modelPath: string, dir: string): Promise<() => Promise<Run>> {
  const nats = await startNats();
  const port = await freePort();
  const config = join(dir, "broker.json");
  writeFileSync(config, JSON.stringify({
    nats: { url: nats.url, prefix: "benchllama" },
    gateway: { port },
    workers: [{ name: "llama", slots: 1, coalesceMs: Number(process.env.COALESCE_MS ?? 0), models: [{ id: "demo", engine: "llama-cpp", options: { modelPath, ...SETTINGS } }] }],
  }));
  const env = { NATS_URL: nats.url, LOG_LEVEL: "warn" };
  spawnProc("worker", process.execPath, [BROKER_CLI, "worker", "--config", config], env);
  const gw = spawnProc("gateway", process.execPath, [BROKER_CLI, "gateway", "--config", config], env);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil("the llama worker to be live", async () => {
    const res = await fetch(`${url}/v1/models`).catch(() => undefined);
    return ((await res?.json()) as { data?: { id: string }[] } | undefined)?.data?.some((m) => m.id === "demo") ?? false;
  }, 60_000, gw);
  return async () => {
    let tokens = 0;
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "demo", prompt: PROMPT, max_tokens: MAX_TOKENS, seed: i, temperature: 0.8, stream: true, stream_options: { include_usage: true } }),
      });
      const text = await res.text();
      const usage = /"completion_tokens":(\d+)/.exec(text);
      tokens += Number(usage?.[1] ?? 0);
    }
    return { tokens, seconds: (performance.now() - t0) / 1000 };
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  installCleanup(stopAll);
  const dir = tempDir("bench-llama-");
  const modelPath = join(dir, "demo.gguf");
  await writeDemoModel(modelPath);
  const runDirect = await direct(modelPath);
  const runBroker = await broker(modelPath, dir);
  await runDirect();
  await runBroker(); // warm-up, not counted
  const rates: { direct: number[]; broker: number[] } = { direct: [], broker: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of [["direct", runDirect], ["broker", runBroker]] as const) {
      const { tokens, seconds } = await run();
      rates[name].push(tokens / seconds);
      console.error(`round ${r + 1} ${name}: ${tokens} tokens in ${seconds.toFixed(2)} s = ${(tokens / seconds).toFixed(0)} tokens/s`);
    }
  }
  const result = {
    date: new Date().toISOString(),
    settings: { ...SETTINGS, sequences: 1, requests: REQUESTS, rounds: ROUNDS, maxTokens: MAX_TOKENS },
    tokens_per_s: { direct: median(rates.direct), broker: median(rates.broker) },
    ratio: median(rates.broker) / median(rates.direct),
    target: 0.95,
  };
  console.log(JSON.stringify(result, null, 2));
  const out = fileURLToPath(new URL("../../bench/results/", import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "llama-latest.json"), `${JSON.stringify(result, null, 2)}\n`);
  await stopAll();
}

main().catch(async (e: unknown) => {
  console.error(e);
  await stopAll();
  process.exit(1);
});
