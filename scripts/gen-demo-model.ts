// Writes the demo model (models/demo.gguf, git-ignored) unless it is there:
// a tiny llama.cpp model with random weights whose output is noise, so a fresh
// clone serves real llama.cpp inference without downloading anything.
// Usage: node dist/scripts/gen-demo-model.js [path]
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
// demo-model.js rather than the engine's index.js: writing the file needs no llama.cpp binding.
import { writeDemoModel } from "../workers/mod.js";

export { writeDemoModel };

/** The repository root: the nearest folder above this file with a package.json (works from scripts/ and dist/scripts/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const path = resolve(process.argv[2] ?? join(repoRoot(), "models", "demo.gguf"));
  if (existsSync(path)) {
    console.error(`gen-demo-model: ${path} exists, left as it is`);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    await writeDemoModel(path);
    console.error(`gen-demo-model: wrote ${path} (random weights: its output is noise)`);
  }
}
