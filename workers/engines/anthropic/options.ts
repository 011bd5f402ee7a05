// The anthropic engine's options: the relay's, plus Anthropic's own.
import { z } from "zod";
import { relayOptions } from "../relay/index.js";

export const optionsSchema = relayOptions.extend({
  /** The API root without /v1; requests go to `${baseUrl}/v1/messages`. */
  baseUrl: relayOptions.shape.baseUrl.default("https://api.anthropic.com"),
  /** The anthropic-version header. */
  anthropicVersion: z.string().min(1).default("2023-06-01"),
  /** max_tokens when the request has none: Anthropic requires it. */
  maxTokensDefault: z.number().int().positive().default(4096),
  /**
   * Serve n > 1 as n parallel upstream requests (n times the input tokens).
   * Off: such requests get a 400, since the Messages API has no `n`.
   */
  fanOutN: z.boolean().default(false),
});

/** The anthropic engine's options, after defaults. */
export type AnthropicOptions = z.infer<typeof optionsSchema>;
