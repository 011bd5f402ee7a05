// Anthropic's `message` object, gathered from a job's deltas for a
// non-stream request, and what the stream shares with it: stop reasons,
// tool_use ids and inputs, usage.
import type { Delta, Final } from "../../contract/mod.js";

const STOP_REASONS = ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"] as const;
export type StopReason = (typeof STOP_REASONS)[number];
const isStopReason = (s: string): s is StopReason => (STOP_REASONS as readonly string[]).includes(s);

/** The message's stop_reason and stop_sequence. */
export interface Stop {
  stop_reason: StopReason;
  stop_sequence: string | null;
}

/**
 * How the answer stopped, in Anthropic's words. An engine whose upstream
 * speaks Anthropic's API says it exactly (the final's stop_reason); else a
 * stop sequence the engine names, else the job's OpenAI-style finish reason.
 */
export function stopOf(finishReason: string, f: Final): Stop {
  const sequence = f.stopSequence || null;
  if (f.stopReason && isStopReason(f.stopReason)) {
    return { stop_reason: f.stopReason, stop_sequence: f.stopReason === "stop_sequence" ? sequence : null };
  }
  switch (finishReason) {
    case "length":
      return { stop_reason: "max_tokens", stop_sequence: null };
    case "tool_calls":
    case "function_call":
      return { stop_reason: "tool_use", stop_sequence: null };
    case "content_filter":
      return { stop_reason: "refusal", stop_sequence: null };
    default:
      return sequence ? { stop_reason: "stop_sequence", stop_sequence: sequence } : { stop_reason: "end_turn", stop_sequence: null };
  }
}

/**
 * A tool call's id as a tool_use id. One that already reads `toolu_…` (an
 * Anthropic upstream's) is kept; others get the prefix, and come back in the
 * client's tool_use and tool_result blocks as given, so both turns name a
 * call alike. Anthropic allows only [A-Za-z0-9_-] in ids.
 */
export function toolUseId(id: string, fallback: string): string {
  if (!id) return `toolu_${fallback}`;
  return id.startsWith("toolu_") ? id : `toolu_${id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** A tool call's JSON arguments as tool_use `input`, which must be an object; "" (no arguments) is {}. */
export function inputOf(args: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(args || "{}");
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // An engine that emitted broken JSON: the block still needs an object.
  }
  return {};
}

/** Anthropic's `usage`, from the job's final. */
export function usageOf(f: Final): { input_tokens: number; output_tokens: number } {
  return { input_tokens: f.usage?.promptTokens ?? 0, output_tokens: f.usage?.completionTokens ?? 0 };
}

export type ContentBlock =
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "redacted_thinking"; data: string }
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

/** An Anthropic `message` object. */
export interface AnthropicMessage extends Stop {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ContentBlock[];
  usage: { input_tokens: number; output_tokens: number };
}

// A thinking block is open until its signature comes (the engine sends it once, at the block's end).
type Gathered =
  | Extract<ContentBlock, { type: "text" | "thinking" | "redacted_thinking" }>
  | { type: "tool"; id: string; name: string; args: string };

/**
 * Merges a job's deltas into one `message` for a non-stream request, blocks
 * (thinking, redacted_thinking, text, tool_use) in the order the engine
 * produced them; Anthropic has no `n`, so choice 0 only.
 */
export class MessageAggregator {
  private blocks: Gathered[] = [];
  private readonly tools = new Map<number, Extract<Gathered, { type: "tool" }>>();
  private finishReason = "";

  reset(): void {
    this.blocks = [];
    this.tools.clear();
    this.finishReason = "";
  }

  add(items: Delta[]): void {
    for (const d of items) {
      if ((d.index ?? 0) !== 0) continue;
      if (d.reasoning || d.reasoningSignature) {
        let thinking = this.blocks.at(-1);
        if (thinking?.type !== "thinking" || thinking.signature) this.blocks.push(thinking = { type: "thinking", thinking: "", signature: "" });
        thinking.thinking += d.reasoning ?? "";
        thinking.signature = d.reasoningSignature ?? "";
      }
      if (d.redactedReasoning) this.blocks.push({ type: "redacted_thinking", data: d.redactedReasoning });
      // An upstream's refusal text is what the model said; Anthropic has no separate field for it.
      const text = (d.content ?? "") + (d.refusal ?? "");
      if (text) {
        const last = this.blocks.at(-1);
        if (last?.type === "text") last.text += text;
        else this.blocks.push({ type: "text", text });
      }
      for (const c of d.toolCalls ?? []) {
        let tool = this.tools.get(c.index ?? 0);
        if (!tool) {
          tool = { type: "tool", id: "", name: "", args: "" };
          this.tools.set(c.index ?? 0, tool);
          this.blocks.push(tool);
        }
        tool.id ||= c.id ?? "";
        tool.name ||= c.name ?? "";
        tool.args += c.arguments ?? "";
      }
      if (d.finishReason) this.finishReason = d.finishReason;
    }
  }

  result(opts: { id: string; model: string; final: Final }): AnthropicMessage {
    let calls = 0;
    const content = this.blocks.map((b): ContentBlock => b.type !== "tool"
      ? b
      : { type: "tool_use", id: toolUseId(b.id, `${opts.id.replace(/^msg_/, "")}_${calls++}`), name: b.name, input: inputOf(b.args) });
    return {
      id: opts.id,
      type: "message",
      role: "assistant",
      model: opts.model,
      // An empty answer is one empty text block, as Anthropic sends it.
      content: content.length > 0 ? content : [{ type: "text", text: "" }],
      ...stopOf(this.finishReason, opts.final),
      usage: usageOf(opts.final),
    };
  }
}
