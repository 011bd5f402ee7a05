// The worker side's public entry: the runtime and the engines it can run.
export type { DeltaSink, EmbedResult, EngineAdapter, EngineFactory, EngineSpec, RunContext, RunResult } from "./engine.js";
export { engines } from "./engines/index.js";
export { startWorker, type WorkerHandle } from "./runtime.js";
export { writeDemoModel } from "./engines/llama-cpp/demo-model.js";
