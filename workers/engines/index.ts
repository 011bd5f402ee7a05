import type { EngineFactory } from "../engine.js";
import { createAnthropicEngine } from "./anthropic/index.js";
import { createOpenAIHttpEngine } from "./openai-http/index.js";
import { createSimEngine } from "./sim/index.js";

/** Every engine a worker can run, by the name configs use. The runtime only ever looks names up here. */
export const engines: Readonly<Record<string, EngineFactory>> = {
  sim: createSimEngine,
  "openai-http": createOpenAIHttpEngine,
  anthropic: createAnthropicEngine,
  // Loaded on first use: node-llama-cpp costs start-up time that sim and relay workers need not pay.
  "llama-cpp": async (spec) => (await import("./llama-cpp/index.js")).createLlamaCppEngine(spec),
};
