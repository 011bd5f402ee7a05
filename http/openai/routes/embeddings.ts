import type { FastifyInstance } from "fastify";
import { parseEmbeddingRequest } from "../embedding-request.js";
import { contextOf, routeHeader, upstreamHeader, type RouteDeps } from "../respond.js";

/** Float32 little-endian bytes in base64: what the openai SDK asks for by default and decodes. */
function toBase64(values: number[]): string {
  const f = Float32Array.from(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString("base64");
}

export function registerEmbeddingRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.post("/v1/embeddings", async (req, reply) => {
    const call = parseEmbeddingRequest(req.body, deps.limits);
    const a = await deps.service.embed(call, contextOf(deps, req, reply));
    routeHeader(a, reply);
    const final = await a.final();
    upstreamHeader(reply, a, final);
    const prompt = final.usage?.promptTokens ?? 0;
    return {
      object: "list",
      data: (final.embeddings ?? []).map((e) => ({
        object: "embedding",
        index: e.index ?? 0,
        embedding: call.base64 ? toBase64(e.values ?? []) : (e.values ?? []),
      })),
      model: a.target.publicId,
      usage: { prompt_tokens: prompt, total_tokens: prompt },
    };
  });
}
