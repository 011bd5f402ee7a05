// The anthropic engine's options: one strict zod schema, errors that name the option.
import { z } from "zod";
import { BrokerError } from "../../../broker/errors.js";
import { readKey as readUpstreamKey } from "../http-upstream.js";

const ms = z.number().int().positive();
const optionsSchema = z.strictObject({
  /** The API root without /v1; requests go to `${baseUrl}/v1/messages`. */
  baseUrl: z.url({ protocol: /^https?$/ }).default("https://api.anthropic.com"),
  /** The model name sent upstream; default: the job's route setting, else the model id the worker serves. */
  upstreamModel: z.string().min(1).optional(),
  /** The name of an environment variable holding the Anthropic key (sent as x-api-key). */
  apiKeyEnv: z.string().min(1).optional(),
  /** A file holding the key (surrounding whitespace is ignored). */
  apiKeyFile: z.string().min(1).optional(),
  /** The anthropic-version header. */
  anthropicVersion: z.string().min(1).default("2023-06-01"),
  /** max_tokens when the request has none: Anthropic requires it. */
  maxTokensDefault: z.number().int().positive().default(4096),
  /** Extra headers for every upstream request (e.g. anthropic-beta); the engine's own win. */
  headers: z.record(z.string(), z.string()).optional(),
  /**
   * Serve n > 1 as n parallel upstream requests (n times the input tokens).
   * Off: such requests get a 400, since the Messages API has no `n`.
   */
  fanOutN: z.boolean().default(false),
  connectTimeoutMs: ms.default(10_000),
  /** Until the first token, thinking included (pings and message_start do not count); for a non-stream request, until the answer's headers. */
  firstTokenTimeoutMs: ms.default(120_000),
  /** The longest silence between two pieces of the answer. */
  idleTimeoutMs: ms.default(60_000),
});

/** The anthropic engine's options, after defaults. */
export type AnthropicOptions = z.infer<typeof optionsSchema>;

/** Validates the options; throws BrokerError("invalid_request") naming the bad option. */
export function parseOptions(options: unknown): AnthropicOptions {
  const parsed = optionsSchema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : issue?.path.join(".");
  throw optionError(path || "(root)", issue?.message ?? "invalid");
}

/** The worker's own key, from apiKeyEnv or apiKeyFile; "" when neither is set (passthrough-only routes). */
export function readKey(o: AnthropicOptions): Promise<string> {
  return readUpstreamKey(o, optionError);
}

function optionError(path: string, message: string): BrokerError {
  return new BrokerError("invalid_request", `anthropic engine: option ${path}: ${message}`);
}
