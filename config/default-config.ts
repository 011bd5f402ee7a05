import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest folder above this file with a package.json (from config/ and dist/config/ alike). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where set-up writes the demo model (scripts/gen-demo-model.ts). */
export const demoModelPath = join(repoRoot(), "models", "demo.gguf");

/**
 * What `broker up` serves with no config file: `demo`, real llama.cpp
 * inference on the tiny generated GGUF (its output is noise), and `sim`, a
 * simulated model with a human-visible pace.
 */
export const defaultConfig = {
  gateway: {
    grpcPort: 50051,
    models: [
      { id: "demo", queueWithoutWorkers: true },
      { id: "sim", queueWithoutWorkers: true },
    ],
  },
  workers: [
    {
      name: "demo",
      slots: 2,
      // One thread: on a small machine more threads only fight the gateway for cores.
      models: [{ id: "demo", engine: "llama-cpp", options: { modelPath: demoModelPath, threads: 1, contextSize: 2048 } }],
    },
    {
      name: "sim",
      slots: 8,
      models: [{ id: "sim", engine: "sim", options: { ttftMs: 80, itlMs: 15, outputTokens: 48 } }],
    },
  ],
} as const;
