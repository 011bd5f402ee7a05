// Upstream answers (stream chunks or a whole completion) turned into deltas,
// keeping the engine contract even when a server is sloppy about it: every
// choice's first delta has a role and its last one a finish reason.
import { BrokerError } from "../../../broker/errors.js";
import type { Delta, ToolCallDelta, Usage } from "../../../broker/proto.js";
import type { DeltaSink } from "../../engine.js";
import { streamError } from "./errors.js";
import type { SseEvent } from "./sse.js";

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** What the upstream said about the run besides the text. */
export interface Served {
  usage?: Usage;
  model?: string;
  systemFingerprint?: string;
}

/**
 * Maps `chat.completion.chunk` events to deltas, or with `text` set the
 * legacy `text_completion` events (whose choices carry `text`, not `delta`).
 */
export class StreamMapper {
  readonly served: Served = {};
  /** Chunks that carried text: the completion-token estimate when the upstream sends no usage. */
  contentChunks = 0;
  private readonly started = new Set<number>();
  private readonly finished = new Set<number>();

  constructor(
    private readonly sink: DeltaSink,
    private readonly host: string,
    private readonly key: string,
    private readonly text = false,
  ) {}

  /** Handles one event; returns true at `[DONE]`. */
  accept(ev: SseEvent): boolean {
    const data = ev.data.trim();
    if (data === "[DONE]") return true;
    for (const payload of parseEvent(data, this.host)) {
      if (payload.error !== undefined || ev.event === "error") throw streamError(payload, this.host, this.key);
      readServed(payload, this.served);
      if (!Array.isArray(payload.choices)) continue;
      for (const c of payload.choices) {
        const choice = obj(c);
        if (choice) this.choice(choice);
      }
    }
    return false;
  }

  /** The stream is over; `done`: `[DONE]` came. Closes open choices, or fails when the answer was cut off. */
  end(done: boolean): void {
    const open = [...this.started].filter((i) => !this.finished.has(i));
    if (this.started.size === 0 || (!done && open.length > 0)) {
      throw new BrokerError("upstream_error", `the upstream at ${this.host} ended the stream before the answer was complete`, { status: 502 });
    }
    for (const index of open) this.sink.delta({ index, finishReason: "stop" });
  }

  private choice(c: Json): void {
    const index = num(c.index) ?? 0;
    if (this.finished.has(index)) return;
    const d = toDelta(index, this.text ? { content: c.text } : (obj(c.delta) ?? {}), str(c.finish_reason));
    if (this.started.has(index)) delete d.role; // only a choice's first delta carries it
    if (!d.role && !d.content && !d.toolCalls && !d.refusal && !d.finishReason) return;
    if (!this.started.has(index)) {
      this.started.add(index);
      d.role ||= "assistant";
    }
    if (d.content) this.contentChunks++;
    if (d.finishReason) this.finished.add(index);
    this.sink.delta(d);
  }
}

/** Maps a `chat.completion` (or with `text`, a `text_completion`) to one delta per choice. */
export function completionToDeltas(payload: unknown, sink: DeltaSink, host: string, key: string, text = false): Served {
  const body = obj(payload);
  if (body?.error !== undefined) throw streamError(body, host, key);
  const choices = Array.isArray(body?.choices) ? body.choices : [];
  if (!body || choices.length === 0) {
    throw new BrokerError("upstream_error", `the upstream at ${host} answered without choices`, { status: 502 });
  }
  choices.forEach((c, pos) => {
    const choice = obj(c) ?? {};
    const m = text ? { content: choice.text } : (obj(choice.message) ?? {});
    const d = toDelta(num(choice.index) ?? pos, m, str(choice.finish_reason) || "stop");
    d.role ||= "assistant";
    sink.delta(d);
  });
  const served: Served = {};
  readServed(body, served);
  return served;
}

// An OpenAI delta (stream) or message (non-stream): the same fields either way.
function toDelta(index: number, m: Json, finishReason: string | undefined): Delta {
  const d: Delta = { index };
  const role = str(m.role);
  if (role) d.role = role;
  const content = str(m.content);
  if (content) d.content = content;
  const refusal = str(m.refusal);
  if (refusal) d.refusal = refusal;
  if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) d.toolCalls = m.tool_calls.map(toToolCall);
  if (finishReason) d.finishReason = finishReason;
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

function readServed(p: Json, served: Served): void {
  const model = str(p.model);
  if (model) served.model = model;
  const fp = str(p.system_fingerprint);
  if (fp) served.systemFingerprint = fp;
  const usage = obj(p.usage);
  if (usage) served.usage = { promptTokens: num(usage.prompt_tokens) ?? 0, completionTokens: num(usage.completion_tokens) ?? 0 };
}

// Some servers put several JSON objects in one event, one per data line, instead of one event each.
function parseEvent(data: string, host: string): Json[] {
  try {
    return [asObject(JSON.parse(data), host)];
  } catch (err) {
    if (err instanceof BrokerError || !data.includes("\n")) throw unreadable(host);
    return data.split("\n").filter((l) => l.trim() !== "").map((l) => parseEvent(l, host)[0]!);
  }
}

function asObject(v: unknown, host: string): Json {
  const o = obj(v);
  if (!o) throw unreadable(host);
  return o;
}

function unreadable(host: string): BrokerError {
  return new BrokerError("upstream_error", `the upstream at ${host} sent a stream event that is not a JSON object`, { status: 502 });
}
