// The prompt's token count as admission charges it, before any tokenizer has
// seen it: characters / 4, OpenAI's own rule of thumb for English text. The
// real count arrives with the final chunk and reconciles the charge.
import type { JobRequest } from "../jobs/mod.js";

const CHARS_PER_TOKEN = 4;

export function estimatePromptTokens(r: JobRequest): number {
  let chars = 0;
  if ("chat" in r) {
    for (const m of r.chat.messages ?? []) {
      chars += (m.content ?? "").length;
      for (const p of m.parts ?? []) chars += (p.text ?? "").length;
      for (const c of m.toolCalls ?? []) chars += (c.arguments ?? "").length;
    }
    chars += (r.chat.toolsJson ?? "").length;
  } else if ("completion" in r) {
    for (const p of r.completion.prompts ?? []) chars += p.length;
  } else {
    for (const i of r.embedding.inputs ?? []) chars += i.length;
  }
  return Math.max(1, Math.ceil(chars / CHARS_PER_TOKEN));
}
