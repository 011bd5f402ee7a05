import type { FastifyInstance } from "fastify";
import { parseEmbeddingRequest } from "../embedding-request.js";
import { finalOf, open, type RouteDeps } from "../respond.js";

/** Float32 little-endian bytes in base64: what the openai SDK asks for by default and decodes. */
function toBase64(values: number[]): string {
  const f = Float32Array.from(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString("base64");
}

export function registerEmbeddingRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/embeddings", async (req, reply) => {
    const { model, base64, embedding } = parseEmbeddingRequest(req.body);
    const o = await open(deps, req, reply, model, { embedding }, "emb-");
    const final = await finalOf(o, reply);
    const prompt = final.usage?.promptTokens ?? 0;
    return {
      object: "list",
      data: (final.embeddings ?? []).map((e) => ({
        object: "embedding",
        index: e.index ?? 0,
        embedding: base64 ? toBase64(e.values ?? []) : (e.values ?? []),
      })),
      model: o.target.publicId,
      usage: { prompt_tokens: prompt, total_tokens: prompt },
    };
  });
}
