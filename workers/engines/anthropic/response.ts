// A whole Anthropic `message` (non-stream answer) as one delta, and what the
// stream mapper shares with it: stop reasons and usage.
import { BrokerError, type Delta, type ToolCallDelta, type Usage } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";
import { num, obj, str, type Caller, type Served } from "../relay/index.js";
import { streamError } from "./errors.js";

/**
 * Anthropic's stop_reason as an OpenAI finish_reason. pause_turn (a server
 * tool paused a long turn) ends the answer as far as an OpenAI client can
 * tell; the exact reason travels beside it (stopOf) for the Messages front.
 */
export function finishReason(stop: string | undefined): string {
  switch (stop) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default: // end_turn, stop_sequence, pause_turn
      return "stop";
  }
}

/** What the job's final says of how the answer stopped, in Anthropic's own words. */
export function stopOf(stopReason: string | undefined, stopSequence: unknown): Pick<Served, "stopReason" | "stopSequence"> {
  const sequence = str(stopSequence);
  return { ...(stopReason ? { stopReason } : {}), ...(sequence ? { stopSequence: sequence } : {}) };
}

/**
 * Usage as Anthropic reports it: input_tokens excludes the prompt-cache
 * tokens, so prompt = input + cache_creation_input + cache_read_input.
 * Stream events carry cumulative counts: the latest value of a field wins.
 */
export class UsageCounter {
  private readonly counts: Record<string, number> = {};

  read(u: unknown): void {
    const usage = obj(u);
    if (!usage) return;
    for (const f of ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"]) {
      const v = num(usage[f]);
      if (v !== undefined) this.counts[f] = v;
    }
  }

  get seen(): boolean {
    return this.counts.output_tokens !== undefined;
  }

  get usage(): Usage {
    const c = this.counts;
    return {
      promptTokens: (c.input_tokens ?? 0) + (c.cache_creation_input_tokens ?? 0) + (c.cache_read_input_tokens ?? 0),
      completionTokens: c.output_tokens ?? 0,
    };
  }
}

/** Maps a `message` to one delta: text blocks joined, tool_use blocks as tool calls. */
export function messageToDeltas(payload: unknown, sink: DeltaSink, caller: Caller): Served {
  const msg = obj(payload);
  if (msg?.type === "error") throw streamError(msg, caller);
  if (!msg || !Array.isArray(msg.content)) {
    throw new BrokerError("upstream_error", `the upstream at ${caller.host} answered without a message`);
  }
  let content = "";
  const toolCalls: ToolCallDelta[] = [];
  for (const b of msg.content) {
    const block = obj(b) ?? {};
    // Thinking, redacted thinking and server tool blocks have no OpenAI form.
    if (block.type === "text") content += str(block.text) ?? "";
    else if (block.type === "tool_use") {
      toolCalls.push({ index: toolCalls.length, id: str(block.id) ?? "", type: "function", name: str(block.name) ?? "", arguments: JSON.stringify(block.input ?? {}) });
    }
  }
  const stop = str(msg.stop_reason);
  const d: Delta = { index: 0, role: "assistant", finishReason: finishReason(stop) };
  if (content) d.content = content;
  if (toolCalls.length) d.toolCalls = toolCalls;
  sink.delta(d);
  const usage = new UsageCounter();
  usage.read(msg.usage);
  const model = str(msg.model);
  return { usage: usage.usage, ...(model ? { model } : {}), ...stopOf(stop, msg.stop_sequence) };
}
