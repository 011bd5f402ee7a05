// Engine options, for every engine: one strict zod schema per engine, parsed
// once when the worker builds it, with errors that name the option.
import type { z } from "zod";
import { ConfigError } from "../../contract/mod.js";

/** An error in one of `engine`'s options, naming the option (`path`). */
/** A startup mistake: a ConfigError, printed as a one-line message by the CLI. */
export function optionError(engine: string, path: string, message: string): ConfigError {
  return new ConfigError(`${engine} engine: option ${path}: ${message}`);
}

/** Validates `options` with `schema`; throws optionError naming the first bad field. */
export function parseEngineOptions<T>(engine: string, schema: z.ZodType<T>, options: unknown): T {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  // An unknown field has an empty path: its name is in `keys`.
  const path = issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : issue?.path.join(".");
  throw optionError(engine, path || "(root)", issue?.message ?? "invalid");
}
