import type { EngineFactory } from "../engine.js";
import { createOpenAIHttpEngine } from "./openai-http/index.js";
import { createSimEngine } from "./sim/index.js";

/** Every engine a worker can run, by the name configs use. The runtime only ever looks names up here. */
export const engines: Readonly<Record<string, EngineFactory>> = {
  sim: createSimEngine,
  "openai-http": createOpenAIHttpEngine,
};
