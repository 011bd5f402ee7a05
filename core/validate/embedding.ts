// The canonical embedding request (the job's EmbeddingRequest), checked once
// for every front. `dimensions` 0 means the model's own size.
import { z } from "zod";
import type { EmbeddingRequest } from "../../contract/mod.js";
import { integer, jsonObject, jsonText, MAX_DIMENSIONS, MAX_EMBEDDING_INPUTS, modelName, nonEmpty } from "./fields.js";
import { check, type RenderParam } from "./issues.js";
import { checkEmbeddingLimits, type InputLimits } from "./limits.js";
import { valid, type Valid } from "./valid.js";

const inputs = "a non-empty string or an array of non-empty strings";
const request = z.looseObject({
  inputs: z
    .array(z.string().min(1, { error: nonEmpty }), { error: inputs })
    .min(1, { error: inputs })
    .max(MAX_EMBEDDING_INPUTS, { error: `at most ${MAX_EMBEDDING_INPUTS} inputs` }),
  dimensions: integer(0, MAX_DIMENSIONS, `an integer between 1 and ${MAX_DIMENSIONS} (0: the model's own)`),
  extraJson: jsonText(jsonObject, "a JSON object").nullish(),
});
const call = z.object({ model: modelName, embedding: request });

/** An embedding call: the model a client named and the job's request. */
export interface EmbeddingCall {
  model: string;
  embedding: EmbeddingRequest;
}

/** Checks the input limits, then the schema. @throws BrokerError 400 `invalid_request`, `param` rendered by the front. */
export function validateEmbedding(c: { model?: string | null | undefined; embedding?: EmbeddingRequest | null | undefined }, render: RenderParam, limits: InputLimits): Valid<EmbeddingCall> {
  checkEmbeddingLimits(c.embedding, limits, render);
  check(call, c, render);
  // The schema required both; the fallbacks only satisfy the type checker.
  return valid({ model: c.model ?? "", embedding: c.embedding ?? {} });
}
