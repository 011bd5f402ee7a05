// Anthropic stream events turned into deltas. One message is one choice:
// text_delta → content, a tool_use block → one tool call (its index counts
// tool_use blocks, not content blocks), input_json_delta → argument fragments.
// https://docs.anthropic.com/en/docs/build-with-claude/streaming
import { BrokerError } from "../../../broker/errors.js";
import type { Delta } from "../../../broker/proto.js";
import type { DeltaSink } from "../../engine.js";
import type { SseEvent } from "../openai-http/sse.js";
import { streamError } from "./errors.js";
import { finishReason, obj, str, UsageCounter, type Json } from "./response.js";

interface ToolBlock {
  /** The tool call's index among this message's tool calls. */
  index: number;
  /** Some arguments were sent: a call without any gets "{}" at its block's end. */
  args: boolean;
}

export class StreamMapper {
  readonly usage = new UsageCounter();
  model: string | undefined;
  /** A token came (a content_block_delta of any kind, thinking included, or message_delta); message_start and pings are not tokens. */
  tokens = false;
  private started = false;
  /** Deltas that carried text: the completion-token estimate when the upstream sends no usage. */
  contentDeltas = 0;
  private finished = false;
  private readonly tools = new Map<number, ToolBlock>();

  constructor(
    private readonly sink: DeltaSink,
    private readonly host: string,
    private readonly key: string,
    private readonly clientKey: boolean,
  ) {}

  /** Handles one event; returns true at `message_stop`. */
  accept(ev: SseEvent): boolean {
    const p = this.parse(ev.data);
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
        const stop = str(obj(p.delta)?.stop_reason);
        if (stop) this.emit({ index: 0, finishReason: finishReason(stop) });
        break;
      }
      case "message_stop":
        return true;
      case "error":
        throw streamError(p, this.host, this.key, this.clientKey);
      // ping, and event types Anthropic adds later, which its versioning policy says to ignore.
    }
    return false;
  }

  /** The stream is over; `done`: message_stop came. Fails when the answer was cut off. */
  end(done: boolean): void {
    if (this.finished) return;
    if (!done) {
      throw new BrokerError("upstream_error", `the upstream at ${this.host} ended the stream before the answer was complete`, { status: 502 });
    }
    this.emit({ index: 0, finishReason: "stop" }); // message_stop without a stop_reason
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
    }
    // thinking, redacted_thinking and server tool blocks have no OpenAI form.
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
    if (d.content) this.contentDeltas++;
    if (d.finishReason) this.finished = true;
    this.sink.delta(d);
  }

  private parse(data: string): Json {
    let v: unknown;
    try {
      v = JSON.parse(data);
    } catch {
      v = undefined;
    }
    const o = obj(v);
    if (!o) throw new BrokerError("upstream_error", `the upstream at ${this.host} sent a stream event that is not a JSON object`, { status: 502 });
    return o;
  }
}

function blockIndex(p: Json): number {
  return typeof p.index === "number" ? p.index : 0;
}
