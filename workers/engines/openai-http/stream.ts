// OpenAI stream events turned into deltas, keeping the engine contract even
// when a server is sloppy about it: every choice's first delta has a role and
// its last one a finish reason.
import type { DeltaSink } from "../../engine.js";
import { cutOff, eventObject, jsonOrUndefined, num, obj, type Caller, type Json, type Served, type SseEvent, type StreamMapping } from "../relay/index.js";
import { streamError } from "./errors.js";
import { readServed, readStopSequence, toDelta } from "./response.js";

/**
 * Maps `chat.completion.chunk` events to deltas, or with `text` set the
 * legacy `text_completion` events (whose choices carry `text`, not `delta`).
 */
export class StreamMapper implements StreamMapping {
  /** Any event ends the first-token phase: OpenAI-compatible servers send no keep-alive events. */
  tokens = false;
  private readonly info: Partial<Served> = {};
  /** Chunks that carried text: the completion-token estimate when the upstream sends no usage. */
  private contentChunks = 0;
  private readonly started = new Set<number>();
  private readonly finished = new Set<number>();

  constructor(
    private readonly sink: DeltaSink,
    private readonly caller: Caller,
    private readonly text = false,
  ) {}

  /** Handles one event; returns true at `[DONE]`. */
  accept(ev: SseEvent): boolean {
    this.tokens = true;
    const data = ev.data.trim();
    if (data === "[DONE]") return true;
    for (const payload of parseEvent(data, this.caller.host)) {
      if (payload.error !== undefined || ev.event === "error") throw streamError(payload, this.caller);
      readServed(payload, this.info);
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
    if (this.started.size === 0 || (!done && open.length > 0)) throw cutOff(this.caller.host);
    for (const index of open) this.sink.delta({ index, finishReason: "stop" });
  }

  served(): Served {
    return { ...this.info, usage: this.info.usage ?? { promptTokens: 0, completionTokens: this.contentChunks } };
  }

  private choice(c: Json): void {
    const index = num(c.index) ?? 0;
    if (this.finished.has(index)) return;
    readStopSequence(c, this.info);
    const d = toDelta(index, this.text ? { content: c.text } : (obj(c.delta) ?? {}), c.finish_reason);
    if (this.started.has(index)) delete d.role; // only a choice's first delta carries it
    if (!d.role && !d.content && !d.toolCalls && !d.refusal && !d.finishReason) return;
    if (!this.started.has(index)) {
      this.started.add(index);
      if (!this.text) d.role ||= "assistant"; // legacy completion deltas carry no role (the engine contract)
    }
    if (d.content) this.contentChunks++;
    if (d.finishReason) this.finished.add(index);
    this.sink.delta(d);
  }
}

// Some servers put several JSON objects in one event, one per data line, instead of one event each.
function parseEvent(data: string, host: string): Json[] {
  const whole = jsonOrUndefined(data);
  if (whole !== undefined || !data.includes("\n")) return [eventObject(whole, host)];
  return data.split("\n").filter((l) => l.trim() !== "").map((l) => eventObject(jsonOrUndefined(l), host));
}
