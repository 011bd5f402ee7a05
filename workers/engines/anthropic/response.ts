// A whole Anthropic `message` (non-stream answer) as deltas, and what the
// stream mapper shares with it: stop reasons and usage.
import { BrokerError, type Delta, type Usage } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";
import { num, obj, str, type Caller, type Json, type Served } from "../relay/index.js";
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

/**
 * Maps a `message` to deltas: text blocks joined and tool_use blocks as tool calls in one delta, each
 * thinking or redacted_thinking block a delta of its own ahead of it, in the message's order (a thinking
 * block between tool calls, interleaved thinking, splits that delta in two).
 */
export function messageToDeltas(payload: unknown, sink: DeltaSink, caller: Caller): Served {
  const msg = obj(payload);
  if (msg?.type === "error") throw streamError(msg, caller);
  if (!msg || !Array.isArray(msg.content)) {
    throw new BrokerError("upstream_error", `the upstream at ${caller.host} answered without a message`);
  }
  const out: Delta[] = [];
  let pending: Delta | undefined;
  let calls = 0;
  for (const b of msg.content) {
    const block = obj(b) ?? {};
    const thinking = reasoningDelta(block);
    if (thinking) {
      if (pending) out.push(pending);
      pending = undefined;
      out.push(thinking);
    } else if (block.type === "text" && str(block.text)) {
      pending ??= { index: 0 };
      pending.content = (pending.content ?? "") + str(block.text);
    } else if (block.type === "tool_use") {
      pending ??= { index: 0 };
      (pending.toolCalls ??= []).push({ index: calls++, id: str(block.id) ?? "", type: "function", name: str(block.name) ?? "", arguments: JSON.stringify(block.input ?? {}) });
    }
    // Server tool blocks have no form in the job.
  }
  const stop = str(msg.stop_reason);
  const last: Delta = pending ?? { index: 0 };
  last.finishReason = finishReason(stop);
  out.push(last);
  out[0]!.role = "assistant";
  for (const d of out) sink.delta(d);
  const usage = new UsageCounter();
  usage.read(msg.usage);
  const model = str(msg.model);
  return { usage: usage.usage, ...(model ? { model } : {}), ...stopOf(stop, msg.stop_sequence) };
}

/** A whole thinking block (text and signature) or redacted_thinking block as one delta; undefined for others. */
export function reasoningDelta(block: Json): Delta | undefined {
  if (block.type === "thinking") return { index: 0, reasoning: str(block.thinking) ?? "", reasoningSignature: str(block.signature) ?? "" };
  if (block.type === "redacted_thinking") return { index: 0, redactedReasoning: str(block.data) ?? "" };
  return undefined;
}
