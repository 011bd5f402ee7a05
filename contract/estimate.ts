// A prompt's token count before any tokenizer has seen it: characters / 4,
// OpenAI's own rule of thumb for English text. Admission charges it (the real
// count arrives with the final chunk and reconciles the charge), and a worker
// whose engine has no tokenizer answers a token count with it. One rule, here,
// so that both agree.
import type { JobInit } from "./proto.js";

const CHARS_PER_TOKEN = 4;

/** The request fields of a job (or of a request about to become one): exactly one is set. */
export type JobKinds = Pick<JobInit, "chat" | "completion" | "embedding" | "countTokens">;

export function estimatePromptTokens(r: JobKinds): number {
  let chars = 0;
  const chat = r.chat ?? r.countTokens?.chat;
  if (chat) {
    for (const m of chat.messages ?? []) {
      chars += (m.content ?? "").length;
      for (const p of m.parts ?? []) chars += (p.text ?? "").length;
      for (const c of m.toolCalls ?? []) chars += (c.arguments ?? "").length;
    }
    chars += (chat.toolsJson ?? "").length;
  } else if (r.completion) {
    for (const p of r.completion.prompts ?? []) chars += p.length;
  } else {
    for (const i of r.embedding?.inputs ?? []) chars += i.length;
  }
  return Math.max(1, Math.ceil(chars / CHARS_PER_TOKEN));
}
