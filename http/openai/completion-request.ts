// POST /v1/completions (legacy): raw prompt text in, text out.
import { z } from "zod";
import type { CompletionRequest } from "../../contract/mod.js";
import { fields, invalid, validateCompletion, type CompletionCall, type InputLimits, type Valid } from "../../core/mod.js";
import { extraJson, openaiParam, parseBody, rejectTokenIds, samplingJson } from "./request-json.js";

const { toStop } = fields;

const prompt = "a string or an array of strings";
const schema = z.looseObject({
  ...samplingJson,
  prompt: z.union([z.string(), z.array(z.string()).min(1, { error: prompt })], { error: prompt }),
  best_of: fields.choices,
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
});
const MODELLED = new Set(Object.keys(schema.shape));

/**
 * Validates a legacy completions body. Token-array prompts are refused with a
 * clear 400: engines here take text.
 * @throws BrokerError 400 `invalid_request` naming the field in `param`.
 */
export function parseCompletionRequest(body: unknown, limits: InputLimits): Valid<CompletionCall> & { stream: boolean } {
  rejectTokenIds(body, "prompt");
  const b = parseBody(schema, body);
  const stream = b.stream ?? false;
  if (b.stream_options != null && !stream) {
    throw invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
  }
  // best_of > n asks the server to rank candidates by log probability, which no engine here reports.
  if (b.best_of != null && b.best_of !== (b.n ?? 1)) {
    throw invalid("best_of", "'best_of' is supported only when it equals 'n'.");
  }
  const completion: CompletionRequest = {
    prompts: typeof b.prompt === "string" ? [b.prompt] : b.prompt,
    n: b.n ?? 1,
    stop: toStop(b.stop),
    stream,
    includeUsage: b.stream_options?.include_usage ?? false,
    echo: b.echo ?? false,
    suffix: b.suffix ?? "",
    user: b.user ?? "",
    extraJson: extraJson(body as Record<string, unknown>, MODELLED),
  };
  if (b.max_tokens != null) completion.maxTokens = b.max_tokens;
  if (b.temperature != null) completion.temperature = b.temperature;
  if (b.top_p != null) completion.topP = b.top_p;
  if (b.seed != null) completion.seed = b.seed;
  if (b.presence_penalty != null) completion.presencePenalty = b.presence_penalty;
  if (b.frequency_penalty != null) completion.frequencyPenalty = b.frequency_penalty;
  return { ...validateCompletion({ model: b.model, completion }, openaiParam, limits), stream };
}
