// Extended thinking for the fake Anthropic server: what it answers when a
// request has `thinking` enabled (a thinking block, and a redacted_thinking
// block when the last user text holds Anthropic's documented trigger string),
// and the checks the real API makes of thinking blocks sent back in history:
// a signature must match its text, and with thinking on, the last assistant
// turn, when it used tools, must start with its thinking; no forced tool.
// https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking
import { createHash } from "node:crypto";

type Json = Record<string, unknown>;

/** The test string that makes the real API answer with a redacted_thinking block. */
export const REDACTED_THINKING_TRIGGER = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253";

/** The fake's signature of a thinking text: a changed text (or signature) no longer matches. */
export function fakeSignature(thinking: string): string {
  return `sig_${createHash("sha256").update(thinking).digest("base64url")}`;
}

/** The opaque data of the fake's redacted block. */
export const FAKE_REDACTED_DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj";

/** The thinking blocks an answer starts with: none unless the request turns thinking on. */
export function thinkingBlocks(body: { thinking?: unknown }, userText: string): Json[] {
  const type = (body.thinking as Json | undefined)?.type;
  if (type !== "enabled" && type !== "adaptive") return [];
  const thinking = `Let me think about "${userText}".`;
  const blocks: Json[] = [{ type: "thinking", thinking, signature: fakeSignature(thinking) }];
  if (userText.includes(REDACTED_THINKING_TRIGGER)) blocks.push({ type: "redacted_thinking", data: FAKE_REDACTED_DATA });
  return blocks;
}

/**
 * Streams the thinking blocks ahead of the answer's block, as the real API does: a thinking block starts
 * empty, its text follows in thinking_delta pieces, then its signature; a redacted block starts whole.
 * The first block start is followed by a ping.
 */
export async function streamThinking(blocks: Json[], send: (event: string, payload: Json) => Promise<void>): Promise<void> {
  for (const [index, b] of blocks.entries()) {
    const start = b.type === "thinking" ? { type: "thinking", thinking: "", signature: "" } : b;
    await send("content_block_start", { type: "content_block_start", index, content_block: start });
    if (index === 0) await send("ping", { type: "ping" });
    if (b.type === "thinking") {
      const text = String(b.thinking);
      const half = Math.ceil(text.length / 2);
      for (const thinking of [text.slice(0, half), text.slice(half)]) {
        await send("content_block_delta", { type: "content_block_delta", index, delta: { type: "thinking_delta", thinking } });
      }
      await send("content_block_delta", { type: "content_block_delta", index, delta: { type: "signature_delta", signature: b.signature } });
    }
    await send("content_block_stop", { type: "content_block_stop", index });
  }
}

/** What the real API refuses about thinking in a request, in its words; undefined when nothing. */
export function checkThinking(body: { thinking?: unknown; max_tokens?: number; tool_choice?: { type?: string } }, messages: Json[]): string | undefined {
  const thinking = body.thinking as Json | undefined;
  const on = thinking?.type === "enabled" || thinking?.type === "adaptive";
  if (on && (body.tool_choice?.type === "any" || body.tool_choice?.type === "tool")) return "Thinking may not be enabled when tool_choice forces tool use.";
  if (thinking?.type === "enabled" && typeof body.max_tokens === "number" && !(body.max_tokens > Number(thinking.budget_tokens))) {
    return "`max_tokens` must be greater than `thinking.budget_tokens`";
  }
  const lastAssistant = messages.findLastIndex((m) => m.role === "assistant");
  for (const [i, m] of messages.entries()) {
    const blocks = Array.isArray(m.content) ? (m.content as Json[]) : [];
    for (const [j, b] of blocks.entries()) {
      if (b.type === "thinking" && b.signature !== fakeSignature(String(b.thinking))) return `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`;
      if (b.type === "redacted_thinking" && b.data !== FAKE_REDACTED_DATA) return `messages.${i}.content.${j}: Invalid \`data\` in \`redacted_thinking\` block`;
    }
    const usesTools = blocks.some((b) => b.type === "tool_use");
    const first = blocks[0]?.type;
    if (thinking?.type === "enabled" && i === lastAssistant && usesTools && first !== "thinking" && first !== "redacted_thinking") {
      return `messages.${i}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${String(first)}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block`;
    }
  }
  return undefined;
}
