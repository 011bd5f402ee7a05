// The canonical legacy completion request (the job's CompletionRequest),
// checked once for every front.
import { z } from "zod";
import type { CompletionRequest } from "../../contract/mod.js";
import { modelName, samplingShape } from "./fields.js";
import { check, type RenderParam } from "./issues.js";
import { checkCompletionLimits, type InputLimits } from "./limits.js";
import { valid, type Valid } from "./valid.js";

const prompts = "a string or an array of strings";
const request = z.looseObject({
  prompts: z.array(z.string(), { error: prompts }).min(1, { error: prompts }),
  ...samplingShape,
  suffix: z.string().nullish(),
});
const call = z.object({ model: modelName, completion: request });

/** A completion call: the model a client named and the job's request. */
export interface CompletionCall {
  model: string;
  completion: CompletionRequest;
}

/** Checks the input limits, then the schema. @throws BrokerError 400 `invalid_request`, `param` rendered by the front. */
export function validateCompletion(c: { model?: string | null | undefined; completion?: CompletionRequest | null | undefined }, render: RenderParam, limits: InputLimits): Valid<CompletionCall> {
  checkCompletionLimits(c.completion, limits, render);
  check(call, c, render);
  // The schema required both; the fallbacks only satisfy the type checker.
  return valid({ model: c.model ?? "", completion: c.completion ?? {} });
}
