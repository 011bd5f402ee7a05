// The canonical legacy completion request (the job's CompletionRequest),
// checked once for every front.
import { z } from "zod";
import type { CompletionRequest } from "../../broker/mod.js";
import { choices, jsonObject, jsonText, maxTokens, nonEmpty, penalty, seed, stopList, temperature, topP } from "./fields.js";
import { check, type RenderParam } from "./issues.js";
import { valid, type Valid } from "./valid.js";

const prompts = "a string or an array of strings";
const request = z.looseObject({
  prompts: z.array(z.string(), { error: prompts }).min(1, { error: prompts }),
  n: choices,
  stop: stopList.nullish(),
  maxTokens,
  temperature,
  topP,
  seed,
  presencePenalty: penalty,
  frequencyPenalty: penalty,
  suffix: z.string().nullish(),
  extraJson: jsonText(jsonObject, "a JSON object").nullish(),
});
const call = z.object({ model: z.string({ error: nonEmpty }).min(1, { error: nonEmpty }), completion: request });

/** A completion call: the model a client named and the job's request. */
export interface CompletionCall {
  model: string;
  completion: CompletionRequest;
}

/** @throws BrokerError 400 `invalid_request`, `param` rendered by the front. */
export function validateCompletion(c: { model?: string | null | undefined; completion?: CompletionRequest | null | undefined }, render: RenderParam): Valid<CompletionCall> {
  check(call, c, render);
  // The schema required both; the fallbacks only satisfy the type checker.
  return valid({ model: c.model ?? "", completion: c.completion ?? {} });
}
