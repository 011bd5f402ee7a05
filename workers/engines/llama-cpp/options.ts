// The llama-cpp engine's options and the rule that finds its model file.
import { availableParallelism } from "node:os";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import type { ConfigError } from "../../../contract/mod.js";
import { optionError as engineOptionError, parseEngineOptions } from "../options.js";

const optionsSchema = z.strictObject({
  /** The GGUF file to serve. */
  modelPath: z.string().min(1).endsWith(".gguf", "must name a .gguf file").optional(),
  /** A folder of GGUF files: the file `<model id>.gguf` in it is served (used when modelPath is not given). */
  modelsDir: z.string().min(1).optional(),
  /** GPU backend; "auto" lets node-llama-cpp pick CUDA, Vulkan or Metal when present, else the CPU. */
  gpu: z.union([z.literal("auto"), z.literal(false), z.literal("cuda"), z.literal("vulkan"), z.literal("metal")]).default("auto"),
  /** Layers offloaded to the GPU; default: as many as fit ("auto"). */
  gpuLayers: z.union([z.literal("auto"), z.literal("max"), z.number().int().nonnegative()]).optional(),
  /**
   * CPU threads for generation. With another busy process on a small machine,
   * more than one thread ran 100 times slower (DESIGN.md), hence the low cap.
   */
  threads: z.number().int().positive().default(Math.min(4, availableParallelism())),
  /** Tokens of context per sequence (prompt plus answer); memory grows with contextSize × sequences. */
  contextSize: z.number().int().min(64).default(2048),
  /** Parallel sequences in the one context: requests served at once (the worker's slots). */
  sequences: z.number().int().positive().max(64).default(4),
  /**
   * Overrides the model's own chat template: a Jinja template, or the name of
   * a node-llama-cpp chat wrapper ("chatML", "llama3.1", "mistral", ...).
   */
  chatTemplate: z.string().min(1).optional(),
  /** Serve /v1/embeddings too (a second, lazily created embedding context). */
  embeddings: z.boolean().default(true),
});

/** The llama-cpp engine's options, after defaults. */
export type LlamaCppOptions = z.infer<typeof optionsSchema>;

/** An error in one of the engine's options (also a model file that cannot be served), naming the option. */
export function optionError(path: string, message: string): ConfigError {
  return engineOptionError("llama-cpp", path, message);
}

/** Validates the options; throws optionError naming the first bad field. */
export function parseOptions(options: unknown): LlamaCppOptions {
  const opts = parseEngineOptions("llama-cpp", optionsSchema, options);
  if (!opts.modelPath && !opts.modelsDir) throw optionError("modelPath", "give modelPath or modelsDir");
  return opts;
}

/**
 * The file to load and the option it came from: `modelPath` when given, else
 * `<modelsDir>/<model id>.gguf`. The model id is a file name then, so it may
 * not climb out of the folder.
 */
export function modelFile(opts: LlamaCppOptions, model: string): { path: string; option: "modelPath" | "modelsDir" } {
  if (opts.modelPath) return { path: opts.modelPath, option: "modelPath" };
  if (!/^[\w.-]+$/.test(model) || model.startsWith(".") || isAbsolute(model)) {
    throw optionError("modelsDir", `model id "${model}" is not a plain file name, so it cannot name a file in ${opts.modelsDir}; set modelPath`);
  }
  return { path: join(opts.modelsDir ?? ".", `${model}.gguf`), option: "modelsDir" };
}
