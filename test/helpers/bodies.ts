// The JSON bodies the gateway answers with, typed for tests: OpenAI's own types
// (from the `openai` package) for the OpenAI-shaped ones, ours for the rest.
import assert from "node:assert/strict";
import type OpenAI from "openai";

/** Our one error shape, on every HTTP route. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An SSE event read only for the error that may end the stream. */
export type MaybeErrorEvent = Partial<ErrorBody>;

/** `/v1/embeddings` with `encoding_format: "base64"`: each vector is base64 of its float32 bytes. */
export interface Base64EmbeddingResponse extends Omit<OpenAI.CreateEmbeddingResponse, "data"> {
  data: (Omit<OpenAI.Embedding, "embedding"> & { embedding: string })[];
}

/** `GET /v1/models`. */
export interface ModelList {
  object: "list";
  data: OpenAI.Model[];
}

/** `GET /readyz`: 200 when ready, 503 with a reason when not. */
export interface ReadyBody {
  status: "ready" | "not_ready";
  reason?: string;
  workers: number;
  models: string[];
}

/** The item at `index`; fails the test when there is none. */
export function nth<T>(items: readonly T[], index = 0): T {
  const item = items[index];
  assert.ok(item !== undefined, `no item ${index} among ${items.length}`);
  return item;
}

/** The last item; fails the test when there is none. */
export function last<T>(items: readonly T[]): T {
  return nth(items, items.length - 1);
}

/** The usage of a body or chunk; fails the test when it has none. */
export function usageOf<U>(body: { usage?: U | null | undefined }): U {
  const { usage } = body;
  assert.ok(usage !== undefined && usage !== null, `no usage in ${JSON.stringify(body)}`);
  return usage;
}

/** The message text of one choice of a chat.completion; fails the test when it has none. */
export function messageText(body: OpenAI.ChatCompletion, index = 0): string {
  const content = body.choices[index]?.message.content;
  assert.ok(typeof content === "string", `no text in choice ${index}: ${JSON.stringify(body)}`);
  return content;
}

/** One field of a JSON value read as `unknown`: undefined when the value is not an object. */
export function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}
