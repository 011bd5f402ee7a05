// The options every relay engine takes; each engine's schema extends these
// with its own (e.g. openai-http's apiVersion, anthropic's anthropicVersion).
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { optionError, parseEngineOptions } from "../options.js";

const ms = z.number().int().positive();

export const relayOptions = z.strictObject({
  /** The API root; each engine documents which paths go under it. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** The model name sent upstream; default: the job's route setting, else the model id the worker serves. */
  upstreamModel: z.string().min(1).optional(),
  /** The name of an environment variable holding the upstream key. */
  apiKeyEnv: z.string().min(1).optional(),
  /** A file holding the upstream key (surrounding whitespace is ignored). */
  apiKeyFile: z.string().min(1).optional(),
  /** Extra headers for every upstream request; the engine's own win. */
  headers: z.record(z.string(), z.string()).optional(),
  connectTimeoutMs: ms.default(10_000),
  /**
   * Until the first token (which events count is the engine's to say: pings
   * do not); for a non-stream request, until the answer's headers.
   */
  firstTokenTimeoutMs: ms.default(120_000),
  /** The longest silence between two pieces of the answer. */
  idleTimeoutMs: ms.default(60_000),
});

/** What every relay engine's options hold, after defaults. */
export type RelayOptions = z.infer<typeof relayOptions>;

/** Validates `options` and reads the worker's key; throws a ConfigError naming the option. */
export async function loadRelayOptions<T extends RelayOptions>(engine: string, schema: z.ZodType<T>, options: unknown): Promise<{ opts: T; key: string }> {
  const opts = parseEngineOptions(engine, schema, options);
  return { opts, key: await readKey(engine, opts) };
}

/**
 * The worker's own upstream key, from an environment variable or a file; ""
 * when neither is set (routes whose clients bring their own key).
 */
async function readKey(engine: string, o: RelayOptions): Promise<string> {
  const fail = (path: string, message: string) => optionError(engine, path, message);
  if (o.apiKeyEnv && o.apiKeyFile) throw fail("apiKeyFile", "give apiKeyEnv or apiKeyFile, not both");
  if (o.apiKeyEnv) {
    const key = process.env[o.apiKeyEnv]?.trim();
    if (!key) throw fail("apiKeyEnv", `environment variable ${o.apiKeyEnv} is not set or empty`);
    return key;
  }
  if (!o.apiKeyFile) return "";
  const key = await readFile(o.apiKeyFile, "utf8").then(
    (text) => text.trim(),
    (err: NodeJS.ErrnoException) => {
      throw fail("apiKeyFile", `cannot read ${o.apiKeyFile}: ${err.code ?? "error"}`);
    },
  );
  if (!key) throw fail("apiKeyFile", `${o.apiKeyFile} is empty`);
  return key;
}
