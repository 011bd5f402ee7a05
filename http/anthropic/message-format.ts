// Anthropic's `message` object, gathered from a job's deltas for a
// non-stream request, and the mapping of the job's finish reasons.
import type { Delta, Final } from "../../contract/mod.js";

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "refusal";

/**
 * The job's OpenAI-style finish reason as Anthropic's stop_reason. The job's
 * final does not say which stop sequence ended a choice (engines report
 * "stop" for a stop sequence and for the end of the turn alike), so this
 * slice answers end_turn with stop_sequence null for both.
 */
export function stopReason(finishReason: string): StopReason {
  switch (finishReason) {
    case "length":
      return "max_tokens";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      return "end_turn";
  }
}

/** Anthropic's `usage`, from the job's final. */
export function usageOf(f: Final): { input_tokens: number; output_tokens: number } {
  return { input_tokens: f.usage?.promptTokens ?? 0, output_tokens: f.usage?.completionTokens ?? 0 };
}

/** An Anthropic `message` object (text content only in this slice). */
export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: { type: "text"; text: string }[];
  stop_reason: StopReason;
  stop_sequence: string | null;
  usage: { input_tokens: number; output_tokens: number };
}

/** Merges a job's deltas into one `message` for a non-stream request; Anthropic has no `n`, so choice 0 only. */
export class MessageAggregator {
  private text = "";
  private finishReason = "";

  reset(): void {
    this.text = "";
    this.finishReason = "";
  }

  add(items: Delta[]): void {
    for (const d of items) {
      if ((d.index ?? 0) !== 0) continue;
      if (d.content) this.text += d.content;
      if (d.finishReason) this.finishReason = d.finishReason;
    }
  }

  result(opts: { id: string; model: string; final: Final }): AnthropicMessage {
    return {
      id: opts.id,
      type: "message",
      role: "assistant",
      model: opts.model,
      content: [{ type: "text", text: this.text }],
      stop_reason: stopReason(this.finishReason),
      stop_sequence: null,
      usage: usageOf(opts.final),
    };
  }
}
