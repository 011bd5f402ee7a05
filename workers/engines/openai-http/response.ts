// A whole OpenAI answer (chat.completion or text_completion) as one delta per
// choice, and what the stream mapper shares with it: deltas, tool calls, and
// what the upstream says about the run.
import { BrokerError, type Delta, type ToolCallDelta } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";
import { num, obj, str, type Caller, type Json, type Served } from "../relay/index.js";
import { streamError } from "./errors.js";

/** Maps a `chat.completion` (or with `text`, a `text_completion`) to one delta per choice. */
export function completionToDeltas(payload: unknown, sink: DeltaSink, caller: Caller, text = false): Served {
  const body = obj(payload);
  if (body?.error !== undefined) throw streamError(body, caller);
  const choices = Array.isArray(body?.choices) ? body.choices : [];
  if (!body || choices.length === 0) {
    throw new BrokerError("upstream_error", `the upstream at ${caller.host} answered without choices`);
  }
  choices.forEach((c, pos) => {
    const choice = obj(c) ?? {};
    const m = text ? { content: choice.text } : (obj(choice.message) ?? {});
    const d = toDelta(num(choice.index) ?? pos, m, str(choice.finish_reason) || "stop");
    if (!text) d.role ||= "assistant"; // legacy completion deltas carry no role (the engine contract)
    sink.delta(d);
  });
  const served: Partial<Served> = {};
  readServed(body, served);
  for (const c of choices) readStopSequence(obj(c) ?? {}, served);
  return { ...served, usage: served.usage ?? { promptTokens: 0, completionTokens: 0 } };
}

/** An OpenAI delta (stream) or message (non-stream): the same fields either way. */
export function toDelta(index: number, m: Json, finishReason: unknown): Delta {
  const d: Delta = { index };
  const role = str(m.role);
  if (role) d.role = role;
  const content = str(m.content);
  if (content) d.content = content;
  const refusal = str(m.refusal);
  if (refusal) d.refusal = refusal;
  if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) d.toolCalls = m.tool_calls.map(toToolCall);
  const finish = str(finishReason);
  if (finish) d.finishReason = finish;
  return d;
}

// Stream fragments carry `index` and give id, type and name only on a call's first fragment.
function toToolCall(v: unknown, pos: number): ToolCallDelta {
  const tc = obj(v) ?? {};
  const fn = obj(tc.function) ?? {};
  return {
    index: num(tc.index) ?? pos,
    id: str(tc.id) ?? "",
    type: str(tc.type) ?? "",
    name: str(fn.name) ?? "",
    arguments: str(fn.arguments) ?? "",
  };
}

/**
 * vLLM (not OpenAI) names the stop string that ended a choice in its
 * `stop_reason` (a number there is a stop token id, not a sequence); the
 * job's final carries choice 0's.
 */
export function readStopSequence(choice: Json, served: Partial<Served>): void {
  const stop = str(choice.stop_reason);
  if (stop && (num(choice.index) ?? 0) === 0) served.stopSequence = stop;
}

/** Model, system fingerprint and usage, from any chunk or answer that carries them. */
export function readServed(p: Json, served: Partial<Served>): void {
  const model = str(p.model);
  if (model) served.model = model;
  const fp = str(p.system_fingerprint);
  if (fp) served.systemFingerprint = fp;
  const usage = obj(p.usage);
  if (usage) served.usage = { promptTokens: num(usage.prompt_tokens) ?? 0, completionTokens: num(usage.completion_tokens) ?? 0 };
}
