// Anthropic stream events turned into deltas. One message is one choice:
// text_delta → content, a tool_use block → one tool call (its index counts
// tool_use blocks, not content blocks), input_json_delta → argument fragments;
// thinking_delta → reasoning, signature_delta → the thinking block's signature
// (which closes it), a redacted_thinking block → its data.
// https://docs.anthropic.com/en/docs/build-with-claude/streaming
import type { Delta } from "../../../contract/mod.js";
import type { DeltaSink } from "../../engine.js";
import { cutOff, eventObject, jsonOrUndefined, obj, str, type Caller, type Json, type Served, type SseEvent, type StreamMapping } from "../relay/index.js";
import { streamError } from "./errors.js";
import { finishReason, reasoningDelta, stopOf, UsageCounter } from "./response.js";

interface ToolBlock {
  /** The tool call's index among this message's tool calls. */
  index: number;
  /** Some arguments were sent: a call without any gets "{}" at its block's end. */
  args: boolean;
}

export class StreamMapper implements StreamMapping {
  private readonly usage = new UsageCounter();
  private model: string | undefined;
  /** A token came (a content_block_delta of any kind, thinking included, or message_delta); message_start and pings are not tokens. */
  tokens = false;
  private started = false;
  /** Deltas that carried text, thinking included: the completion-token estimate when the upstream sends no usage. */
  private contentDeltas = 0;
  private finished = false;
  private readonly tools = new Map<number, ToolBlock>();
  private stop: Pick<Served, "stopReason" | "stopSequence"> = {};

  constructor(
    private readonly sink: DeltaSink,
    private readonly caller: Caller,
  ) {}

  /** Handles one event; returns true at `message_stop`. */
  accept(ev: SseEvent): boolean {
    const p = eventObject(jsonOrUndefined(ev.data), this.caller.host);
    switch (str(p.type) ?? ev.event) {
      case "message_start": {
        const message = obj(p.message);
        this.usage.read(message?.usage);
        this.model = str(message?.model) || this.model;
        break;
      }
      case "content_block_start":
        this.blockStart(blockIndex(p), obj(p.content_block) ?? {});
        break;
      case "content_block_delta":
        this.tokens = true;
        this.blockDelta(blockIndex(p), obj(p.delta) ?? {});
        break;
      case "content_block_stop":
        this.blockStop(blockIndex(p));
        break;
      case "message_delta": {
        this.tokens = true;
        this.usage.read(p.usage);
        const delta = obj(p.delta);
        const stop = str(delta?.stop_reason);
        if (stop) {
          this.stop = stopOf(stop, delta?.stop_sequence);
          this.emit({ index: 0, finishReason: finishReason(stop) });
        }
        break;
      }
      case "message_stop":
        return true;
      case "error":
        throw streamError(p, this.caller);
      // ping, and event types Anthropic adds later, which its versioning policy says to ignore.
    }
    return false;
  }

  /** The stream is over; `done`: message_stop came. Fails when the answer was cut off. */
  end(done: boolean): void {
    if (this.finished) return;
    if (!done) throw cutOff(this.caller.host);
    this.emit({ index: 0, finishReason: "stop" }); // message_stop without a stop_reason
  }

  served(): Served {
    const usage = this.usage.seen ? this.usage.usage : { ...this.usage.usage, completionTokens: this.contentDeltas };
    return { usage, ...(this.model ? { model: this.model } : {}), ...this.stop };
  }

  private blockStart(at: number, block: Json): void {
    if (block.type === "text") {
      const text = str(block.text);
      if (text) this.emit({ index: 0, content: text });
    } else if (block.type === "tool_use") {
      const tool: ToolBlock = { index: this.tools.size, args: false };
      this.tools.set(at, tool);
      // Streams start tool_use with input {}; a non-empty one is a whole input already.
      const input = obj(block.input);
      const args = input && Object.keys(input).length > 0 ? JSON.stringify(input) : "";
      tool.args = args !== "";
      this.emit({ index: 0, toolCalls: [{ index: tool.index, id: str(block.id) ?? "", type: "function", name: str(block.name) ?? "", arguments: args }] });
    } else {
      // Streams start thinking blocks empty (deltas follow); a redacted one comes whole.
      const thinking = reasoningDelta(block);
      if (thinking && (block.type === "redacted_thinking" || thinking.reasoning || thinking.reasoningSignature)) this.emit(thinking);
    }
    // Server tool blocks have no form in the job.
  }

  private blockDelta(at: number, delta: Json): void {
    if (delta.type === "text_delta") {
      const text = str(delta.text);
      if (text) this.emit({ index: 0, content: text });
    } else if (delta.type === "input_json_delta") {
      const tool = this.tools.get(at);
      const part = str(delta.partial_json);
      if (!tool || !part) return;
      tool.args = true;
      this.emit({ index: 0, toolCalls: [{ index: tool.index, id: "", type: "", name: "", arguments: part }] });
    } else if (delta.type === "thinking_delta") {
      const text = str(delta.thinking);
      if (text) this.emit({ index: 0, reasoning: text });
    } else if (delta.type === "signature_delta") {
      const signature = str(delta.signature);
      if (signature) this.emit({ index: 0, reasoningSignature: signature });
    }
  }

  private blockStop(at: number): void {
    const tool = this.tools.get(at);
    if (!tool || tool.args) return;
    tool.args = true; // a tool without parameters: "{}" parses where "" would not
    this.emit({ index: 0, toolCalls: [{ index: tool.index, id: "", type: "", name: "", arguments: "{}" }] });
  }

  private emit(d: Delta): void {
    if (this.finished) return;
    if (!this.started) {
      this.started = true;
      d.role = "assistant";
    }
    if (d.content || d.reasoning) this.contentDeltas++;
    if (d.finishReason) this.finished = true;
    this.sink.delta(d);
  }
}

function blockIndex(p: Json): number {
  return typeof p.index === "number" ? p.index : 0;
}
