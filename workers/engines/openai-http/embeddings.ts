// An OpenAI embeddings answer, mapped to vectors in input order.
import { BrokerError } from "../../../contract/mod.js";
import type { EmbedResult } from "../../engine.js";
import { obj, type Caller } from "../relay/index.js";
import { streamError } from "./errors.js";

export function toEmbeddings(payload: unknown, fallbackModel: string, caller: Caller): EmbedResult {
  const { host } = caller;
  const body = obj(payload);
  if (body?.error !== undefined) throw streamError(body, caller);
  const data = Array.isArray(body?.data) ? body.data : undefined;
  if (!body || !data) throw new BrokerError("upstream_error", `the upstream at ${host} answered embeddings without data`);
  const vectors: number[][] = [];
  data.forEach((item, pos) => {
    const e = obj(item) ?? {};
    const index = typeof e.index === "number" ? e.index : pos;
    vectors[index] = decode(e.embedding, host);
  });
  const usage = obj(body.usage);
  const prompt = typeof usage?.prompt_tokens === "number" ? usage.prompt_tokens : 0;
  return { vectors, usage: { promptTokens: prompt, completionTokens: 0 }, model: typeof body.model === "string" ? body.model : fallbackModel };
}

// Servers that ignore encoding_format "float" send base64 float32 anyway.
function decode(v: unknown, host: string): number[] {
  if (Array.isArray(v) && v.every((x) => typeof x === "number")) return v as number[];
  if (typeof v === "string") {
    // Copied: a pooled Buffer's offset need not be 4-byte aligned, which Float32Array requires.
    const b = Uint8Array.from(Buffer.from(v, "base64"));
    return Array.from(new Float32Array(b.buffer, 0, Math.floor(b.byteLength / 4)));
  }
  throw new BrokerError("upstream_error", `the upstream at ${host} sent an embedding that is neither numbers nor base64`);
}
