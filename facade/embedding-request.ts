// POST /v1/embeddings.
import { z } from "zod";
import type { EmbeddingRequest } from "../broker/proto.js";
import { extraJson, integer, oneOf, parseBody, positive, rejectTokenIds } from "./request-schema.js";

const input = "a non-empty string or an array of non-empty strings";
const schema = z.looseObject({
  model: z.string({ error: "a non-empty string" }).min(1, { error: "a non-empty string" }),
  input: z.union([
    z.string().min(1, { error: input }),
    z.array(z.string().min(1, { error: input }), { error: input }).min(1, { error: input }).max(2048, { error: "at most 2048 inputs" }),
  ], { error: input }),
  encoding_format: oneOf(["float", "base64"]).nullish(),
  dimensions: integer(1, 65536, positive),
  user: z.string().nullish(),
});
const MODELLED = new Set(Object.keys(schema.shape));

/** @throws BrokerError 400 `invalid_request` naming the field in `param`. */
export function parseEmbeddingRequest(body: unknown): { model: string; base64: boolean; embedding: EmbeddingRequest } {
  rejectTokenIds(body, "input");
  const b = parseBody(schema, body);
  return {
    model: b.model,
    base64: b.encoding_format === "base64",
    embedding: {
      inputs: typeof b.input === "string" ? [b.input] : b.input,
      dimensions: b.dimensions ?? 0,
      user: b.user ?? "",
      extraJson: extraJson(body as Record<string, unknown>, MODELLED),
    },
  };
}
