// POST /v1/embeddings.
import { z } from "zod";
import { fields, validateEmbedding, type EmbeddingCall, type InputLimits, type Valid } from "../../core/mod.js";
import { extraJson, openaiParam, parseBody, rejectTokenIds } from "./request-json.js";

const { integer, MAX_DIMENSIONS, MAX_EMBEDDING_INPUTS, nonEmpty, oneOf, positive } = fields;

const input = "a non-empty string or an array of non-empty strings";
const schema = z.looseObject({
  model: z.string({ error: nonEmpty }).min(1, { error: nonEmpty }),
  input: z.union([
    z.string().min(1, { error: input }),
    z.array(z.string().min(1, { error: input }), { error: input }).min(1, { error: input }).max(MAX_EMBEDDING_INPUTS, { error: `at most ${MAX_EMBEDDING_INPUTS} inputs` }),
  ], { error: input }),
  encoding_format: oneOf(["float", "base64"]).nullish(),
  dimensions: integer(1, MAX_DIMENSIONS, positive),
  user: z.string().nullish(),
});
const MODELLED = new Set(Object.keys(schema.shape));

/** @throws BrokerError 400 `invalid_request` naming the field in `param`. */
export function parseEmbeddingRequest(body: unknown, limits: InputLimits): Valid<EmbeddingCall> & { base64: boolean } {
  rejectTokenIds(body, "input");
  const b = parseBody(schema, body);
  const embedding = {
    inputs: typeof b.input === "string" ? [b.input] : b.input,
    dimensions: b.dimensions ?? 0,
    user: b.user ?? "",
    extraJson: extraJson(body as Record<string, unknown>, MODELLED),
  };
  return { ...validateEmbedding({ model: b.model, embedding }, openaiParam, limits), base64: b.encoding_format === "base64" };
}
